import { join, resolve } from "node:path";
import { UnsafePathError } from "../../errors.ts";
import { Layout } from "../../protocol/layout.ts";
import { listenerPath } from "../../protocol/names.ts";
import type { Listener } from "../../protocol/listener_id.ts";
import { isAlreadyExists, isNotFound, lockFile, type RegularFileRead } from "./_fs.ts";
import { type Build, type Delivered, Deliverer } from "./_delivery.ts";
import { maxSequence } from "./_numbering.ts";
import { ListenerLookup } from "./_listener_lookup.ts";
import { TaskFiles } from "./_task_files.ts";
import type { Claim, InboxListing, ListenerRef, LockWaitOptions, StateDir, StoreHost, TaskDir } from "./_types.ts";

export { LOCK_FREE_MARGIN, MAX_SEQUENCE, PartialDeliveryError, SLICE_LIMIT } from "./_delivery.ts";
export type { Build, Delivered } from "./_delivery.ts";
export type { Claim, Destination, InboxListing, ListenerRef, LockWaitOptions, StateDir, TaskDir } from "./_types.ts";
/** What {@linkcode FileStore.readTask} found. */
export type { RegularFileRead as TaskRead } from "./_fs.ts";

/** Options of {@linkcode FileStore}. */
export interface FileStoreOptions {
  /**
   * Flush files and directories to disk before a write is reported done.
   * @default {true}
   */
  durable?: boolean;
  /**
   * How `deliver()` waits for a listener's dispatch lock: its signal,
   * `timeoutMs` and `onWait` (see `lockFile()`).
   * @default {{}} (no signal, no bound, a notice on stderr after a second)
   */
  dispatchLockWait?: LockWaitOptions;
}

/**
 * The event root on a local or network file system: the only module that
 * touches task files. Dispatcher and runner go through it, so another
 * backend (a broker) can stand in its place later.
 */
export class FileStore {
  /** The absolute root path. */
  readonly root: string;
  readonly #durable: boolean;
  readonly #dispatchLockWait: LockWaitOptions;
  readonly #checked = new Set<string>();
  /** Lock files already checked not to be links. */
  readonly #lockFiles = new Set<string>();
  readonly #deliverer: Deliverer;
  readonly #files: TaskFiles;
  readonly #lookup: ListenerLookup;
  readonly #tmpPrefix = `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  #tmpCounter = 0;

  constructor(root: string, options: FileStoreOptions = {}) {
    this.root = resolve(root);
    this.#durable = options.durable ?? true;
    this.#dispatchLockWait = options.dispatchLockWait ?? {};
    const host: StoreHost = {
      durable: this.#durable,
      dispatchLockWait: this.#dispatchLockWait,
      lockFiles: this.#lockFiles,
      tmpPath: (dir, kind) => this.#tmpPath(dir, kind),
      checkListener: (listener) => this.#checkListener(listener),
      uncheck: (listener) => void this.#checked.delete(listener.dir),
      ensureDir: (path) => void this.#ensureDir(path),
      ensureStateDir: (listener, dir) => this.ensureStateDir(listener, dir),
    };
    this.#deliverer = new Deliverer(host);
    this.#files = new TaskFiles(host);
    this.#lookup = new ListenerLookup(this.root);
  }

  /** A fresh staging path in `<dir>/tmp/`; `dir` is a listener's (absolute, normalized) directory. */
  #tmpPath(dir: string, kind: string): string {
    return `${dir}/${Layout.TMP}/${kind}.${this.#tmpPrefix}.${++this.#tmpCounter}.tmp`;
  }

  /** Throws when the root does not exist or is not a directory. */
  checkRoot(): void {
    this.#statRoot();
  }

  /** The root's stat (a link followed), or an error when it does not exist or is not a directory. */
  #statRoot(): Deno.FileInfo {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(this.root);
    } catch (error) {
      if (isNotFound(error)) {
        throw new UnsafePathError(
          this.root,
          "the event root does not exist; create it, or run a handler once (`hurah run`) to register it",
          { atRoot: true },
        );
      }
      throw error;
    }
    if (!info.isDirectory) throw new UnsafePathError(this.root, "the event root is not a directory", { atRoot: true });
    return info;
  }

  /**
   * Every listener that a dispatch of an event type reaches, deepest level
   * first, given the type's checked segments (`parseEventType`). Creates no
   * directory (PHP's dispatcher creates the type's). Throws before anything is delivered when
   * a link or a file stands where a directory should be. The levels' listings are kept and used again while one
   * stat of each level's directory shows it unchanged (see `ListenerLookup`).
   */
  listenersFor(segments: readonly string[]): ListenerRef[] {
    const { listeners, listed } = this.#lookup.listenersFor(segments, () => this.#statRoot());
    if (listed) {
      // A listener directory removed and made again since the last look is checked again, and its new
      // dispatch.lock opened.
      for (const listener of listeners) {
        this.#checked.delete(listener.dir);
        this.#deliverer.forget(listener.dir);
      }
    }
    // Check every listener before the first delivery, so that a bad one stops the dispatch before it starts.
    for (const listener of listeners) this.#checkListener(listener);
    return listeners;
  }

  /**
   * Creates a listener's directories (the root too) if needed and returns
   * it. Refuses links anywhere on the way.
   */
  register(listener: Listener): ListenerRef & { created: boolean } {
    const relative = listenerPath(listener.name, listener.eventType).split("/");
    try {
      Deno.mkdirSync(this.root, { recursive: true });
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
      this.checkRoot(); // a file stands there: say so
      throw error;
    }
    let dir = this.root;
    let created = false;
    for (const part of relative) {
      dir = join(dir, part);
      created = this.#ensureDir(dir);
    }
    const ref = { name: listener.name, eventType: listener.eventType, id: listener.id, dir };
    this.#checkListener(ref);
    return { ...ref, created };
  }

  /** Creates a directory if needed (true when it did), refusing a link or a file in its place. */
  #ensureDir(path: string): boolean {
    try {
      Deno.mkdirSync(path);
      return true;
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
    }
    this.#ensureExistingDir(path);
    return false;
  }

  #checkListener(listener: ListenerRef): void {
    if (this.#checked.has(listener.dir)) return;
    this.#ensureDir(join(listener.dir, Layout.INBOX));
    this.#ensureDir(join(listener.dir, Layout.TMP));
    for (const state of [Layout.ARCHIVE, Layout.ERROR, Layout.INFLIGHT, Layout.WORKERS]) {
      try {
        this.#ensureExistingDir(join(listener.dir, state));
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    const tracking = join(listener.dir, Layout.TRACKING);
    let info: Deno.FileInfo | undefined;
    try {
      info = Deno.lstatSync(tracking);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    if (info?.isSymlink) {
      throw new UnsafePathError(tracking, "is a symbolic link; hurah does not follow links in the root");
    }
    if (info && !info.isFile) throw new UnsafePathError(tracking, "expected a file, found a directory or a device");
    this.#checked.add(listener.dir);
  }

  #ensureExistingDir(path: string): void {
    const info = Deno.lstatSync(path);
    if (info.isSymlink) throw new UnsafePathError(path, "is a symbolic link; hurah does not follow links in the root");
    if (!info.isDirectory) throw new UnsafePathError(path, "expected a directory, found a file");
  }

  /**
   * Writes tasks into a listener's inbox, in order, and returns the sequence
   * number and path each got (see {@linkcode Deliverer.deliver}).
   */
  deliver(listener: ListenerRef, builds: readonly Build[], now: string): Promise<Delivered[]> {
    return this.#deliverer.deliver(listener, builds, now);
  }

  /** Closes the dispatch lock files kept open between deliveries (one still held: when its delivery is done). */
  close(): void {
    this.#deliverer.close();
  }

  /** The highest sequence number of any file in any state directory of a listener, or 0. */
  maxSequence(dir: string): Promise<number> {
    return maxSequence(dir);
  }

  /**
   * Takes the listener's run lock, waiting for another runner to finish, as
   * `wait` says (see `lockFile()`: by default without a bound). Ordered
   * runners take it exclusively, parallel workers shared, so the two kinds
   * never work one listener at the same time.
   */
  async lockRunner(listener: ListenerRef, shared = false, wait: LockWaitOptions = {}): Promise<Deno.FsFile> {
    return await lockFile(join(listener.dir, Layout.RUN_LOCK), { ...wait, shared, known: this.#lockFiles });
  }

  /** Lists the inbox: the task files' sequence numbers, and anything else found there. */
  listInbox(listener: ListenerRef): Promise<InboxListing> {
    return this.#files.listInbox(listener);
  }

  /** Reads a task file in the inbox or in flight, safely (see {@linkcode TaskFiles.readTask}). */
  readTask(listener: ListenerRef, dir: TaskDir, file: string, maxBytes: number): RegularFileRead {
    return this.#files.readTask(listener, dir, file, maxBytes);
  }

  /** Replaces a task file's contents atomically; NotFound when a claimed one is gone. */
  rewriteTask(listener: ListenerRef, dir: TaskDir, file: string, text: string): Promise<void> {
    return this.#files.rewriteTask(listener, dir, file, text);
  }

  /** Moves a task file to another state directory, never replacing a file (see {@linkcode TaskFiles.move}). */
  move(listener: ListenerRef, dir: StateDir, file: string, to: StateDir, toFile = file): Promise<string> {
    return this.#files.move(listener, dir, file, to, toFile);
  }

  /** Deletes a task file (archive policy "delete"). Throws NotFound when it is gone. */
  remove(listener: ListenerRef, dir: TaskDir, file: string): void {
    this.#files.remove(listener, dir, file);
  }

  /** Claims an inbox task for `owner`; `undefined` when another worker was first. */
  claim(listener: ListenerRef, task: string, owner: string): Claim | undefined {
    return this.#files.claim(listener, task, owner);
  }

  /** Takes over another worker's claim; `undefined` when someone else was first. */
  takeOver(listener: ListenerRef, claim: Claim, owner: string): Claim | undefined {
    return this.#files.takeOver(listener, claim, owner);
  }

  /** Every claimed task of a listener. */
  listInflight(listener: ListenerRef): Claim[] {
    return this.#files.listInflight(listener);
  }

  /** Creates a state directory of a listener if needed (refusing links). */
  ensureStateDir(listener: ListenerRef, dir: StateDir | typeof Layout.WORKERS): string {
    const path = join(listener.dir, dir);
    this.#ensureDir(path);
    return path;
  }

  /** A staging path in the listener's `tmp/`. */
  stagingPath(listener: ListenerRef, kind: string): string {
    return this.#tmpPath(listener.dir, kind);
  }

  /** Moves a stray or unreadable entry to `error/` with a note beside it saying why. */
  quarantine(listener: ListenerRef, dir: StateDir, file: string, reason: string, name = file): Promise<string> {
    return this.#files.quarantine(listener, dir, file, reason, name);
  }

  /** Removes staging files in `tmp/` older than `maxAgeMs`, judged by the file system's clock. */
  sweepTmp(listener: ListenerRef, maxAgeMs: number): number {
    return this.#files.sweepTmp(listener, maxAgeMs);
  }
}

import { join, resolve } from "node:path";
import { SequenceLimitError, UnsafePathError } from "../../errors.ts";
import { Layout } from "../../protocol/layout.ts";
import { LISTENER_SUFFIX, listenerPath } from "../../protocol/names.ts";
import { decodeTracking, encodeTracking, sequenceOf, type TrackingRecord } from "../../protocol/task_file.ts";
import {
  exists,
  isAlreadyExists,
  isNotFound,
  isTaken,
  lockFile,
  type LockFileOptions,
  readRegularFile,
  readTextIfExists,
  type RegularFileRead,
  removeIfExists,
  syncDir,
  writeFilesSynced,
  writeFileSynced,
} from "./_fs.ts";

/** The entry at `path` (a link is not followed), or `undefined` when there is none. */
function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** An inbox directory larger than this (roughly 30,000 to 50,000 entries) is listed as a stream. */
const LARGE_DIRECTORY_BYTES = 1024 * 1024;

/**
 * The most tasks one hold of a listener's dispatch lock writes; more wait
 * for the next hold, so that other dispatchers take their turn.
 */
export const SLICE_LIMIT = 512;

/** The highest sequence number a task name (`<N>.json`, 1 to 15 digits) holds. */
export const MAX_SEQUENCE = 999_999_999_999_999;

/**
 * How far past `tracking.json` a dispatch numbers its tasks while a
 * dispatcher that takes no lock (PHP) is at work on the listener: PHP reads
 * `tracking.json`, writes its task, then writes `tracking.json` in place, so
 * a PHP write begun before hurah replaced the file, or a hurah dispatch
 * preempted between reading and replacing it, can carry a lower number over
 * hurah's. With the margin, hurah's number stays ahead of every number PHP
 * takes meanwhile (1,000 events: over a second at 700 events/s), and PHP
 * never goes back to numbers it used. The numbers skipped are PHP's to take.
 */
export const LOCK_FREE_MARGIN = 1_000;

/**
 * A `tracking.json` that another dispatcher wrote (it holds a number past
 * the one hurah recorded in `dispatch.lock`) within this many milliseconds
 * means that dispatcher is at work.
 */
const LOCK_FREE_ACTIVE_MS = 10_000;

/**
 * When a dispatch beside a dispatcher that takes no lock looks at
 * `tracking.json` again (after these pauses, in milliseconds): longer than
 * PHP takes from reading it to writing it back.
 */
const KEEP_AHEAD_PAUSES_MS = [1, 2];

/** The record hurah keeps in `dispatch.lock`: the last number it wrote to `tracking.json`, padded. */
const LOCK_RECORD_BYTES = 16;

/** The number recorded in a dispatch lock file (`undefined` if none: new, or written by an older hurah). */
function readLockRecord(lock: Deno.FsFile): number | undefined {
  const buffer = new Uint8Array(LOCK_RECORD_BYTES);
  const read = lock.readSync(buffer) ?? 0;
  const text = new TextDecoder().decode(buffer.subarray(0, read)).trim();
  return /^[0-9]{1,15}$/.test(text) ? Number(text) : undefined;
}

/** Records in the dispatch lock file (held) the last number written to `tracking.json`. */
function writeLockRecord(lock: Deno.FsFile, sequence: number): void {
  lock.seekSync(0, Deno.SeekMode.Start);
  lock.writeSync(new TextEncoder().encode(String(sequence).padEnd(LOCK_RECORD_BYTES)));
}

/** Makes a task file's text for its sequence number. */
export type Build = (sequence: number) => string;

/** A task written into an inbox. */
export interface Delivered {
  /** Its sequence number. */
  sequence: number;
  /** The path of `inbox/<N>.json`. */
  path: string;
}

/**
 * `deliver()` failed after writing some of its tasks: `delivered` are in the
 * inbox, each one whole; `cause` is the error met.
 */
export class PartialDeliveryError extends Error {
  /** The tasks written before the error, in order. */
  readonly delivered: Delivered[];

  constructor(delivered: Delivered[], cause: unknown) {
    super(`failed after ${delivered.length} tasks: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = "PartialDeliveryError";
    this.delivered = delivered;
  }
}

/** The tasks an error of `deliver()` says were written before it. */
function deliveredBefore(error: unknown): Delivered[] {
  return error instanceof PartialDeliveryError ? error.delivered : [];
}

/** The error a `deliver()` error stands for. */
function causeOf(error: unknown): unknown {
  return error instanceof PartialDeliveryError ? error.cause : error;
}

/** A `deliver()` call waiting for its slice. */
interface Waiting {
  builds: readonly Build[];
  now: string;
  resolve: (delivered: Delivered[]) => void;
  reject: (error: unknown) => void;
}

/** What {@linkcode FileStore.readTask} found. */
export type { RegularFileRead as TaskRead } from "./_fs.ts";

/** A listener directory found under the root. */
export interface ListenerRef {
  /** The handler name (the directory name without `_listener`). */
  name: string;
  /** The event type it listens to (`""` for the root). */
  eventType: string;
  /** Absolute path of its directory. */
  dir: string;
}

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

/** How a wait for a lock ends and what it says; see `lockFile()`. */
export type LockWaitOptions = Pick<LockFileOptions, "signal" | "timeoutMs" | "onWait">;

/** The states a task file can be moved to. */
export type Destination = typeof Layout.ARCHIVE | typeof Layout.ERROR;
/** Where a task waits or runs: the inbox, or claimed in `inflight/`. */
export type TaskDir = typeof Layout.INBOX | typeof Layout.INFLIGHT;
/** Any directory a task file can be in. */
export type StateDir = Destination | TaskDir;

/** A task claimed by a parallel worker. */
export interface Claim {
  /** The file name in `inflight/`: `<N>.json~<owner>`. */
  file: string;
  /** The sequence number. */
  sequence: number;
  /** The task's own file name, `<N>.json`. */
  task: string;
  /** The claiming worker's id. */
  owner: string;
}

/** What `listInbox` found. */
export interface InboxListing {
  /** The sequence numbers of the task files, ascending; the file of N is `<N>.json`. */
  sequences: number[];
  /** Entries that are not `<N>.json` regular files (dotfiles excluded). */
  strays: Deno.DirEntry[];
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
  /** The sequence this store last wrote to each listener's tracking.json. */
  readonly #written = new Map<string, number>();
  /** Per listener, the `deliver()` calls waiting to be served; present while they are served. */
  readonly #waiting = new Map<string, Waiting[]>();
  readonly #tmpPrefix = `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  #tmpCounter = 0;

  constructor(root: string, options: FileStoreOptions = {}) {
    this.root = resolve(root);
    this.#durable = options.durable ?? true;
    this.#dispatchLockWait = options.dispatchLockWait ?? {};
  }

  /** A fresh staging path in `<dir>/tmp/`; `dir` is a listener's (absolute, normalized) directory. */
  #tmpPath(dir: string, kind: string): string {
    return `${dir}/${Layout.TMP}/${kind}.${this.#tmpPrefix}.${++this.#tmpCounter}.tmp`;
  }

  /** Throws when the root does not exist or is not a directory. */
  checkRoot(): void {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(this.root);
    } catch (error) {
      if (isNotFound(error)) {
        throw new UnsafePathError(
          this.root,
          "the event root does not exist; create it, or run a handler once (`hurah run`) to register it",
        );
      }
      throw error;
    }
    if (!info.isDirectory) throw new UnsafePathError(this.root, "the event root is not a directory");
  }

  /**
   * Every listener that a dispatch of an event type reaches, deepest level
   * first, given the type's checked segments (`parseEventType`). Creates the
   * type's directories as PHP does. Throws before anything is delivered when
   * a link or a file stands where a directory should be.
   */
  listenersFor(segments: readonly string[]): ListenerRef[] {
    this.checkRoot();
    const levels: ListenerRef[][] = [];
    let dir = this.root;
    for (let depth = 0; depth <= segments.length; depth++) {
      const levelType = segments.slice(0, depth).join("/");
      const next = segments[depth];
      const found: ListenerRef[] = [];
      let nextEntry: Deno.DirEntry | undefined;
      for (const entry of Deno.readDirSync(dir)) {
        if (entry.name === next) nextEntry = entry;
        if (!entry.name.endsWith(LISTENER_SUFFIX) || entry.name.length === LISTENER_SUFFIX.length) continue;
        const path = join(dir, entry.name);
        if (entry.isSymlink) throw new UnsafePathError(path, "listener directory is a symbolic link");
        if (!entry.isDirectory) continue;
        found.push({ name: entry.name.slice(0, -LISTENER_SUFFIX.length), eventType: levelType, dir: path });
      }
      found.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
      levels.push(found);
      if (next === undefined) break;
      const nextDir = join(dir, next);
      if (nextEntry === undefined) {
        Deno.mkdirSync(join(nextDir, ...segments.slice(depth + 1)), { recursive: true });
        break;
      }
      if (nextEntry.isSymlink) throw new UnsafePathError(nextDir, "event type directory is a symbolic link");
      if (!nextEntry.isDirectory) throw new UnsafePathError(nextDir, "expected an event type directory, found a file");
      dir = nextDir;
    }
    const listeners = levels.reverse().flat();
    // Check every listener before the first delivery, so that a bad one stops the dispatch before it starts.
    for (const listener of listeners) this.#checkListener(listener);
    return listeners;
  }

  /**
   * Creates a listener's directories (the root too) if needed and returns
   * it. Refuses links anywhere on the way.
   */
  register(name: string, eventType: string): ListenerRef {
    const relative = listenerPath(name, eventType).split("/");
    try {
      Deno.mkdirSync(this.root, { recursive: true });
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
      this.checkRoot(); // a file stands there: say so
      throw error;
    }
    let dir = this.root;
    for (const part of relative) {
      dir = join(dir, part);
      this.#ensureDir(dir);
    }
    const listener = { name, eventType, dir };
    this.#checkListener(listener);
    return listener;
  }

  #ensureDir(path: string): void {
    try {
      Deno.mkdirSync(path);
      return;
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
    }
    this.#ensureExistingDir(path);
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
   * number and path each got. `builds[k]` makes the text of the k-th file
   * for its sequence number.
   *
   * Calls for one listener are served in the order they come, and those that
   * wait while another is being served are served together, up to
   * {@linkcode SLICE_LIMIT} tasks under one hold of the dispatch lock (see
   * `#deliverLocked`); a call with more tasks is served slice after slice,
   * in order. When a slice fails, every call in it gets the error; the tasks
   * linked before the failure stay in the inbox, and the error is then a
   * {@linkcode PartialDeliveryError} saying which of the call's tasks they
   * are (its `cause` is the error met).
   */
  async deliver(listener: ListenerRef, builds: readonly Build[], now: string): Promise<Delivered[]> {
    try {
      this.#checkListener(listener);
    } catch (error) {
      this.#checked.delete(listener.dir);
      throw error;
    }
    if (builds.length === 0) return [];
    if (builds.length > SLICE_LIMIT) {
      const delivered: Delivered[] = [];
      for (let start = 0; start < builds.length; start += SLICE_LIMIT) {
        try {
          delivered.push(...await this.deliver(listener, builds.slice(start, start + SLICE_LIMIT), now));
        } catch (error) {
          if (delivered.length === 0) throw error;
          throw new PartialDeliveryError([...delivered, ...deliveredBefore(error)], causeOf(error));
        }
      }
      return delivered;
    }
    return await new Promise<Delivered[]>((resolve, reject) => {
      const request = { builds, now, resolve, reject };
      const queue = this.#waiting.get(listener.dir);
      if (queue !== undefined) {
        queue.push(request);
        return;
      }
      this.#waiting.set(listener.dir, [request]);
      void this.#serve(listener);
    });
  }

  /** Serves the calls waiting at a listener, as many at once as fit in a slice, until none is left. */
  async #serve(listener: ListenerRef): Promise<void> {
    const queue = this.#waiting.get(listener.dir)!;
    try {
      while (queue.length > 0) {
        const slice = [queue.shift()!];
        let size = slice[0].builds.length;
        while (queue.length > 0 && size + queue[0].builds.length <= SLICE_LIMIT) {
          size += queue[0].builds.length;
          slice.push(queue.shift()!);
        }
        try {
          const builds = slice.flatMap((request) => request.builds);
          const delivered = await this.#deliverLocked(listener, builds, slice.at(-1)!.now);
          let from = 0;
          for (const request of slice) request.resolve(delivered.slice(from, from += request.builds.length));
        } catch (error) {
          // Each call learns which of its own tasks were written before the error.
          const written = deliveredBefore(error);
          let from = 0;
          for (const request of slice) {
            const mine = written.slice(from, from += request.builds.length);
            request.reject(mine.length > 0 ? new PartialDeliveryError(mine, causeOf(error)) : causeOf(error));
          }
        }
      }
    } finally {
      this.#waiting.delete(listener.dir);
    }
  }

  /**
   * Writes tasks into a listener's inbox under one hold of its dispatch lock
   * (waited for without blocking the event loop). `tracking.json` is
   * replaced once, with the last number of the run (never lowered); each
   * file is then staged in `tmp/` and hard-linked to `inbox/<N>.json` (which
   * fails rather than overwrite), so a reader never sees a partial file and
   * two dispatchers never share a number. When durable, each file is flushed
   * before its link and the inbox once after the last.
   */
  async #deliverLocked(listener: ListenerRef, builds: readonly Build[], now: string): Promise<Delivered[]> {
    const lock = await lockFile(join(listener.dir, Layout.DISPATCH_LOCK), {
      ...this.#dispatchLockWait,
      known: this.#lockFiles,
    });
    const delivered: Delivered[] = [];
    const staged: string[] = [];
    const inbox = join(listener.dir, Layout.INBOX);
    try {
      const tracking = this.#readTracking(listener.dir);
      let last = tracking?.sequence ?? await this.maxSequence(listener.dir);
      // tracking.json as this store last wrote it was checked then; anything else may be behind the files.
      let trusted = tracking !== undefined && this.#written.get(listener.dir) === tracking.sequence;
      let justRead = tracking?.sequence;
      const lockFree = !trusted && tracking !== undefined && this.#lockFreeAtWork(listener.dir, tracking, lock);
      if (lockFree) last += LOCK_FREE_MARGIN - 1;
      numbering: while (delivered.length < builds.length) {
        const first = last + 1;
        const count = builds.length - delivered.length;
        if (first + count - 1 > MAX_SEQUENCE) {
          // Past it a task name would not be read back as a task (and past 2^53 numbers stop counting).
          throw new SequenceLimitError(
            listener.name,
            listener.eventType,
            listener.dir,
            Math.max(first, MAX_SEQUENCE + 1),
          );
        }
        if (!trusted) {
          const used = this.#firstUsed(listener.dir, first, count);
          if (used !== undefined) {
            // tracking.json is behind tasks pending, in flight or handled: a
            // number reused here would make two tasks of one number.
            last = await this.#pastUsed(listener.dir, used);
            continue numbering;
          }
        }
        // Reserve the numbers in tracking.json before staging (which may wait for a flush), so that a
        // dispatcher that takes no lock (PHP) numbers past them from now on.
        const written = this.#writeTracking(listener.dir, {
          sequence: first + count - 1,
          count: first + count - 1,
          first: tracking?.first ?? now,
          last: now,
        }, justRead);
        writeLockRecord(lock, written); // tracking.json as hurah last wrote it, for the next dispatcher
        justRead = undefined; // read a moment ago only the first time round
        if (written > first + count - 1) {
          // Such a dispatcher has gone past these numbers meanwhile: take the next ones.
          last = written;
          trusted = false;
          continue numbering;
        }
        for (let k = 0; k < count; k++) staged[k] ??= this.#tmpPath(listener.dir, "task");
        const done = delivered.length;
        await writeFilesSynced(staged.slice(0, count), (k) => builds[done + k](first + k), this.#durable);
        for (let k = 0; k < count; k++) {
          const path = `${inbox}/${first + k}.json`;
          try {
            Deno.linkSync(staged[k], path);
          } catch (error) {
            if (!isAlreadyExists(error)) throw error;
            // tracking.json was behind the files (restored, or written by a
            // dispatcher that takes no lock): number the rest past every
            // number in use.
            last = await this.#pastUsed(listener.dir, first + k);
            trusted = false;
            staged.splice(0, k); // the rest are written again with their new numbers
            continue numbering;
          }
          removeIfExists(staged[k]);
          delivered.push({ sequence: first + k, path });
        }
        staged.length = 0;
        last = first + count - 1;
      }
      // Durable: each task's content was flushed before its link, and the inbox entries are flushed now.
      // tracking.json needs no flush: should a power loss undo it, the next dispatch finds the numbers in
      // use (link refuses them; a store that did not write tracking.json last checks archive/ and error/)
      // and skips past them.
      if (this.#durable && delivered.length > 0) await syncDir(inbox);
      if (lockFree) {
        last = await this.#keepAhead(listener.dir, last, tracking?.first ?? now, now);
        writeLockRecord(lock, last);
      }
      this.#written.set(listener.dir, last);
      return delivered;
    } catch (error) {
      if (delivered.length === 0) throw error;
      // Reported as delivered: flush what was linked, if the disk still lets us.
      if (this.#durable) await syncDir(inbox).catch(() => {});
      throw new PartialDeliveryError(delivered, error);
    } finally {
      for (const path of staged) removeIfExists(path);
      lock.close();
    }
  }

  /**
   * Whether a dispatcher that takes no lock (PHP) is at work on a listener:
   * `tracking.json` holds a number past the last one a hurah dispatcher
   * recorded in `dispatch.lock`, written within the last 10 seconds. (A
   * `tracking.json` behind the record was restored or edited; one with no
   * record beside it, as in a tree only PHP wrote, counts as quiet.)
   */
  #lockFreeAtWork(dir: string, tracking: TrackingRecord, lock: Deno.FsFile): boolean {
    const recorded = readLockRecord(lock);
    if (recorded === undefined || tracking.sequence <= recorded) return false;
    const modified = lstatOrUndefined(join(dir, Layout.TRACKING))?.mtime?.getTime();
    return modified !== undefined && Date.now() - modified < LOCK_FREE_ACTIVE_MS;
  }

  /**
   * After a dispatch beside a dispatcher that takes no lock (PHP): a PHP
   * write of `tracking.json` begun before hurah replaced it lands after, and
   * carries a lower number on, which PHP would follow up to hurah's tasks
   * and overwrite them. Looks again and, if so, writes `last` back (never
   * lowering; up to 3 times). Returns the number `tracking.json` holds.
   */
  async #keepAhead(dir: string, last: number, first: string, now: string): Promise<number> {
    let current: number | undefined;
    for (const pauseMs of KEEP_AHEAD_PAUSES_MS) {
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      current = this.#readTracking(dir)?.sequence;
      if (current === undefined || current < last) {
        current = this.#writeTracking(dir, { sequence: last, count: last, first, last: now });
      }
    }
    return current!;
  }

  /**
   * The first of `count` numbers from `first` that a task file holds, in the
   * inbox, in flight or handled. Checked in this order, the inbox first and
   * `inflight/` listed once after it, so that a task moving from one to the
   * next between the checks is seen in one of them; a task put back into the
   * inbox meanwhile is caught by the link, which refuses an existing name.
   */
  #firstUsed(dir: string, first: number, count: number): number | undefined {
    const end = first + count;
    for (let sequence = first; sequence < end; sequence++) {
      if (isTaken(`${dir}/${Layout.INBOX}/${sequence}.json`)) return sequence;
    }
    let claimed = Infinity;
    try {
      for (const entry of Deno.readDirSync(`${dir}/${Layout.INFLIGHT}`)) {
        const sequence = sequenceOf(entry.name.split(Layout.CLAIM_SEPARATOR)[0]);
        if (sequence !== undefined && sequence >= first && sequence < end) claimed = Math.min(claimed, sequence);
      }
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    for (let sequence = first; sequence < Math.min(end, claimed); sequence++) {
      if (isTaken(`${dir}/${Layout.ARCHIVE}/${sequence}.json`) || isTaken(`${dir}/${Layout.ERROR}/${sequence}.json`)) {
        return sequence;
      }
    }
    return claimed === Infinity ? undefined : claimed;
  }

  #readTracking(dir: string): TrackingRecord | undefined {
    const text = readTextIfExists(join(dir, Layout.TRACKING));
    if (text === undefined) return undefined;
    try {
      return decodeTracking(text);
    } catch {
      return undefined; // recovered from the files by the caller
    }
  }

  /**
   * Replaces `tracking.json`, never lowering it, and returns the number
   * written: `tracking.sequence`, or higher. A dispatcher that takes no lock
   * (PHP) may go on meanwhile: it reads `tracking.json`, writes its task
   * file, then writes `tracking.json` in place. So the file is read again
   * (unless the caller read it a moment ago: `justRead`) and the inbox
   * probed past the higher number, the staging file written and renamed
   * over it; then the inbox is probed again, in case it wrote in between
   * (then written anew, up to 3 times).
   */
  #writeTracking(dir: string, tracking: TrackingRecord, justRead?: number): number {
    let sequence = tracking.sequence;
    const next = () => `${dir}/${Layout.INBOX}/${sequence + 1}.json`;
    const staged = this.#tmpPath(dir, "tracking");
    let renamed = false;
    try {
      for (let round = 1;; round++) {
        // undefined while PHP rewrites it in place: the probe covers that
        const current = round === 1 && justRead !== undefined ? justRead : this.#readTracking(dir)?.sequence;
        sequence = Math.max(sequence, current ?? 0);
        while (isTaken(next())) sequence++;
        Deno.writeTextFileSync(staged, encodeTracking({ ...tracking, sequence, count: sequence }));
        Deno.renameSync(staged, join(dir, Layout.TRACKING));
        renamed = true;
        if (round >= 3 || !isTaken(next())) return sequence;
        renamed = false;
      }
    } finally {
      if (!renamed) removeIfExists(staged); // left by a failed write or rename
    }
  }

  /**
   * The highest number in use, at least `used`: the highest of any state
   * directory, then past every inbox file after it. A dispatcher that takes
   * no lock (PHP) may go on while the directories are listed (milliseconds
   * in a large listener); without the cheap steps past what it wrote
   * meanwhile, the next look finds its next file, again and again, for as
   * long as it keeps dispatching.
   */
  async #pastUsed(dir: string, used: number): Promise<number> {
    let last = Math.max(used, await this.maxSequence(dir));
    while (isTaken(`${dir}/${Layout.INBOX}/${last + 1}.json`)) last++;
    return last;
  }

  /** The highest sequence number of any file in any state directory of a listener, or 0. */
  async maxSequence(dir: string): Promise<number> {
    let max = 0;
    for (const state of Deno.readDirSync(dir)) {
      if (!state.isDirectory || state.name === Layout.TMP) continue;
      for await (const entry of Deno.readDir(join(dir, state.name))) {
        const match = /^([0-9]{1,15})\.json/.exec(entry.name);
        if (match) max = Math.max(max, Number(match[1]));
      }
    }
    return max;
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

  /**
   * Lists the inbox: the task files' sequence numbers, and anything else
   * found there. The directory is read as a stream (Deno's synchronous
   * listing builds every entry at once: 100,000 of them cost ~50 MiB), and
   * only numbers are kept.
   */
  async listInbox(listener: ListenerRef): Promise<InboxListing> {
    const sequences: number[] = [];
    const strays: Deno.DirEntry[] = [];
    const inbox = `${listener.dir}/${Layout.INBOX}`;
    const take = (entry: Deno.DirEntry) => {
      if (entry.name.startsWith(".")) return;
      const sequence = sequenceOf(entry.name);
      if (sequence !== undefined && entry.isFile) sequences.push(sequence);
      else strays.push(entry);
    };
    // A small inbox is listed in one call (faster); a large one as a stream (flat memory). A directory's
    // size grows with its entries on the usual file systems (about 20-40 bytes each on tmpfs and ext4).
    if (Deno.statSync(inbox).size <= LARGE_DIRECTORY_BYTES) {
      for (const entry of Deno.readDirSync(inbox)) {
        take(entry);
      }
    } else for await (const entry of Deno.readDir(inbox)) take(entry);
    sequences.sort((a, b) => a - b);
    return { sequences, strays };
  }

  // Hot paths build paths by concatenation: every part is a checked name, so join()'s normalising is not needed.

  /**
   * Reads a task file in the inbox or in flight, safely: it is opened
   * without following a link and without blocking (a FIFO would block a
   * plain open, and the read after it, for ever), and the opened
   * descriptor is checked to be a regular file of at most `maxBytes` before
   * anything is read. So a file swapped in after the listing is judged by
   * what was opened, and no byte of a link's target is ever read. Throws
   * Deno's NotFound when the file is gone, PermissionDenied when it cannot
   * be opened.
   */
  readTask(listener: ListenerRef, dir: TaskDir, file: string, maxBytes: number): RegularFileRead {
    return readRegularFile(`${listener.dir}/${dir}/${file}`, maxBytes);
  }

  /**
   * Replaces a task file's contents atomically (stage, then rename over it).
   * A claimed file is checked to be still there first, so that a task taken
   * over by another worker is not brought back; throws NotFound then.
   */
  async rewriteTask(listener: ListenerRef, dir: TaskDir, file: string, text: string): Promise<void> {
    const staged = this.#tmpPath(listener.dir, "rewrite");
    const target = join(listener.dir, dir, file);
    try {
      await writeFileSynced(staged, text, this.#durable);
      if (dir === Layout.INFLIGHT) Deno.lstatSync(target);
      Deno.renameSync(staged, target);
    } catch (error) {
      removeIfExists(staged);
      throw error;
    }
  }

  /**
   * Moves a task file (or stray) to another state directory, created on
   * first use. Throws NotFound when the file is gone (taken by another).
   * Never replaces a file: when the target name is taken, the file is
   * quarantined instead (to `error/` under a free name, with a note saying
   * which file held the name), so that neither is lost. Returns where it is.
   */
  async move(listener: ListenerRef, dir: StateDir, file: string, to: StateDir, toFile = file): Promise<string> {
    const from = `${listener.dir}/${dir}/${file}`;
    const target = `${listener.dir}/${to}/${toFile}`;
    // Two names of one task never exist while numbers are not reused, so the check cannot race with the
    // creation of the target name by another process, except where something is already wrong. A directory
    // in the way is left to the rename, which fails (EISDIR) without replacing it.
    if (isTaken(target) && lstatOrUndefined(target)?.isDirectory === false) {
      return await this.#collided(listener, dir, file, to, toFile);
    }
    try {
      Deno.renameSync(from, target);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      this.#ensureDir(join(listener.dir, to));
      Deno.renameSync(from, target);
    }
    return target;
  }

  /** Quarantines a file that could not be moved to `to/toFile` without replacing what is there. */
  async #collided(listener: ListenerRef, dir: StateDir, file: string, to: StateDir, toFile: string): Promise<string> {
    const reason = `${to}/${toFile} already held this task's number when ${dir}/${file} was to be moved there; ` +
      `both files are kept (one of the two tasks was given a number in use: compare them)`;
    return await this.quarantine(listener, dir, file, reason, toFile);
  }

  /** Deletes a task file (archive policy "delete"). Throws NotFound when it is gone. */
  remove(listener: ListenerRef, dir: TaskDir, file: string): void {
    Deno.removeSync(join(listener.dir, dir, file));
  }

  /**
   * Claims an inbox task for `owner`: renames `inbox/<N>.json` to
   * `inflight/<N>.json~<owner>`. Only one of any number of workers racing
   * for a task gets it; the others get `undefined`, and so does a claim
   * whose name is taken (nothing is replaced).
   */
  claim(listener: ListenerRef, task: string, owner: string): Claim | undefined {
    const file = `${task}${Layout.CLAIM_SEPARATOR}${owner}`;
    const target = `${listener.dir}/${Layout.INFLIGHT}/${file}`;
    if (isTaken(target)) return undefined; // a claim of mine already holds the number: skip, replace nothing
    try {
      Deno.renameSync(`${listener.dir}/${Layout.INBOX}/${task}`, target);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    return { file, sequence: sequenceOf(task)!, task, owner };
  }

  /**
   * Takes over another worker's claim; `undefined` when someone else was
   * first, or when `owner` already has a claim of that number (nothing is
   * replaced).
   */
  takeOver(listener: ListenerRef, claim: Claim, owner: string): Claim | undefined {
    const file = `${claim.task}${Layout.CLAIM_SEPARATOR}${owner}`;
    const target = join(listener.dir, Layout.INFLIGHT, file);
    if (isTaken(target)) return undefined; // names ending in ~<owner> are only created by that owner
    try {
      Deno.renameSync(join(listener.dir, Layout.INFLIGHT, claim.file), target);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    return { ...claim, file, owner };
  }

  /** Every claimed task of a listener. */
  listInflight(listener: ListenerRef): Claim[] {
    const claims: Claim[] = [];
    try {
      for (const entry of Deno.readDirSync(join(listener.dir, Layout.INFLIGHT))) {
        const at = entry.name.indexOf(Layout.CLAIM_SEPARATOR);
        if (at < 0 || !entry.isFile) continue;
        const task = entry.name.slice(0, at);
        const sequence = sequenceOf(task);
        if (sequence !== undefined) claims.push({ file: entry.name, sequence, task, owner: entry.name.slice(at + 1) });
      }
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    return claims.sort((a, b) => a.sequence - b.sequence);
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

  /**
   * Moves a stray or unreadable entry to `error/` (as `name`, or a free
   * variant of it) with a note beside it saying why.
   */
  async quarantine(listener: ListenerRef, dir: StateDir, file: string, reason: string, name = file): Promise<string> {
    this.ensureStateDir(listener, Layout.ERROR);
    // Neither the file's nor its note's name may be taken: a link there would be written through.
    const taken = (candidate: string) =>
      exists(join(listener.dir, Layout.ERROR, candidate)) ||
      exists(join(listener.dir, Layout.ERROR, candidate + Layout.REASON_SUFFIX));
    let target = name;
    for (let n = 1; taken(target); n++) target = `${name}.${n}`;
    const path = await this.move(listener, dir, file, Layout.ERROR, target);
    await writeFileSynced(path + Layout.REASON_SUFFIX, reason + "\n", this.#durable);
    return path;
  }

  /**
   * Removes staging files in `tmp/` older than `maxAgeMs` (left by killed
   * processes). Their age is judged by the file system's clock, the
   * modification time of a file written there just now, never by this
   * process's clock: one running hours ahead would remove other processes'
   * fresh staging files (a dispatcher's task staged a moment before its link).
   */
  sweepTmp(listener: ListenerRef, maxAgeMs: number): number {
    const dir = join(listener.dir, Layout.TMP);
    const probe = this.#tmpPath(listener.dir, "clock");
    let now: number;
    try {
      Deno.writeTextFileSync(probe, "");
      now = Deno.lstatSync(probe).mtime?.getTime() ?? NaN;
    } finally {
      removeIfExists(probe);
    }
    let removed = 0;
    for (const entry of Deno.readDirSync(dir)) {
      const path = join(dir, entry.name);
      try {
        const info = Deno.lstatSync(path);
        if (info.isFile && info.mtime && now - info.mtime.getTime() > maxAgeMs) {
          Deno.removeSync(path);
          removed++;
        }
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    return removed;
  }
}

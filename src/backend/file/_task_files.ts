/** The file backend's task files: where each task is, and every move of it (one part of `FileStore`). */
import { join } from "node:path";
import { Layout } from "../../protocol/layout.ts";
import { sequenceOf } from "../../protocol/task_file.ts";
import {
  exists,
  isNotFound,
  isTaken,
  readRegularFile,
  type RegularFileRead,
  removeIfExists,
  writeFileSynced,
} from "./_fs.ts";
import { lstatOrUndefined } from "./_fs.ts";
import type { Claim, InboxListing, ListenerRef, StateDir, StoreHost, TaskDir } from "./_types.ts";

/** An inbox directory larger than this (roughly 30,000 to 50,000 entries) is listed as a stream. */
const LARGE_DIRECTORY_BYTES = 1024 * 1024;

/** Task files: listing, safe reads, rewrites, moves, claims, quarantine, staging (one part of `FileStore`). */
export class TaskFiles {
  readonly #host: StoreHost;

  constructor(host: StoreHost) {
    this.#host = host;
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
    const staged = this.#host.tmpPath(listener.dir, "rewrite");
    const target = join(listener.dir, dir, file);
    try {
      await writeFileSynced(staged, text, this.#host.durable);
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
      this.#host.ensureDir(join(listener.dir, to));
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

  /** A staging path in the listener's `tmp/`. */
  stagingPath(listener: ListenerRef, kind: string): string {
    return this.#host.tmpPath(listener.dir, kind);
  }

  /**
   * Moves a stray or unreadable entry to `error/` (as `name`, or a free
   * variant of it) with a note beside it saying why.
   */
  async quarantine(listener: ListenerRef, dir: StateDir, file: string, reason: string, name = file): Promise<string> {
    this.#host.ensureStateDir(listener, Layout.ERROR);
    // Neither the file's nor its note's name may be taken: a link there would be written through.
    const taken = (candidate: string) =>
      exists(join(listener.dir, Layout.ERROR, candidate)) ||
      exists(join(listener.dir, Layout.ERROR, candidate + Layout.REASON_SUFFIX));
    let target = name;
    for (let n = 1; taken(target); n++) target = `${name}.${n}`;
    const path = await this.move(listener, dir, file, Layout.ERROR, target);
    await writeFileSynced(path + Layout.REASON_SUFFIX, reason + "\n", this.#host.durable);
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
    const probe = this.#host.tmpPath(listener.dir, "clock");
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

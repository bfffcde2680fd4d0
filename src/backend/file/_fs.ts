/**
 * Small file-system helpers: the only place that knows about fsync and locks.
 *
 * The hot paths use synchronous system calls on small files: in Deno an
 * asynchronous file operation costs tens of microseconds of thread hand-off,
 * more than the system call itself on tmpfs and about as much as a file
 * creation on a disk. What may take long is asynchronous: fsync (except on
 * tmpfs, where it returns at once: {@linkcode flushesAtOnce}), and waiting
 * for a lock another process holds.
 */
import { closeSync, constants, existsSync, openSync, readSync, statfsSync } from "node:fs";
import { LockTimeoutError, UnsafePathError } from "../../errors.ts";
import { describeLockWait, type LockWait } from "../wait.ts";

export type { LockWait } from "../wait.ts";

const encoder = new TextEncoder();

/**
 * Open flags of {@linkcode readRegularFile}: a link is refused (ELOOP), a FIFO
 * opened without waiting for a writer. (Deno 2.9's `node:fs` drops
 * O_NOFOLLOW when the process runs with granular permissions rather than
 * `-A`: the checks around the open do not rely on it.)
 */
const READ_SAFELY = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** What {@linkcode readRegularFile} found. */
export type RegularFileRead =
  /** A regular file: its bytes and its modification time (of the file opened). */
  | { kind: "file"; bytes: Uint8Array; mtime: Date }
  /** Something else, unread: `found` says what, as "FIFO" or "symbolic link". */
  | { kind: "not a file"; found: string }
  /** A regular file over the limit, unread. */
  | { kind: "too large"; size: number };

function kindOf(info: Deno.FileInfo): string {
  if (info.isSymlink) return "symbolic link";
  if (info.isDirectory) return "directory";
  if (info.isFifo) return "FIFO";
  if (info.isSocket) return "special file (socket)";
  return "special file (device)";
}

/**
 * Reads a whole file that must be a regular file of at most `maxBytes`,
 * without following a link or blocking on a FIFO: `lstat` first (a link, a
 * FIFO, a directory or a device is never opened, a file too large never
 * read), then open with `O_NOFOLLOW | O_NONBLOCK` and read, then `lstat`
 * again: when the path no longer names the same regular file (device and
 * inode), something was swapped in meanwhile and the bytes are dropped
 * unused. (A `fstat` of the descriptor would say the same at twice the cost
 * in Deno 2.9.) Throws Deno's NotFound or PermissionDenied when the file
 * cannot be looked at or opened, or is gone.
 */
export function readRegularFile(path: string, maxBytes: number, attempts = 3): RegularFileRead {
  const seen = Deno.lstatSync(path);
  if (!seen.isFile) return { kind: "not a file", found: kindOf(seen) };
  if (seen.size > maxBytes) return { kind: "too large", size: seen.size };
  let fd: number;
  try {
    fd = openSync(path, READ_SAFELY);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ELOOP") return { kind: "not a file", found: "symbolic link" };
    if (code === "ENXIO") return { kind: "not a file", found: "special file (socket)" };
    if (code === "ENOENT") throw new Deno.errors.NotFound((error as Error).message, { cause: error });
    if (code === "EACCES" || code === "EPERM") {
      throw new Deno.errors.PermissionDenied((error as Error).message, { cause: error });
    }
    throw error;
  }
  const bytes = new Uint8Array(seen.size);
  let read = 0;
  try {
    for (let n; read < bytes.length && (n = readSync(fd, bytes, read, bytes.length - read, null)) > 0;) read += n;
  } finally {
    closeSync(fd);
  }
  const now = Deno.lstatSync(path);
  if (now.ino !== seen.ino || now.dev !== seen.dev || !now.isFile) {
    if (!now.isFile) return { kind: "not a file", found: kindOf(now) };
    // Replaced by another regular file while it was read: read that one.
    if (attempts > 1) return readRegularFile(path, maxBytes, attempts - 1);
    return { kind: "not a file", found: "file that was replaced each time hurah read it" };
  }
  return {
    kind: "file",
    bytes: read === bytes.length ? bytes : bytes.subarray(0, read),
    mtime: now.mtime ?? new Date(0),
  };
}

/** Whether an error is Deno's NotFound. */
export function isNotFound(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound;
}

/** Whether an error is Deno's AlreadyExists. */
export function isAlreadyExists(error: unknown): boolean {
  return error instanceof Deno.errors.AlreadyExists;
}

/** statfs types of the file systems kept in memory, whose fsync returns at once: tmpfs, ramfs. */
const MEMORY_FILE_SYSTEMS: ReadonlySet<number> = new Set([0x01021994, 0x858458f6]);

/** {@linkcode flushesAtOnce}'s answer for each directory asked. */
const memoryDirectories = new Map<string, boolean>();

/**
 * Whether a flush of a file in `dir` (or of `dir`) is made with a
 * synchronous call: where the file system is kept in memory (tmpfs, ramfs),
 * since there fsync returns at once, and handing it to Deno's thread pool
 * costs more than a whole delivery. Anywhere else a flush goes to the thread
 * pool, so that the event loop never waits for a disk. Asked once per
 * directory (`statfs`); false when `dir` cannot be asked.
 */
export function flushesAtOnce(dir: string): boolean {
  let answer = memoryDirectories.get(dir);
  if (answer === undefined) {
    try {
      answer = MEMORY_FILE_SYSTEMS.has(Number(statfsSync(dir).type));
    } catch (error) {
      // A missing directory is asked again next time (it may exist by then); any other refusal is kept, so that a
      // durable write does not pay a failing statfs each time.
      if ((error as { code?: string }).code === "ENOENT") return false;
      answer = false;
    }
    memoryDirectories.set(dir, answer);
  }
  return answer;
}

/** Writes a whole file, flushing it to disk first when `durable`. */
export async function writeFileSynced(path: string, text: string, durable: boolean): Promise<void> {
  await writeFilesSynced([path], () => text, durable);
}

/** How many files `writeFilesSynced` flushes at once. */
const SYNC_GROUP = 32;

/**
 * Writes whole files, `paths[k]` with `textOf(k)`; when `durable`, all are
 * flushed to disk before it returns, up to {@linkcode SYNC_GROUP} at a time
 * in parallel: one flush after another would each pay the asynchronous
 * call's hand-off, and a disk can commit concurrent flushes together. On
 * tmpfs each is flushed at once instead ({@linkcode flushesAtOnce}).
 */
export async function writeFilesSynced(
  paths: readonly string[],
  textOf: (index: number) => string,
  durable: boolean,
): Promise<void> {
  const unflushed: Deno.FsFile[] = [];
  const flush = async () => {
    await Promise.all(unflushed.map((file) => file.sync()));
    for (const file of unflushed.splice(0)) file.close();
  };
  try {
    for (let k = 0; k < paths.length; k++) {
      if (!durable) {
        Deno.writeTextFileSync(paths[k], textOf(k)); // one call into the runtime where open, write, close are three
        continue;
      }
      const file = Deno.openSync(paths[k], { write: true, create: true, truncate: true });
      const atOnce = flushesAtOnce(directoryOf(paths[k]));
      if (!atOnce) unflushed.push(file); // closed by the finally below if the write fails
      try {
        const bytes = encoder.encode(textOf(k));
        for (let written = 0; written < bytes.length;) written += file.writeSync(bytes.subarray(written));
        if (atOnce) file.syncSync();
      } finally {
        if (atOnce) file.close();
      }
      if (unflushed.length === SYNC_GROUP) await flush();
    }
    await flush();
  } finally {
    for (const file of unflushed) file.close();
  }
}

/** Flushes an open file in `dir` to disk: at once on tmpfs, in Deno's thread pool elsewhere ({@linkcode flushesAtOnce}). */
export async function syncFile(file: Deno.FsFile, dir: string): Promise<void> {
  if (flushesAtOnce(dir)) file.syncSync();
  else await file.sync();
}

/** The directory part of a path built by concatenation (`<dir>/<name>`). */
function directoryOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? (slash === 0 ? "/" : ".") : path.slice(0, slash);
}

/** Flushes a directory's entries to disk (open it read-only, then sync; at once on tmpfs, see {@linkcode flushesAtOnce}). */
export async function syncDir(path: string): Promise<void> {
  const dir = Deno.openSync(path, { read: true });
  try {
    if (flushesAtOnce(path)) dir.syncSync();
    else await dir.sync();
  } finally {
    dir.close();
  }
}

/** Reads the rest of an open file as text. */
export async function readAllText(file: Deno.FsFile): Promise<string> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(4096);
  let text = "";
  for (let read; (read = await file.read(buffer)) !== null;) {
    text += decoder.decode(buffer.subarray(0, read), { stream: true });
  }
  return text + decoder.decode();
}

/** Reads a text file, or returns `undefined` when it does not exist. */
export function readTextIfExists(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * Reads a small text file (as `tracking.json`), or returns `undefined` when
 * it does not exist: open, read, close, where `Deno.readTextFileSync` also
 * asks the size and the offset first. A file larger than the first read is
 * read on to its end.
 */
export function readSmallTextIfExists(path: string): string | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  try {
    let buffer = new Uint8Array(SMALL_FILE_BYTES);
    let length = 0;
    for (;;) {
      const read = file.readSync(buffer.subarray(length));
      if (read === null || read === 0) break;
      length += read;
      if (length < buffer.length) break; // a short read of a regular file: its end
      const larger = new Uint8Array(buffer.length * 2);
      larger.set(buffer);
      buffer = larger;
    }
    return decoder.decode(buffer.subarray(0, length));
  } finally {
    file.close();
  }
}

/** The first read of {@linkcode readSmallTextIfExists}. */
const SMALL_FILE_BYTES = 4096;
const decoder = new TextDecoder();

/**
 * Whether a name is taken by a file or directory (a link is followed), for
 * the hot paths that only ask that: numbering, probing the inbox, checking a
 * rename's target. It costs about 4 us where `exists()` costs about 15 on a
 * free name (Deno builds a NotFound error, stack and all). A dangling link
 * counts as free: a rename onto it replaces the link, not a task. A name
 * that is written through must be checked with `exists()`.
 */
export function isTaken(path: string): boolean {
  return existsSync(path);
}

/** Whether anything (a link included) exists at `path`. */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** Removes a file; one that is already gone is fine. */
export function removeIfExists(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

/**
 * Opens (creating if needed) a lock file without following a link: a link
 * planted at `path` would make `create` write a file wherever it points.
 * Paths in `known` were checked before and are opened straight away (a
 * lock file is only flocked, never written, so the check need not repeat).
 */
export function openLockFile(path: string, known?: Set<string>): Deno.FsFile {
  if (known?.has(path)) {
    try {
      return Deno.openSync(path, { read: true, write: true });
    } catch (error) {
      if (!isNotFound(error)) throw error;
      known.delete(path);
    }
  }
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true, write: true, createNew: true }); // O_EXCL: never follows a link
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
    if (Deno.lstatSync(path).isSymlink) {
      throw new UnsafePathError(path, "is a symbolic link; hurah does not follow links in the root");
    }
    file = Deno.openSync(path, { read: true, write: true });
  }
  known?.add(path);
  return file;
}

/** How {@linkcode lockFile} waits. */
export interface LockFileOptions {
  /** Take the lock shared instead of exclusive. @default {false} */
  shared?: boolean;
  /** Lock files already checked not to be links (see `openLockFile`). @default {undefined} */
  known?: Set<string>;
  /** Ends the wait, rejecting with the signal's reason. @default {undefined} */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds with a `LockTimeoutError`; 0 tries once. @default {Infinity} */
  timeoutMs?: number;
  /** Called once when the wait has lasted `noticeMs`. @default {noticeLockWait} (one line on stderr) */
  onWait?: (wait: LockWait) => void;
  /** When to call `onWait`, in milliseconds of waiting. @default {1000} */
  noticeMs?: number;
}

/**
 * The delays between two tries of a held lock, in milliseconds. During the
 * first {@linkcode LOCK_POLL_SHORT_FOR_MS} at most {@linkcode LOCK_POLL_SHORT_MS}: a
 * dispatch holds its lock for a millisecond or so, and a waiter that slept
 * longer would mostly find it taken again by someone else (the kernel wakes
 * a blocked `flock` at once, a poller only at its next try). Measured with
 * 4 and 8 processes dispatching to one listener flat out: the same
 * throughput as the blocking `flock`, a longer tail (see docs/benchmarks.md).
 * After that the delay doubles up to {@linkcode LOCK_POLL_MAX_MS}: a long
 * wait (a frozen holder, a long pass) costs little CPU, and a release is
 * still noticed within that bound.
 */
const LOCK_POLL_FIRST_MS = 1;
const LOCK_POLL_SHORT_MS = 2;
const LOCK_POLL_SHORT_FOR_MS = 1_000;
const LOCK_POLL_MAX_MS = 50;

/**
 * Takes a flock on `path` (created if needed), exclusive unless `shared`;
 * close the file to release it. A free lock is taken with one try; a held
 * one is tried again after growing delays, so that the wait answers
 * `signal` and ends at `timeoutMs` (`Deno.FsFile.lock()` would wait in a
 * thread that no signal can end), and `onWait` is told after `noticeMs`.
 *
 * @throws {LockTimeoutError} When the lock is still held after `timeoutMs`.
 * @throws The signal's reason, when it aborts first.
 */
export async function lockFile(path: string, options: LockFileOptions = {}): Promise<Deno.FsFile> {
  const file = openLockFile(path, options.known);
  try {
    await lockOpenFile(file, path, options);
    return file;
  } catch (error) {
    file.close();
    throw error;
  }
}

/**
 * Takes a flock on an open lock file (at `path`, for the messages), waiting
 * as {@linkcode lockFile} does; release it with `unlockSync()` or by closing
 * the file. A caller that keeps lock files open across holds uses this.
 *
 * @throws {LockTimeoutError} When the lock is still held after `timeoutMs`.
 * @throws The signal's reason, when it aborts first.
 */
export async function lockOpenFile(
  file: Deno.FsFile,
  path: string,
  options: Omit<LockFileOptions, "known"> = {},
): Promise<void> {
  const exclusive = !options.shared;
  if (file.tryLockSync(exclusive)) return;
  const timeoutMs = options.timeoutMs ?? Infinity;
  const noticeMs = options.noticeMs ?? 1_000;
  const started = Date.now();
  let noticed = false;
  for (let delay = LOCK_POLL_FIRST_MS;; delay *= 2) {
    options.signal?.throwIfAborted();
    const waitedMs = Date.now() - started;
    delay = Math.min(delay, waitedMs < LOCK_POLL_SHORT_FOR_MS ? LOCK_POLL_SHORT_MS : LOCK_POLL_MAX_MS);
    if (waitedMs >= timeoutMs) throw new LockTimeoutError(path, timeoutMs === 0 ? 0 : waitedMs, lockHolder(path));
    if (!noticed && waitedMs >= noticeMs) {
      noticed = true;
      (options.onWait ?? noticeLockWait)({ path, waitedMs, timeoutMs, holderPid: lockHolder(path) });
    }
    let sleep = Math.min(delay, timeoutMs - waitedMs);
    if (!noticed) sleep = Math.min(sleep, noticeMs - waitedMs);
    await pause(Math.max(sleep, 1), options.signal);
    if (file.tryLockSync(exclusive)) return;
  }
}

/** The default `onWait`: one line on stderr saying what is waited for, who holds it and for how long at most. */
export function noticeLockWait(wait: LockWait): void {
  console.error(`hurah: ${describeLockWait(wait)}`);
}

/** Resolves after `ms`, or at once when `signal` aborts (the caller then sees it aborted). */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * The pid of a process holding a flock on `path`, from `/proc/locks` (which
 * lists FLOCK holders by pid and device:inode, as `FLOCK  ADVISORY  WRITE
 * 1234 00:2a:5678 0 EOF`); `undefined` when it is free, or not on Linux, or
 * when that file cannot be read (Deno lets only `--allow-all` read it). On a
 * network file system the holder may be on another host, which
 * `/proc/locks` does not show.
 */
export function lockHolder(path: string): number | undefined {
  let text: string;
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
    text = Deno.readTextFileSync("/proc/locks");
  } catch (error) {
    if (isNotFound(error) || error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
      return undefined;
    }
    throw error;
  }
  if (info.dev === null || info.ino === null) return undefined;
  const device = deviceNumbers(info.dev);
  for (const line of text.split("\n")) {
    // Waiting requests are listed as "N: -> FLOCK ..."; only holders count.
    const match = /^\d+:\s+FLOCK\s+\S+\s+\S+\s+(\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (
      match && Number(match[4]) === info.ino && parseInt(match[2], 16) === device.major &&
      parseInt(match[3], 16) === device.minor
    ) {
      return Number(match[1]);
    }
  }
  return undefined;
}

/** glibc's `major()` and `minor()` of a device number (`st_dev`), as `/proc/locks` shows them. */
function deviceNumbers(dev: number): { major: number; minor: number } {
  const d = BigInt(dev);
  return {
    major: Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n)),
    minor: Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n)),
  };
}

/** The entry at `path` (a link is not followed), or `undefined` when there is none. */
export function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * Small file-system helpers: the only place that knows about fsync and locks.
 *
 * The hot paths use synchronous system calls on small files: in Deno an
 * asynchronous file operation costs tens of microseconds of thread hand-off,
 * more than the system call itself on tmpfs and about as much as a file
 * creation on a disk. What may take long is asynchronous: fsync, and waiting
 * for a lock another process holds.
 */
import { closeSync, constants, openSync, readSync } from "node:fs";
import { UnsafePathError } from "../errors.ts";

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
 * call's hand-off, and a disk can commit concurrent flushes together.
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
      const file = Deno.openSync(paths[k], { write: true, create: true, truncate: true });
      unflushed.push(file);
      const bytes = encoder.encode(textOf(k));
      for (let written = 0; written < bytes.length;) written += file.writeSync(bytes.subarray(written));
      if (!durable) unflushed.pop()!.close();
      else if (unflushed.length === SYNC_GROUP) await flush();
    }
    await flush();
  } finally {
    for (const file of unflushed) file.close();
  }
}

/** Flushes a directory's entries to disk (open it read-only, then sync). */
export async function syncDir(path: string): Promise<void> {
  const dir = Deno.openSync(path, { read: true });
  try {
    await dir.sync();
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
function openLockFile(path: string, known?: Set<string>): Deno.FsFile {
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

/**
 * Takes a flock on `path` (created if needed), exclusive unless `shared`,
 * waiting for it without blocking the event loop; close the file to release
 * it.
 */
export async function lockFile(path: string, shared = false, known?: Set<string>): Promise<Deno.FsFile> {
  const file = openLockFile(path, known);
  try {
    if (!file.tryLockSync(!shared)) await file.lock(!shared);
    return file;
  } catch (error) {
    file.close();
    throw error;
  }
}

/** Takes a flock on `path` if it is free; `undefined` when another holds it. */
export function tryLockFile(path: string, shared = false, known?: Set<string>): Deno.FsFile | undefined {
  const file = openLockFile(path, known);
  try {
    if (file.tryLockSync(!shared)) return file;
  } catch (error) {
    file.close();
    throw error;
  }
  file.close();
  return undefined;
}

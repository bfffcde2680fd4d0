/**
 * Small file-system helpers: the only place that knows about fsync and locks.
 *
 * The hot paths use synchronous system calls on small files: in Deno an
 * asynchronous file operation costs tens of microseconds of thread hand-off,
 * more than the system call itself on tmpfs and about as much as a file
 * creation on a disk. What may take long is asynchronous: fsync, and waiting
 * for a lock another process holds.
 */
import { UnsafePathError } from "../errors.ts";

const encoder = new TextEncoder();

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

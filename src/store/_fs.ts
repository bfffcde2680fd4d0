/** Small file-system helpers: the only place that knows about fsync. */
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
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    if (durable) await file.sync();
  } finally {
    file.close();
  }
}

/** Flushes a directory's entries to disk (open it read-only, then sync). */
export async function syncDir(path: string): Promise<void> {
  const dir = await Deno.open(path, { read: true });
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}

/** Reads a text file, or returns `undefined` when it does not exist. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** Whether anything (a link included) exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/**
 * Opens (creating if needed) a lock file without following a link: a link
 * planted at `path` would make `create` write a file wherever it points.
 */
async function openLockFile(path: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, { read: true, write: true, createNew: true }); // O_EXCL: never follows a link
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
  if ((await Deno.lstat(path)).isSymlink) {
    throw new UnsafePathError(path, "is a symbolic link; hurah does not follow links in the root");
  }
  return await Deno.open(path, { read: true, write: true });
}

/** Takes an exclusive flock on `path` (created if needed), waiting for it; close the file to release it. */
export async function lockFile(path: string, shared = false): Promise<Deno.FsFile> {
  const file = await openLockFile(path);
  try {
    await file.lock(!shared);
    return file;
  } catch (error) {
    file.close();
    throw error;
  }
}

/** Takes an exclusive flock on `path` if it is free; `undefined` when another holds it. */
export async function tryLockFile(path: string, shared = false): Promise<Deno.FsFile | undefined> {
  const file = await openLockFile(path);
  try {
    if (await file.tryLock(!shared)) return file;
  } catch (error) {
    file.close();
    throw error;
  }
  file.close();
  return undefined;
}

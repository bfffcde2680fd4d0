/** Reading a listener's state directories without following links: shared by status, inspect, requeue and prune. */
import { join } from "node:path";
import { UnsafePathError } from "../../errors.ts";
import { Layout } from "../../protocol/layout.ts";
import type { Claim, FileStore, ListenerRef } from "./file_store.ts";
import { isAlreadyExists, isNotFound, removeIfExists, writeFileSynced } from "./_fs.ts";

/** `lstat`, or `undefined` when nothing is there. Never follows a link. */
export async function lstatIfExists(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * Whether a listener's state directory (`inbox`, `archive`, ...) exists.
 *
 * @throws {UnsafePathError} When a link or a file stands there.
 */
export async function hasStateDir(listenerDir: string, state: string): Promise<boolean> {
  return await stateDirInfo(listenerDir, state) !== undefined;
}

/**
 * The `lstat` of a listener's state directory, or `undefined` when it does not exist.
 *
 * @throws {UnsafePathError} When a link or a file stands there.
 */
export async function stateDirInfo(listenerDir: string, state: string): Promise<Deno.FileInfo | undefined> {
  const path = join(listenerDir, state);
  const info = await lstatIfExists(path);
  if (info === undefined) return undefined;
  if (info.isSymlink) throw new UnsafePathError(path, "is a symbolic link; hurah does not follow links in the root");
  if (!info.isDirectory) throw new UnsafePathError(path, "expected a directory, found a file");
  return info;
}

/**
 * The entries of a listener's state directory, or none when it does not
 * exist. Names starting with `.` are left out.
 *
 * @throws {UnsafePathError} When a link or a file stands there.
 */
export async function readStateDir(listenerDir: string, state: string): Promise<Deno.DirEntry[]> {
  if (!await hasStateDir(listenerDir, state)) return [];
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(join(listenerDir, state))) {
      if (!entry.name.startsWith(".")) entries.push(entry);
    }
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  return entries;
}

/** When a file got where it is: its ctime (a rename sets it), else its mtime; `null` when neither is known. */
export function arrivedAt(info: Deno.FileInfo): Date | null {
  return info.ctime ?? info.mtime;
}

/** Whether an `error/` entry is a quarantine note rather than a quarantined or failed file. */
export function isReasonNote(name: string): boolean {
  return name.endsWith(Layout.REASON_SUFFIX);
}

/**
 * The tasks claimed in a listener's `inflight/`, by sequence number; none
 * when there is no `inflight/`.
 *
 * @throws {UnsafePathError} When a link or a file stands there.
 */
export async function listClaims(store: FileStore, listener: ListenerRef): Promise<Claim[]> {
  return await hasStateDir(listener.dir, Layout.INFLIGHT) ? store.listInflight(listener) : [];
}

/**
 * Creates a listener's state directory if it is missing (not its parents).
 *
 * @throws {UnsafePathError} When a link or a file stands there.
 */
export async function ensureStateDir(listenerDir: string, state: string): Promise<string> {
  try {
    await Deno.mkdir(join(listenerDir, state));
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
    await hasStateDir(listenerDir, state);
  }
  return join(listenerDir, state);
}

/**
 * Replaces `path`, a name this process owns in a listener directory, with
 * `text`: staged in `tmp/` (fsynced when `durable`), then renamed over it.
 */
export async function replaceOwnFile(
  store: FileStore,
  listener: ListenerRef,
  path: string,
  text: string,
  durable: boolean,
): Promise<void> {
  await ensureStateDir(listener.dir, Layout.TMP);
  const staged = store.stagingPath(listener, "rewrite");
  try {
    await writeFileSynced(staged, text, durable);
    await Deno.rename(staged, path);
  } finally {
    removeIfExists(staged);
  }
}

import { join } from "node:path";
import { Layout } from "../../protocol/layout.ts";
import { listenerId } from "../../protocol/listener_id.ts";
import { sequenceOf } from "../../protocol/task_file.ts";
import type { ListenerRef } from "./file_store.ts";
import { findListener, listListeners } from "./listeners.ts";
import { arrivedAt, isReasonNote, lstatIfExists, readStateDir } from "./_dir.ts";
import { isNotFound } from "./_fs.ts";
import type { ListenerPrune, PruneOptions, PruneReport } from "../operations.ts";

export type { ListenerPrune, PruneOptions, PruneReport } from "../operations.ts";

/**
 * Removes old files from the `archive/` (and, when asked, `error/`) of every
 * listener: those that got there at least `olderThanMs` ago, by their ctime
 * (which the rename into the directory set), else their mtime. In `error/`,
 * quarantined files go too, and every entry takes its `.reason.txt` note
 * along. Symbolic links are removed, never followed; directories are left.
 * Tasks pending or in flight are never touched.
 *
 * Requires `--allow-read` and `--allow-write` on the event root.
 *
 * @param root The event root.
 * @param options How old, which directories, which listeners.
 * @returns What was removed, per listener.
 * @throws {RangeError} When `olderThanMs` is not a non-negative number.
 * @throws {UnsafePathError} When the root is missing, or a link stands where
 * a state directory should be.
 * @throws {ListenerNotFoundError} When a listener named in `listeners` does
 * not exist.
 *
 * @example Keeping a week of archive
 * ```ts ignore
 * import { prune } from "jsr:@hurah/events";
 * const report = await prune("/var/lib/hurah", { olderThanMs: 7 * 24 * 3600_000 });
 * console.log(`${report.removed} archived tasks removed`);
 * ```
 */
export async function prune(root: string, options: PruneOptions): Promise<PruneReport> {
  const { olderThanMs } = options;
  if (typeof olderThanMs !== "number" || !(olderThanMs >= 0)) {
    throw new RangeError(`olderThanMs must be a non-negative number of milliseconds, found ${String(olderThanMs)}`);
  }
  const refs = options.listeners === undefined
    ? await listListeners(root)
    : await Promise.all(options.listeners.map((id) => findListener(root, id)));
  const cutoff = (options.now ?? (() => new Date()))().getTime() - olderThanMs;
  const dryRun = options.dryRun ?? false;
  const report: PruneReport = { listeners: [], removed: 0, dryRun };
  for (const ref of refs) {
    const pruned: ListenerPrune = {
      listener: listenerId(ref.name, ref.eventType),
      archive: (options.archive ?? true) ? await pruneArchive(ref, cutoff, dryRun) : 0,
      error: options.error ? await pruneError(ref, cutoff, dryRun) : 0,
    };
    report.listeners.push(pruned);
    report.removed += pruned.archive + pruned.error;
  }
  return report;
}

/** Removes a path if it got there before `cutoff`; says whether it was old enough. */
async function removeIfOld(path: string, cutoff: number, dryRun: boolean): Promise<boolean> {
  const info = await lstatIfExists(path);
  const since = info && arrivedAt(info);
  if (!since || since.getTime() > cutoff) return false;
  if (dryRun) return true;
  try {
    await Deno.remove(path); // a link itself, never its target
    return true;
  } catch (error) {
    if (isNotFound(error)) return false; // removed meanwhile
    throw error;
  }
}

async function pruneArchive(ref: ListenerRef, cutoff: number, dryRun: boolean): Promise<number> {
  let removed = 0;
  for (const entry of await readStateDir(ref.dir, Layout.ARCHIVE)) {
    if (!entry.isFile || sequenceOf(entry.name) === undefined) continue;
    if (await removeIfOld(join(ref.dir, Layout.ARCHIVE, entry.name), cutoff, dryRun)) removed++;
  }
  return removed;
}

async function pruneError(ref: ListenerRef, cutoff: number, dryRun: boolean): Promise<number> {
  const dir = join(ref.dir, Layout.ERROR);
  const entries = await readStateDir(ref.dir, Layout.ERROR);
  const names = new Set(entries.map((entry) => entry.name));
  let removed = 0;
  for (const entry of entries) {
    if (entry.isDirectory || isReasonNote(entry.name)) continue;
    if (!await removeIfOld(join(dir, entry.name), cutoff, dryRun)) continue;
    removed++;
    const note = entry.name + Layout.REASON_SUFFIX;
    if (names.has(note) && !dryRun) await Deno.remove(join(dir, note)).catch(ignoreNotFound);
    names.delete(note);
  }
  // Notes whose file is gone (removed by hand, or a crash between the two removals).
  for (const name of names) {
    if (!isReasonNote(name) || names.has(name.slice(0, -Layout.REASON_SUFFIX.length))) continue;
    const entry = entries.find((candidate) => candidate.name === name);
    if (entry?.isFile) await removeIfOld(join(dir, name), cutoff, dryRun);
  }
  return removed;
}

function ignoreNotFound(error: unknown): void {
  if (!isNotFound(error)) throw error;
}

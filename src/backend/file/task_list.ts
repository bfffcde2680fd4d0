import { join } from "node:path";
import { CorruptFileError } from "../../errors.ts";
import { listenerId } from "../../protocol/listener_id.ts";
import { decodeTask, DEFAULT_MAX_TASK_SIZE, sequenceOf } from "../../protocol/task_file.ts";
import { findListener } from "./listeners.ts";
import { arrivedAt, lstatIfExists } from "./_dir.ts";
import { Listings } from "./_listings.ts";
import { isNotFound, readRegularFile, type RegularFileRead } from "./_fs.ts";
import type { ListedTask, TaskList, TaskListOptions } from "../operations.ts";

export type { ListedLocation, ListedTask, TaskList, TaskListOptions } from "../operations.ts";

/** Task files kept beyond `limit`, to stand in for those that vanish while they are read. */
const READ_SPARE = 16;

/**
 * Lists the first task files of one state directory of a listener
 * (`inbox/`, `error/` or `archive/`), lowest or highest sequence number
 * first, and reads at most `limit` of them. Counting the directory reads no
 * task file. Reads only; never follows a symbolic link.
 *
 * Requires `--allow-read` on the event root.
 *
 * @param root The event root.
 * @param options The listener, the state, how many, which end first.
 * @returns The count of task files there and the first `limit` of them.
 * @throws {ListenerNotFoundError} When the listener does not exist.
 * @throws {InvalidNameError} When the listener id is invalid.
 * @throws {UnsafePathError} When a link or a file stands where the state directory should be.
 * @throws {RangeError} When `limit` is not a non-negative integer.
 *
 * @example The latest errors of a listener
 * ```ts ignore
 * import { listTasks } from "jsr:@hurah/events";
 * const { total, tasks } = await listTasks("/var/lib/hurah", {
 *   listener: "product/created/image_scaler",
 *   location: "error",
 *   newest: true,
 *   limit: 10,
 * });
 * console.log(`${total} in error/`, tasks.map((t) => t.task?.failures?.at(-1)?.message));
 * ```
 */
export function listTasks(root: string, options: TaskListOptions): Promise<TaskList> {
  return listTasksWith(root, options, new Listings());
}

/** {@linkcode listTasks}, reusing what `listings` remembers of a directory unchanged since (the dashboard asks again and again). */
export async function listTasksWith(root: string, options: TaskListOptions, listings: Listings): Promise<TaskList> {
  const limit = options.limit ?? 50;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new RangeError(`limit must be a non-negative integer, found ${JSON.stringify(limit)}`);
  }
  const now = (options.now ?? (() => new Date()))().getTime();
  const ref = await findListener(root, options.listener);
  const dir = join(ref.dir, options.location);
  // The first `limit` by sequence number, kept while listing: a million-task inbox is not sorted for fifty.
  // Kept in `listings` while the directory is unchanged: the dashboard's listener page asks again and again.
  const kind = `first ${limit}${options.newest ? " newest" : ""}`;
  const { first, total } = await listings.summary(ref.dir, options.location, kind, (entries) => {
    const first: { file: string; sequence: number }[] = [];
    const before = (a: number, b: number) => options.newest ? a > b : a < b;
    let total = 0;
    for (const entry of entries) {
      const sequence = entry.isFile ? sequenceOf(entry.name) : undefined;
      if (sequence === undefined) continue;
      total++;
      if (first.length === limit + READ_SPARE && !before(sequence, first.at(-1)!.sequence)) continue;
      let at = first.length;
      while (at > 0 && before(sequence, first[at - 1].sequence)) at--;
      first.splice(at, 0, { file: entry.name, sequence });
      if (first.length > limit + READ_SPARE) first.pop();
    }
    return { first, total };
  });
  const tasks: ListedTask[] = [];
  for (const { file, sequence } of first) {
    if (tasks.length >= limit) break;
    const listed = await readListed(join(dir, file), sequence, now);
    if (listed !== undefined) tasks.push(listed);
  }
  return { listener: listenerId(ref.name, ref.eventType), location: options.location, total, tasks };
}

/** One task file, or `undefined` when it vanished meanwhile (handled, requeued, pruned). */
async function readListed(path: string, sequence: number, now: number): Promise<ListedTask | undefined> {
  const info = await lstatIfExists(path);
  if (info === undefined) return undefined;
  const since = arrivedAt(info);
  const listed: ListedTask = {
    sequence,
    since: since?.toISOString() ?? null,
    ageMs: since === null ? null : now - since.getTime(),
    task: null,
    problem: null,
  };
  let read: RegularFileRead;
  try {
    read = readRegularFile(path, DEFAULT_MAX_TASK_SIZE); // no link followed, no FIFO waited on
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  if (read.kind === "not a file") listed.problem = `not a regular file (a ${read.found}); not read`;
  else if (read.kind === "too large") listed.problem = `too large: ${read.size} bytes; not read`;
  else {
    try {
      listed.task = decodeTask(read.bytes, sequence);
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      listed.problem = `corrupt task file: ${error.message}`;
    }
  }
  return listed;
}

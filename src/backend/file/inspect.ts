import { join } from "node:path";
import { CorruptFileError } from "../../errors.ts";
import { Layout } from "../../protocol/layout.ts";
import { listenerId } from "../../protocol/listener_id.ts";
import { decodeTask, DEFAULT_MAX_TASK_SIZE } from "../../protocol/task_file.ts";
import { findListener } from "./listeners.ts";
import { FileStore } from "./file_store.ts";
import { arrivedAt, hasStateDir, listClaims, lstatIfExists } from "./_dir.ts";
import { isNotFound, readRegularFile, readTextIfExists, type RegularFileRead } from "./_fs.ts";
import type { FoundTask, InspectOptions, TaskInspection, TaskLocation } from "../operations.ts";

export type { FoundTask, InspectOptions, TaskInspection, TaskLocation } from "../operations.ts";

const TEXT_LIMIT = 4096;

/**
 * Finds a task in its listener's `inbox/`, `inflight/`, `archive/` and
 * `error/` (quarantined copies included, with their notes) and reads it.
 * Reads only; never follows a symbolic link.
 *
 * Requires `--allow-read` on the event root.
 *
 * @param root The event root.
 * @param options The listener and the sequence number.
 * @returns Where the task was found, with its record; `found` is empty when
 * it is nowhere.
 * @throws {ListenerNotFoundError} When the listener does not exist.
 * @throws {InvalidNameError} When the listener id is invalid.
 * @throws {UnsafePathError} When a link stands where a directory should be.
 *
 * @example Showing why a task failed
 * ```ts ignore
 * import { inspectTask } from "jsr:@hurah/events";
 * const { found } = await inspectTask("/var/lib/hurah", { listener: "product/created/image_scaler", sequence: 3 });
 * for (const file of found) {
 *   console.log(file.location, file.task?.failures?.at(-1)?.message ?? file.problem);
 * }
 * ```
 */
export async function inspectTask(root: string, options: InspectOptions): Promise<TaskInspection> {
  const { sequence } = options;
  if (!Number.isSafeInteger(sequence) || sequence < 1) {
    throw new RangeError(`sequence must be a positive integer, found ${JSON.stringify(sequence)}`);
  }
  const ref = await findListener(root, options.listener);
  const file = `${sequence}.json`;
  const found: FoundTask[] = [];
  /** Adds the file if it is there; says whether it was. */
  const look = async (location: TaskLocation, name: string, worker: string | null = null) => {
    const path = join(ref.dir, location, name);
    const info = await lstatIfExists(path);
    if (info !== undefined) found.push(await describe(location, name, path, info, worker, sequence));
    return info !== undefined;
  };
  if (await hasStateDir(ref.dir, Layout.INBOX)) await look("inbox", file);
  for (const claim of await listClaims(new FileStore(root), ref)) {
    if (claim.task === file) await look("inflight", claim.file, claim.owner);
  }
  if (await hasStateDir(ref.dir, Layout.ARCHIVE)) await look("archive", file);
  if (await hasStateDir(ref.dir, Layout.ERROR)) {
    await look("error", file);
    // Quarantine names a file <N>.json.<k> when <N>.json or its note was taken.
    for (let k = 1;; k++) {
      const name = `${file}.${k}`;
      const note = join(ref.dir, Layout.ERROR, name + Layout.REASON_SUFFIX);
      if (!await look("error", name) && await lstatIfExists(note) === undefined) break;
    }
  }
  return { listener: listenerId(ref.name, ref.eventType), dir: ref.dir, sequence, found };
}

async function describe(
  location: TaskLocation,
  file: string,
  path: string,
  info: Deno.FileInfo,
  worker: string | null,
  sequence: number,
): Promise<FoundTask> {
  const result: FoundTask = {
    location,
    file,
    path,
    worker,
    since: arrivedAt(info)?.toISOString() ?? null,
    task: null,
    problem: null,
    text: null,
    reason: null,
  };
  if (location === "error") {
    const note = path + Layout.REASON_SUFFIX;
    if ((await lstatIfExists(note))?.isFile) result.reason = (await readTextIfExists(note))?.trim() ?? null;
  }
  if (info.isSymlink) result.problem = "a symbolic link (not followed)";
  else if (info.isDirectory) result.problem = "a directory, not a task file";
  else if (!info.isFile) result.problem = "not a regular file";
  if (result.problem !== null) return result;
  let read: RegularFileRead;
  try {
    read = readRegularFile(path, DEFAULT_MAX_TASK_SIZE); // no link followed, no FIFO waited on
  } catch (error) {
    if (!isNotFound(error)) throw error;
    result.problem = "the file vanished while it was being read";
    return result;
  }
  if (read.kind === "not a file") {
    result.problem = `not a regular file (a ${read.found} was swapped in); not read`;
    return result;
  }
  if (read.kind === "too large") {
    result.problem =
      `too large: ${read.size} bytes, over the ${DEFAULT_MAX_TASK_SIZE} bytes a runner reads by default; not read`;
    return result;
  }
  try {
    result.task = decodeTask(read.bytes, sequence);
  } catch (error) {
    if (!(error instanceof CorruptFileError)) throw error;
    result.problem = `corrupt task file: ${error.message}`;
    result.text = new TextDecoder().decode(read.bytes.subarray(0, 4 * TEXT_LIMIT)).slice(0, TEXT_LIMIT);
  }
  return result;
}

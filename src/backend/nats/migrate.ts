/**
 * `hurah migrate`: the pending tasks of a file root's listeners moved to
 * NATS. Each listener is registered on the broker; each task file of its
 * `inbox/` is published, as it is, to the listener's requeue subject
 * (`NatsBackend.adopt()`), then renamed into the listener's `migrated/`
 * directory: a task in `migrated/` is on the broker, so a second run
 * publishes nothing twice. See docs/scale-out.md, "Moving over".
 */
import { join } from "node:path";
import { CorruptFileError } from "../../errors.ts";
import { Layout } from "../../protocol/layout.ts";
import { checkListener } from "../../protocol/listener_id.ts";
import { decodeTask, DEFAULT_MAX_TASK_SIZE, sequenceOf } from "../../protocol/task_file.ts";
import { listListeners } from "../file/listeners.ts";
import type { ListenerRef } from "../file/file_store.ts";
import { ensureStateDir, readStateDir } from "../file/_dir.ts";
import { isNotFound, lockFile, readRegularFile, syncDir } from "../file/_fs.ts";
import type { ListenerMigration, MigrationReport } from "../migration.ts";
import type { NatsBackend } from "./backend.ts";
import { consumerName, EVENT_STREAM } from "./subjects.ts";

export type { ListenerMigration, MigrationLeftover, MigrationReport } from "../migration.ts";

/** Where a listener's migrated task files go, beside `inbox/` (hurah's; PHP never looks there). */
export const MIGRATED_DIR = "migrated";

/** Options of {@linkcode migrateRoot}. */
export interface MigrateOptions {
  /**
   * Look and report only: nothing is published, registered, created or moved.
   * @default {false}
   */
  dryRun?: boolean;
  /**
   * How many tasks are published at once before their files are moved (at
   * most these are published but not moved yet when the process dies).
   * @default {256}
   */
  batch?: number;
  /**
   * The largest task file read, in bytes; a larger one is left in the inbox.
   * @default {16 MiB}
   */
  maxTaskSize?: number;
  /**
   * Called with each listener's result as soon as it is done.
   * @default {undefined}
   */
  onListener?: (migration: ListenerMigration) => void;
}

/**
 * Moves the pending tasks of every listener of a file root to a NATS
 * broker, keeping each task's sequence, retry count and failure records
 * (a task due later stays due later). Registers every listener of the root
 * on the broker (its consumers), also those with no pending task.
 *
 * Idempotent: each task is published, then its file renamed from `inbox/`
 * to `migrated/`; a second run finds nothing left to publish. A run killed
 * between a publish and its rename publishes that task again when run
 * again, and the broker stores it once: the publish carries a `Nats-Msg-Id`
 * made of the consumer, the sequence and the SHA-256 of the file, which the
 * stream drops as a duplicate within its duplicate window (2 minutes). Run
 * again later than that, the at most `batch` tasks published at the moment
 * of the kill may be stored twice.
 *
 * Refuses to start while a runner works a listener of the root (its
 * `run.lock` is held, shared by parallel workers too), and holds every
 * listener's run lock while it runs. Task files claimed by a parallel worker
 * that died (`inflight/`) are left where they are and reported: `hurah run`
 * of that listener puts them back, and a second migrate takes them. Stop
 * the dispatchers writing to the root first, and PHP runners (which take no
 * lock).
 *
 * Requires `--allow-read` and `--allow-write` on the event root, and
 * `--allow-net` to the broker.
 *
 * @param root The event root.
 * @param backend The NATS backend to move the tasks to.
 * @param options A dry run, the batch size, a progress callback.
 * @returns Per listener: the tasks published, those the broker had already, those left.
 * @throws {UnsafePathError} When the root does not exist or is not a directory, or a link stands in it.
 * @throws {LockTimeoutError} When a runner holds a listener's run lock (nothing is published then).
 *
 * @example Moving a root's pending tasks to NATS
 * ```ts ignore
 * import { migrateRoot, NatsBackend } from "jsr:@hurah/events/nats";
 * await using backend = await NatsBackend.connect("nats://127.0.0.1:4222");
 * const report = await migrateRoot("/var/lib/hurah", backend);
 * for (const each of report.listeners) console.log(each.listener, each.published.length);
 * ```
 */
export async function migrateRoot(
  root: string,
  backend: NatsBackend,
  options: MigrateOptions = {},
): Promise<MigrationReport> {
  const dryRun = options.dryRun ?? false;
  const batch = options.batch ?? 256;
  if (!Number.isSafeInteger(batch) || batch < 1) throw new RangeError(`batch must be at least 1, found ${batch}`);
  const listeners = await listListeners(root);
  const locks: Deno.FsFile[] = [];
  try {
    for (const listener of listeners) {
      const path = join(listener.dir, Layout.RUN_LOCK);
      if (dryRun && !await hasFile(path)) continue; // nobody holds a lock file that is not there; create nothing
      const lock = await lockFile(path, { timeoutMs: 0 }); // throws LockTimeoutError, naming the holder
      if (dryRun) lock.close();
      else locks.push(lock);
    }
    const report: MigrationReport = { root, broker: backend.location, dryRun, listeners: [] };
    for (const listener of listeners) {
      const migration = await migrateListener(listener, backend, { ...options, dryRun, batch });
      options.onListener?.(migration);
      report.listeners.push(migration);
    }
    return report;
  } finally {
    for (const lock of locks.reverse()) lock.close();
  }
}

/** Whether a file exists (a link counts: `lockFile` refuses it). */
async function hasFile(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** Moves one listener's pending tasks, its run lock held. */
async function migrateListener(
  ref: ListenerRef,
  backend: NatsBackend,
  options: MigrateOptions & { dryRun: boolean; batch: number },
): Promise<ListenerMigration> {
  const listener = checkListener(ref.name, ref.eventType);
  const location = options.dryRun
    ? `${EVENT_STREAM}/${await consumerName(listener.id)}`
    : (await backend.register(listener)).location;
  const migration: ListenerMigration = { listener: ref.id, location, published: [], alreadyThere: [], left: [] };
  const inbox: { sequence: number; name: string }[] = [];
  for (const entry of await readStateDir(ref.dir, Layout.INBOX)) {
    const sequence = sequenceOf(entry.name);
    if (sequence === undefined) {
      migration.left.push({ file: `${Layout.INBOX}/${entry.name}`, reason: "not a task file name (<N>.json)" });
    } else inbox.push({ sequence, name: entry.name });
  }
  inbox.sort((a, b) => a.sequence - b.sequence);
  for (const entry of await readStateDir(ref.dir, Layout.INFLIGHT)) {
    migration.left.push({
      file: `${Layout.INFLIGHT}/${entry.name}`,
      reason: "claimed by a parallel worker that is gone; `hurah run` of this listener puts it back, " +
        "then migrate again",
    });
  }
  const maxTaskSize = options.maxTaskSize ?? DEFAULT_MAX_TASK_SIZE;
  const migrated = options.dryRun || inbox.length === 0 ? undefined : await ensureStateDir(ref.dir, MIGRATED_DIR);
  const inboxDir = join(ref.dir, Layout.INBOX);
  for (let start = 0; start < inbox.length; start += options.batch) {
    const tasks: { sequence: number; name: string; bytes: Uint8Array; id: string }[] = [];
    for (const { sequence, name } of inbox.slice(start, start + options.batch)) {
      const file = `${Layout.INBOX}/${name}`;
      const read = readTaskFile(join(inboxDir, name), sequence, maxTaskSize);
      if (typeof read === "string") migration.left.push({ file, reason: read });
      else if (read !== undefined) tasks.push({ sequence, name, bytes: read, id: await migrationId(location, read) });
    }
    if (options.dryRun) {
      migration.published.push(...tasks.map((task) => task.sequence));
      continue;
    }
    const results = await backend.adopt(listener, tasks);
    for (const [index, result] of results.entries()) {
      const task = tasks[index];
      if (result instanceof Error) {
        migration.left.push({ file: `${Layout.INBOX}/${task.name}`, reason: `not published: ${result.message}` });
        continue;
      }
      try {
        await Deno.rename(join(inboxDir, task.name), join(migrated!, task.name));
      } catch (error) {
        if (!isNotFound(error)) throw error;
        // Taken meanwhile by a runner that takes no lock (PHP's): it is on the broker too.
        migration.left.push({
          file: `${Layout.INBOX}/${task.name}`,
          reason: "published, but gone from the inbox before it was moved (a PHP runner?): it may run twice",
        });
        continue;
      }
      (result === "duplicate" ? migration.alreadyThere : migration.published).push(task.sequence);
    }
    await syncDir(migrated!);
    await syncDir(inboxDir);
  }
  return migration;
}

/** A task file's bytes, or why it is left in the inbox, or `undefined` when it is gone. */
function readTaskFile(path: string, sequence: number, maxTaskSize: number): Uint8Array | string | undefined {
  let read;
  try {
    read = readRegularFile(path, maxTaskSize);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  if (read.kind === "not a file") return `not a regular file: a ${read.found}`;
  if (read.kind === "too large") return `${read.size} bytes, over the limit of ${maxTaskSize} (maxTaskSize)`;
  try {
    decodeTask(read.bytes, sequence);
  } catch (error) {
    if (!(error instanceof CorruptFileError)) throw error;
    return `not a task: ${error.message}; mend it or move it to error/ by hand`;
  }
  return read.bytes;
}

/** The `Nats-Msg-Id` of a migrated task: its consumer and the SHA-256 of its file (which holds its sequence). */
export async function migrationId(location: string, bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return `migrate:${location}:${[...digest.slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

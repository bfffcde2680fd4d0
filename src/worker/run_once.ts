import type { ArchivePolicy, RunEvent, RunReport } from "./report.ts";
import { fileQueue, OrderedFileQueue } from "../backend/file/listener_queue.ts";
import { checkHandlerName, parseEventType } from "../protocol/names.ts";
import { FileStore } from "../store/file_store.ts";
import type { LockWait } from "../store/_fs.ts";
import { prune } from "../store/prune.ts";
import { listenerId } from "../protocol/listener_id.ts";
import { type HandlerFunction, type HandlerLike, toHandler } from "./handler.ts";
import { emptyReport } from "./report.ts";
import { DEFAULTS, resolveSettings, TMP_MAX_AGE_MS } from "./_settings.ts";
import { ListenerLoop } from "./_loop.ts";
import { TaskRunner } from "./_task_runner.ts";

export type { ArchivePolicy, RunEvent, RunReport } from "./report.ts";

/** Options of {@linkcode runOnce}. */
export interface RunOptions {
  /** The handler name; its directory is `<name>_listener`. */
  name: string;
  /** The event type it listens to; `""` for the root. */
  eventType: string;
  /** The handler: a `Handler`, an object with `handleTask`, or a function. */
  handler: HandlerLike | HandlerFunction;
  /**
   * Stops the pass before the next task, and is passed on to the handler.
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * How long to wait for the listener's run lock while another runner holds
   * it, in milliseconds; then a `LockTimeoutError` is thrown and nothing is
   * handled. 0 tries once (as `flock -n`). The wait also ends when `signal`
   * aborts, rejecting with its reason.
   * @default {Infinity} (until the other runner is done: its pass may take long)
   */
  lockTimeoutMs?: number;
  /**
   * Called once when the wait for the run lock has lasted a second, with the
   * lock file and the holder's pid when known.
   * @default {one line on stderr}
   */
  onLockWait?: (wait: LockWait) => void;
  /**
   * Called for every task handled and every file quarantined.
   * @default {undefined}
   */
  onEvent?: (event: RunEvent) => void;
  /**
   * After `signal` aborts, how long the running task may go on before its
   * context's signal aborts too; it then stays in the inbox untouched.
   * @default {10000}
   */
  graceMs?: number;
  /**
   * Per-task time limit in milliseconds; 0 for none. A task that runs longer
   * has its signal aborted and counts as a RETRY whose reason (TIMEOUT) is
   * recorded, so it goes to `error/` once its retries are used up. A module
   * handler that ignores its signal keeps running in the background.
   * @default {0}
   */
  timeoutMs?: number;
  /**
   * Delay before retry `attempt` for handlers without a `retryDelay` method.
   * @default {() => 0} (retry in the next pass, as PHP)
   */
  retryDelay?: (attempt: number) => number;
  /**
   * Flush rewritten task files to disk before they replace the old ones.
   * @default {true}
   */
  durable?: boolean;
  /**
   * An unparsable inbox file younger than this is taken for one still being
   * written (the PHP dispatcher writes in place): the pass stops there and
   * it is tried again later. Older ones are quarantined.
   * @default {10000}
   */
  incompleteGraceMs?: number;
  /**
   * The largest task file, in bytes, that the runner reads. A larger one is
   * quarantined unread (a task file is read whole into memory, and a
   * runner that cannot read it would fail on it in every pass). The
   * dispatcher refuses payloads whose task file would be larger (its own
   * `maxTaskSize`, same default).
   * @default {16777216} (16 MiB)
   */
  maxTaskSize?: number;
  /**
   * The clock, for tests.
   * @default {() => new Date()}
   */
  now?: () => Date;
  /**
   * What SUCCESS does with a task: `"keep"` it in `archive/`, `"delete"` it
   * at once, or `{ keepMs }`: keep it, and after each pass delete archived
   * tasks older than that.
   * @default {"keep"}
   */
  archive?: ArchivePolicy;
  /**
   * How many tasks to handle at once. 1 is ordered mode: one task at a time,
   * in sequence order, under an exclusive run lock. More is parallel mode:
   * tasks are claimed into `inflight/` (best-effort FIFO by claim), any
   * number of processes may work the listener together, and a claim whose
   * worker died or lost its lease is put back into the inbox with the lost
   * attempt counted (see `maxLost`): at-least-once delivery.
   * @default {1}
   */
  concurrency?: number;
  /**
   * How many times a task may be lost (its parallel worker died or lost its
   * lease while handling it) and still go back to the inbox; the next loss
   * sends it to `error/`, with every `LOST` record. Counted in the task's
   * `lost_count`, apart from `maxAttempts()` and `retry_count` (as BullMQ's
   * `maxStalledCount`), so that killed workers do not fill `error/`.
   * @default {3}
   */
  maxLost?: number;
  /**
   * Parallel mode: this host's id. Workers of the same host are known dead by
   * their free flock; those of other hosts by their expired lease.
   * @default {the hostname (with --allow-sys=hostname), else "localhost"}
   */
  hostId?: string;
  /**
   * Parallel mode: how long a worker's lease lasts without renewal (it is
   * renewed every third of this while the worker runs). A worker frozen for
   * longer loses its claims to others.
   * @default {30000}
   */
  leaseMs?: number;
}

/**
 * Works one listener's inbox once, as PHP's `worker:runner` does: registers
 * the listener, then runs the handler for every pending task in sequence
 * order, and returns when the inbox holds nothing left to try in this pass.
 *
 * Only one runner works a listener at a time: a second one waits for the
 * first to finish, then makes its own pass, so a task that arrives while the
 * first is finishing is handled by the second. That wait says on stderr
 * after a second who it waits for (`onLockWait`), and ends at
 * `lockTimeoutMs` or when `signal` aborts.
 *
 * Requires `--allow-read` and `--allow-write` on the event root.
 *
 * @param root The event root; created if missing.
 * @param options The listener, the handler and how to run it.
 * @returns What the pass did; `failedAt` is set when a task returned FAILURE.
 * @throws {InvalidNameError} When the name or event type is invalid.
 * @throws {UnsafePathError} When a link or file stands where a listener
 * directory should be.
 * @throws {TaskMoveError} When a task's handler ran but the task could not be
 * moved on (its fate is kept: the next pass only retries the move).
 * @throws {LockTimeoutError} When another runner still holds the run lock
 * after `lockTimeoutMs`; nothing was handled.
 * @throws The reason of `signal`, when it aborts while waiting for the run
 * lock; nothing was handled.
 *
 * @example One pass over a listener
 * ```ts ignore
 * import { runOnce, Task } from "jsr:@hurah/events";
 * const report = await runOnce("/var/lib/hurah", {
 *   name: "image_scaler",
 *   eventType: "product/created",
 *   handler: (context) => {
 *     console.log(context.payload);
 *     return Task.SUCCESS;
 *   },
 * });
 * console.log(`${report.archived} archived`);
 * ```
 */
export async function runOnce(root: string, options: RunOptions): Promise<RunReport> {
  checkHandlerName(options.name);
  parseEventType(options.eventType);
  const handler = toHandler(options.handler);
  const settings = resolveSettings(options, { retryDelay: () => 0, reapIntervalMs: DEFAULTS.rescanIntervalMs });
  const store = new FileStore(root, { durable: options.durable ?? true });
  const listener = await store.register(options.name, options.eventType);
  const report = emptyReport(listener.dir);
  const { pass, parallel, concurrency } = settings;
  const queue = fileQueue(
    store,
    listener,
    { maxTaskSize: pass.maxTaskSize, archive: pass.archive },
    parallel && {
      ...parallel,
      worker: pass.worker,
      now: pass.now,
    },
  );
  const runner = new TaskRunner(queue, listener, handler, pass);
  // Ordered runners take the run lock exclusively, parallel workers shared: the two never work a listener at once.
  const wait = { signal: options.signal, timeoutMs: options.lockTimeoutMs, onWait: options.onLockWait };
  const lock = await store.lockRunner(listener, parallel !== undefined, wait);
  try {
    store.sweepTmp(listener, TMP_MAX_AGE_MS);
    if (queue instanceof OrderedFileQueue) {
      await queue.recoverOrphans(pass.worker, (task, why) => runner.recover(report, task, why));
    } else await queue.open(); // its first take takes back dead workers' claims
    await using _ = queue;
    Object.assign(report, await new ListenerLoop(queue, runner, concurrency).pass(report));
  } finally {
    lock.close();
  }
  if (settings.keepArchiveMs !== undefined && report.archived > 0) {
    await prune(store.root, {
      olderThanMs: settings.keepArchiveMs,
      listeners: [listenerId(listener.name, listener.eventType)],
      now: pass.now,
    });
  }
  return report;
}

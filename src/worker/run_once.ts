import type { Fate } from "../protocol/transition.ts";
import { DEFAULT_MAX_TASK_SIZE } from "../protocol/task_file.ts";
import { checkHandlerName, parseEventType } from "../protocol/names.ts";
import { FileStore, type ListenerRef, type LockWaitOptions } from "../store/file_store.ts";
import type { LockWait } from "../store/_fs.ts";
import { prune } from "../store/prune.ts";
import { listenerId } from "../protocol/listener_id.ts";
import { type HandlerFunction, type HandlerLike, toHandler } from "./handler.ts";
import { emptyReport, Pass, type PassSettings, recoverClaims } from "./_pass.ts";
import { hostId, workerId } from "./_worker_id.ts";
import { ParallelPass, type ParallelSettings } from "./_parallel.ts";

/** Something that happened during a pass, for logs. */
export type RunEvent =
  | {
    /** A handler ran for a task (or a task's earlier fate was completed). */
    type: "task";
    /** The handler name. */
    listener: string;
    /** The task's sequence number. */
    sequence: number;
    /** `SUCCESS`, `FAILURE`, `RETRY`, `INVALID`, `ERROR` (thrown or bad return), `TIMEOUT`, `LOST` or `ABORTED`. */
    result: string;
    /** What happened to the task. */
    fate: Fate["fate"];
    /** How long the handler ran, in milliseconds. */
    durationMs: number;
    /** Why, for anything but SUCCESS and a returned RETRY, and for a move an earlier attempt decided. */
    message?: string;
    /** For a retry with a delay: milliseconds until the task is due again. */
    retryInMs?: number;
  }
  | {
    /** A handler wrote a line: `TaskContext.log()`, or a line of an exec handler's standard error. */
    type: "output";
    /** The handler name. */
    listener: string;
    /** The task's sequence number. */
    sequence: number;
    /** The line, without its newline. */
    line: string;
  }
  | {
    /** A file that is not a task was moved to `error/`. */
    type: "quarantine";
    /** The handler name. */
    listener: string;
    /** The file's name in the inbox. */
    file: string;
    /** Why it was quarantined. */
    reason: string;
  }
  | {
    /** The pass stopped at a file that looks half-written; it is tried again later. */
    type: "waiting";
    /** The handler name. */
    listener: string;
    /** The file's name in the inbox. */
    file: string;
    /** What is wrong with it. */
    reason: string;
  }
  | {
    /** A parallel worker's task was taken over by another worker (its lease had lapsed); its result is discarded. */
    type: "lost";
    /** The handler name. */
    listener: string;
    /** The task's sequence number. */
    sequence: number;
    /** What happened. */
    message: string;
  }
  | {
    /** How many tasks a pass found waiting when it started (for progress displays). */
    type: "backlog";
    /** The handler name. */
    listener: string;
    /** Task files in the inbox. */
    pending: number;
  }
  | {
    /** A watched listener paused after FAILURE, or resumed. */
    type: "paused";
    /** The handler name. */
    listener: string;
    /** The task that returned FAILURE. */
    sequence: number;
    /** Milliseconds until the same task is tried again. */
    retryInMs: number;
  }
  | {
    /**
     * A watched listener's pass stopped on an unexpected error (the file
     * system refused a move, a state directory was replaced by a file...).
     * That listener pauses and tries again after `retryInMs`; the others go
     * on. (`runOnce()` throws such an error instead.)
     */
    type: "fault";
    /** The handler name. */
    listener: string;
    /** The error, with its stack. */
    message: string;
    /** Milliseconds until the listener tries again. */
    retryInMs: number;
  }
  | {
    /** A watcher re-listed an inbox because file events may have been lost. */
    type: "rescan";
    /** The handler name. */
    listener: string;
    /** Why: `overflow` (the file watcher dropped events), or `watcher error: <message>` (it is restarted). */
    reason: string;
  };

/** What SUCCESS does with a task; see `RunOptions.archive`. */
export type ArchivePolicy = "keep" | "delete" | { keepMs: number };

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

/** What one pass did. */
export interface RunReport {
  /** The listener's directory. */
  listenerDir: string;
  /** How many times the handler ran. */
  handled: number;
  /** Tasks moved to `archive/`. */
  archived: number;
  /** Tasks moved to `error/` (INVALID, retries used up, thrown, bad return). */
  errored: number;
  /** Tasks left in the inbox for a later retry. */
  retried: number;
  /** Files that were not valid tasks, moved to `error/` with a reason. */
  quarantined: number;
  /** The sequence number of the task that returned FAILURE and stopped the pass. */
  failedAt?: number;
  /** The file the pass stopped at because it looked half-written. */
  waitingFor?: string;
  /** Tasks taken back from parallel workers that died or lost their lease (each counted in `lost_count`). */
  recovered: number;
  /** Results discarded because another worker had taken the task over (this worker's lease lapsed). */
  lost: number;
  /** Whether the signal stopped the pass early. */
  aborted: boolean;
  /** When the earliest task waiting for a retry delay is due (epoch ms). */
  nextDueAt?: number;
}

/** Staging files older than this were left by killed processes. */
export const TMP_MAX_AGE_MS = 60 * 60 * 1000;

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
  const store = new FileStore(root, { durable: options.durable ?? true });
  const listener = await store.register(options.name, options.eventType);
  const settings = passSettings(options);
  const concurrency = checkConcurrency(options.concurrency ?? 1);
  const keepMs = archiveKeepMs(options.archive);
  const report = await runLocked(store, listener, handler, settings, options, concurrency);
  if (keepMs !== undefined && report.archived > 0) {
    await prune(store.root, {
      olderThanMs: keepMs,
      listeners: [listenerId(listener.name, listener.eventType)],
      now: settings.now,
    });
  }
  return report;
}

/** The retention of `{ keepMs }`, checked; `undefined` for the other policies. */
export function archiveKeepMs(policy: ArchivePolicy | undefined): number | undefined {
  if (policy === undefined || policy === "keep" || policy === "delete") return undefined;
  if (typeof policy !== "object" || !(policy.keepMs >= 0)) {
    throw new RangeError(`archive must be "keep", "delete" or { keepMs: <milliseconds> }, found ${String(policy)}`);
  }
  return policy.keepMs;
}

async function runLocked(
  store: FileStore,
  listener: ListenerRef,
  handler: HandlerLike,
  settings: PassSettings,
  options: RunOptions,
  concurrency: number,
): Promise<RunReport> {
  const report = emptyReport(listener.dir);
  if (concurrency === 1) {
    const lock = await store.lockRunner(listener, false, lockWait(options));
    try {
      store.sweepTmp(listener, TMP_MAX_AGE_MS);
      const pass = new Pass(store, listener, handler, settings);
      await recoverClaims(pass.runner, pass.queue, report);
      return await pass.run(report);
    } finally {
      lock.close();
    }
  }
  const pass = new ParallelPass(store, listener, handler, settings, parallelSettings(options, concurrency));
  const lock = await store.lockRunner(listener, true, lockWait(options));
  try {
    store.sweepTmp(listener, TMP_MAX_AGE_MS);
    await pass.open();
    try {
      return await pass.run(report); // it takes back dead workers' claims first
    } finally {
      await pass.close();
    }
  } finally {
    lock.close();
  }
}

/** Checks a task size limit, or gives the default. */
export function checkMaxTaskSize(maxTaskSize: number | undefined): number {
  if (maxTaskSize === undefined) return DEFAULT_MAX_TASK_SIZE;
  if (!Number.isSafeInteger(maxTaskSize) || maxTaskSize < 1) {
    throw new RangeError(`maxTaskSize must be a whole number of bytes, at least 1, found ${maxTaskSize}`);
  }
  return maxTaskSize;
}

/** How runOnce() waits for the run lock. */
function lockWait(options: RunOptions): LockWaitOptions {
  return { signal: options.signal, timeoutMs: options.lockTimeoutMs, onWait: options.onLockWait };
}

/** Checks a concurrency setting. */
export function checkConcurrency(concurrency: number): number {
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a whole number of at least 1, found ${concurrency}`);
  }
  return concurrency;
}

/** Fills in the defaults of parallel mode. */
export function parallelSettings(
  options: { hostId?: string; leaseMs?: number },
  concurrency: number,
  reapIntervalMs = 10_000,
): ParallelSettings {
  const leaseMs = options.leaseMs ?? 30_000;
  if (!(leaseMs > 0)) throw new RangeError(`leaseMs must be positive, found ${leaseMs}`);
  return { concurrency, hostId: options.hostId ?? hostId(), leaseMs, reapIntervalMs };
}

/** Fills in the defaults of the options a pass uses. */
export function passSettings(options: Omit<RunOptions, "name" | "eventType" | "handler">): PassSettings {
  return {
    signal: options.signal ?? new AbortController().signal,
    graceMs: options.graceMs ?? 10_000,
    timeoutMs: options.timeoutMs ?? 0,
    retryDelay: options.retryDelay ?? (() => 0),
    incompleteGraceMs: options.incompleteGraceMs ?? 10_000,
    maxTaskSize: checkMaxTaskSize(options.maxTaskSize),
    onEvent: options.onEvent ?? (() => {}),
    now: options.now ?? (() => new Date()),
    worker: workerId(options.hostId),
    archive: options.archive === "delete" ? "delete" : "keep",
    maxLost: checkMaxLost(options.maxLost ?? 3),
  };
}

/** Checks a `maxLost` setting. */
export function checkMaxLost(maxLost: number): number {
  if (!Number.isSafeInteger(maxLost) || maxLost < 0) {
    throw new RangeError(`maxLost must be a whole number of at least 0, found ${maxLost}`);
  }
  return maxLost;
}

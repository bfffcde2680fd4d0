/** The options of `runOnce()` and `watch()`, with what each does and its default. */
import type { LockWait } from "../backend/wait.ts";
import type { HandlerFunction, HandlerLike } from "./handler.ts";
import type { ArchivePolicy, RunEvent } from "./report.ts";

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

/** One listener a watcher works. */
export interface WatchListener {
  /** The handler name. */
  name: string;
  /** The event type it listens to; `""` for the root. */
  eventType: string;
  /** The handler. */
  handler: HandlerLike | HandlerFunction;
  /**
   * Per-task time limit in milliseconds; 0 for none. See `RunOptions.timeoutMs`.
   * @default {0}
   */
  timeoutMs?: number;
  /**
   * Tasks handled at once; more than 1 is parallel mode. See `RunOptions.concurrency`.
   * @default {1}
   */
  concurrency?: number;
  /**
   * Lost attempts a task may have before it goes to `error/`. See `RunOptions.maxLost`.
   * @default {WatchOptions.maxLost}
   */
  maxLost?: number;
}

/** Options of {@linkcode watch}. */
export interface WatchOptions {
  /** The listeners to work, each in its own loop. */
  listeners: WatchListener[];
  /**
   * Stops the watcher: no new task is taken, running ones get `graceMs`.
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * How long a running task may go on after the stop, before its signal
   * aborts; it then stays in the inbox untouched.
   * @default {10000}
   */
  graceMs?: number;
  /**
   * Every inbox is listed again at this interval even without file events,
   * so no task waits longer than this if every event is lost.
   * @default {10000}
   */
  rescanIntervalMs?: number;
  /**
   * Delay before retry `attempt` for handlers without `retryDelay()`.
   * @default {(attempt) => backoff(attempt)} (1 s doubling to 5 min, with jitter)
   */
  retryDelay?: (attempt: number) => number;
  /**
   * How long a listener pauses after its `failures`-th FAILURE in a row,
   * before trying the same task again; also after its `failures`-th pass in
   * a row that stopped on an unexpected error (a `fault` event), while the
   * other listeners go on.
   * @default {(failures) => backoff(failures, { capMs: 60000 })}
   */
  failureDelay?: (failures: number) => number;
  /**
   * Receives every task event, pause, fault and rescan.
   * @default {undefined}
   */
  onEvent?: (event: RunEvent) => void;
  /**
   * Called once per wait for a listener's run lock that lasts a second
   * (another runner holds it), with the lock file and the holder's pid when
   * known. The wait itself ends when the watcher stops.
   * @default {one line on stderr}
   */
  onLockWait?: (wait: LockWait) => void;
  /**
   * Flush rewritten task files to disk.
   * @default {true}
   */
  durable?: boolean;
  /**
   * See `RunOptions.incompleteGraceMs`.
   * @default {10000}
   */
  incompleteGraceMs?: number;
  /**
   * The largest task file the runner reads; larger ones are quarantined
   * unread. See `RunOptions.maxTaskSize`.
   * @default {16777216} (16 MiB)
   */
  maxTaskSize?: number;
  /**
   * The clock, for tests.
   * @default {() => new Date()}
   */
  now?: () => Date;
  /**
   * What SUCCESS does with a task: keep it in `archive/`, delete it, or
   * `{ keepMs }`: keep it, and delete archived tasks older than that once an
   * hour. See `RunOptions.archive`.
   * @default {"keep"}
   */
  archive?: ArchivePolicy;
  /**
   * Parallel mode: this host's id. See `RunOptions.hostId`.
   * @default {the hostname (with --allow-sys=hostname), else "localhost"}
   */
  hostId?: string;
  /**
   * Parallel mode: the lease length. See `RunOptions.leaseMs`.
   * @default {30000}
   */
  leaseMs?: number;
  /**
   * Lost attempts a task may have before it goes to `error/`, for listeners
   * that do not set their own. See `RunOptions.maxLost`.
   * @default {3}
   */
  maxLost?: number;
}

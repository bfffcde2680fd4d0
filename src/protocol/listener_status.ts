import type { TaskRecord } from "./task_file.ts";

/**
 * How a listener is doing:
 * - `failing`: a pending task returned FAILURE and the listener is stopped
 *   (or paused, under `hurah watch`) at it;
 * - `retrying`: not failing, and some pending task is being retried (it has a
 *   `retry_count`, or waits for its `not_before`);
 * - `ok`: neither.
 */
export type ListenerState = "ok" | "failing" | "retrying";

/**
 * The lease of the worker that claimed an in-flight task:
 * - `live`: its lease file was renewed within its `lease_ms`;
 * - `expired`: it was not; the task will be taken back by another worker;
 * - `missing`: there is no lease file; the owner is gone;
 * - `invalid`: the lease file cannot be read as a lease.
 */
export type LeaseState = "live" | "expired" | "missing" | "invalid";

/** A task claimed by a parallel worker: `inflight/<N>.json~<worker>`. */
export interface InFlightTask {
  /** The task's sequence number. */
  sequence: number;
  /** The claiming worker's id, as `hostA-12345-1a2b3c`. */
  worker: string;
  /** When it was claimed (the file's ctime, else its mtime), ISO 8601; `null` when unknown. */
  since: string | null;
  /** Milliseconds since `since`; `null` when unknown. */
  ageMs: number | null;
  /** The state of the worker's lease. */
  lease: LeaseState;
}

/**
 * A listener paused by an operator (`hurah pause`, `pause()`): no runner takes
 * a new task of it until it is resumed; dispatches still reach its inbox.
 * (Not the pause of a watcher after FAILURE, which is the `failing` state.)
 */
export interface ListenerPause {
  /** When it was paused, ISO 8601. */
  since: string;
  /** Who paused it: a user name, or `pid <pid>` when none was given. */
  by: string;
  /** On which host. */
  host: string;
  /** Why, as given; `null` when no reason was given. */
  reason: string | null;
}

/** What `status()` reports about one listener. */
export interface ListenerStatus {
  /** The listener id: `<event_type>/<name>`, or `<name>` for the root type. */
  listener: string;
  /** The handler name. */
  name: string;
  /** The event type it listens to; `""` for the root type. */
  eventType: string;
  /** The absolute path of its directory. */
  dir: string;
  /** How it is doing; see {@linkcode ListenerState}. */
  state: ListenerState;
  /** The sequence number of the task it is stopped at on FAILURE, else `null`. */
  failingAt: number | null;
  /** Task files in `inbox/`. */
  pending: number;
  /** How many pending tasks, lowest first, were read for `state`, `retrying`, `waiting` and `nextDueAt`. */
  scanned: number;
  /** Scanned pending tasks with a `retry_count` above 0. */
  retrying: number;
  /** Scanned pending tasks whose `not_before` is in the future. */
  waiting: number;
  /** The earliest `not_before` in the future among the scanned tasks, ISO 8601; else `null`. */
  nextDueAt: string | null;
  /** The lowest pending sequence number, or `null` when the inbox is empty. */
  oldestPending: number | null;
  /** Age of that task by its `delivery` (else its file's mtime), in milliseconds; `null` when none. */
  oldestPendingAgeMs: number | null;
  /** Tasks claimed by parallel workers, by sequence number. */
  inFlight: InFlightTask[];
  /** Task files (`<N>.json`) in `error/`. */
  errors: number;
  /** Other entries in `error/`: quarantined files (their `.reason.txt` notes not counted). */
  quarantined: number;
  /** Task files in `archive/`. */
  archived: number;
  /** The time of the last delivery (`tracking.json`'s `last`), or `null`. */
  lastDelivery: string | null;
  /** The last sequence number issued (`tracking.json`'s `sequence`), or `null`. */
  lastSequence: number | null;
  /** Set while the listener is paused (`hurah pause`): who, since when and why; absent otherwise. */
  paused?: ListenerPause;
  /** On a broker (NATS): what its consumer says; absent on files. */
  broker?: BrokerListenerStatus;
}

/** What a broker's consumer says of a listener (NATS: the durable consumer's info). */
export interface BrokerListenerStatus {
  /** The consumer's name. */
  consumer: string;
  /** Whether the consumer is missing (the listener was asked for by id and is not registered). */
  missing: boolean;
  /** Tasks not delivered yet. */
  waiting: number;
  /** Tasks delivered and not settled: in flight, and put back with a delay (they count towards the limit). */
  ackPending: number;
  /** The consumer's `max_ack_pending`: 1 in ordered mode. */
  maxAckPending: number;
  /** Tasks delivered more than once and not settled yet. */
  redelivered: number;
  /** When a task was last delivered or acknowledged, ISO 8601; `null` when never (or unknown). */
  lastActivity: string | null;
}

/** The delayed events waiting under a root (`DispatchOptions.delay`), as `status()` reports them. */
export interface DelayedStatus {
  /** Delayed events waiting (those due and not delivered yet included). */
  waiting: number;
  /** When the first of them is due, ISO 8601. */
  nextDueAt: string;
}

/** What `status()` reports about an event root. */
export interface StatusReport {
  /** The absolute event root. */
  root: string;
  /** When the report was made, ISO 8601. */
  time: string;
  /** Every listener, ordered by listener id. */
  listeners: ListenerStatus[];
  /** The delayed events waiting; absent when none waits (and on NATS, which keeps none). */
  delayed?: DelayedStatus;
}

/** What the pending tasks read say about a listener. */
export interface PendingSummary {
  /** See {@linkcode ListenerStatus.state}. */
  state: ListenerState;
  /** See {@linkcode ListenerStatus.failingAt}. */
  failingAt: number | null;
  /** See {@linkcode ListenerStatus.retrying}. */
  retrying: number;
  /** See {@linkcode ListenerStatus.waiting}. */
  waiting: number;
  /** See {@linkcode ListenerStatus.nextDueAt}. */
  nextDueAt: string | null;
}

/**
 * Whether a pending task is where its listener stopped on FAILURE: its last
 * failure record says FAILURE, has no fate, and no RETRY came after it.
 */
export function stoppedOnFailure(task: TaskRecord): boolean {
  const last = task.failures?.at(-1);
  return last?.result === "FAILURE" && last.fate === undefined && (task.retry_count ?? 0) + 1 === last.attempt;
}

/**
 * Derives a listener's state from its pending tasks, lowest sequence first
 * (`undefined` for a file that cannot be read as a task).
 */
export function summarizePending(
  tasks: readonly { sequence: number; task: TaskRecord | undefined }[],
  now: number,
): PendingSummary {
  let failingAt: number | null = null;
  let retrying = 0;
  let waiting = 0;
  let nextDue = Infinity;
  for (const { sequence, task } of tasks) {
    if (task === undefined) continue;
    if (failingAt === null && stoppedOnFailure(task)) failingAt = sequence;
    if ((task.retry_count ?? 0) > 0) retrying++;
    const due = typeof task.not_before === "string" ? Date.parse(task.not_before) : NaN;
    if (due > now) {
      waiting++;
      nextDue = Math.min(nextDue, due);
    }
  }
  const state: ListenerState = failingAt !== null ? "failing" : retrying + waiting > 0 ? "retrying" : "ok";
  return {
    state,
    failingAt,
    retrying,
    waiting,
    nextDueAt: Number.isFinite(nextDue) ? new Date(nextDue).toISOString() : null,
  };
}

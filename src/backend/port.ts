/**
 * The backend port: what the worker and the dispatcher need from where tasks
 * are kept, cut at outcomes, not at files. The file backend
 * (`src/backend/file/`) is one implementation; a test's memory backend or a
 * broker can be others. Internal for now: not exported from `mod.ts`.
 *
 * A {@linkcode Backend} publishes events (the fan-out is its job), registers
 * listeners, opens a listener's {@linkcode ListenerQueue} for a worker, says
 * when tasks may have arrived, and offers the {@linkcode Operations} of
 * `hurah status`, `inspect`, `requeue` and `prune`.
 */
import type { Listener } from "../protocol/listener_id.ts";
import type { Destination } from "../protocol/transition.ts";
import type { TaskRecord } from "../protocol/task_file.ts";
import type { ListenerPause } from "../protocol/listener_status.ts";
import type { Delivery } from "./delivery.ts";
import type { Operations } from "./operations.ts";
import type { WaitOptions } from "./wait.ts";
import type { ScheduleClaims } from "./schedules.ts";

export type { Delivery } from "./delivery.ts";
export type { Operations } from "./operations.ts";
export type { LockWait, WaitOptions } from "./wait.ts";
export type { ScheduleClaims, ScheduleRecord, ScheduleState } from "./schedules.ts";

/** One event to publish, checked: its type, the type's segments, and its payload encoded once (PHP's JSON). */
export interface PublishEvent {
  /** The event type, as `product/created`. */
  eventType: string;
  /** Its segments, as `parseEventType()` gives them. */
  segments: readonly string[];
  /** The payload as a task file holds it. */
  payloadJson: string;
  /** The event's id: the same in every listener's task, and the key a broker drops a second publish by. */
  eventId: string;
  /** The delivery time as a task's `delivery` holds it. */
  delivery: string;
  /**
   * Tasks of one listener with the same ordering key run one at a time, in
   * sequence order, in parallel mode too (files: the task's `ordering_key`).
   */
  orderingKey?: string;
  /**
   * An idempotency key, scoped to the event type: a second publish with it
   * within `windowMs` of the first publishes nothing and returns the first
   * one's deliveries, each marked `duplicate`.
   */
  idempotency?: { key: string; windowMs: number };
}

/** An event to keep until it is due ({@linkcode Backend.schedule}): checked and encoded as for a publish. */
export interface ScheduleEvent extends Omit<PublishEvent, "delivery"> {
  /** When it is due: it is published then, to the listeners of that moment. */
  notBefore: Date;
  /** When it was dispatched. */
  scheduledAt: Date;
}

/** An event kept until it is due: what a delayed dispatch returns instead of deliveries. */
export interface ScheduledEvent {
  /** Always `true`: the event is scheduled, not delivered yet (deliveries have no such field). */
  scheduled: true;
  /** The event type. */
  eventType: string;
  /** The event's id: every task it becomes carries it as `event_id`. */
  eventId: string;
  /** When it is due, ISO 8601 in UTC with milliseconds. */
  notBefore: string;
  /** Where it waits, for people: its file under `<root>/.hurah/delayed/`. */
  location: string;
}

/** What {@linkcode Backend.deliverDue} did. */
export interface DueDelivery {
  /** Delayed events published (each to the listeners of its type at that moment, maybe none). */
  events: number;
  /** Tasks written by them. */
  deliveries: number;
  /** When the next event still waiting is due (epoch ms), or `undefined` when none waits. */
  nextDueAt?: number;
  /** Another process was delivering (it holds the delivery lock): nothing was done. */
  busy?: boolean;
}

/** What {@linkcode Backend.register} did. */
export interface Registration {
  /** Whether the listener is new: it did not exist before. */
  created: boolean;
  /** Where its tasks arrive, for people: its inbox directory, a broker's consumer. */
  location: string;
}

/** What to do with a task after SUCCESS: keep it archived, or delete it at once. */
export type ArchiveMode = "keep" | "delete";

/** How a listener's queue is opened for one worker. */
export interface OpenOptions {
  /** This worker's id (`<host>:<pid>:<random>`): parallel claims are named after it. */
  worker: string;
  /** The largest task, in bytes, the worker reads; a larger one is refused (quarantined). */
  maxTaskSize: number;
  /** What SUCCESS does with a task. */
  archive: ArchiveMode;
  /** The clock. */
  now: () => Date;
  /** Parallel mode (tasks claimed for this worker, many workers at once); ordered mode without. */
  parallel?: {
    /** This host's id: leases of the same host are checked by their flock, others by expiry. */
    hostId: string;
    /** How long a lease lasts without renewal; renewed every third of it. */
    leaseMs: number;
    /** How often claims of workers that are gone are taken back, also in the middle of a long pass. */
    reapIntervalMs: number;
  };
  /**
   * How opening waits while another worker of the other mode works the
   * listener (files: a parallel queue takes the run lock shared for as long
   * as it is open), and how {@linkcode ListenerQueue.hold} waits.
   */
  wait: WaitOptions;
}

/** A source of wake-ups for a watcher: tasks may have arrived. Closed when the watcher stops. */
export interface Wakeups {
  /** Stops the source (files: closes the file watcher). */
  close(): Promise<void>;
}

/**
 * Where tasks are kept: the dispatcher publishes through it, the worker
 * registers listeners and opens their queues through it, and the operations
 * commands read and repair through its {@linkcode Operations}.
 */
export interface Backend {
  /** Where the tasks are, for messages: the event root's path, or the broker's address. */
  readonly location: string;
  /**
   * Delivers each event to every listener of its type, of each parent type
   * and of the root, deepest level first; returns, per event, one delivery
   * per listener reached.
   * @throws {DeliveryError} When an error stops it after some deliveries (listed); before the first, the error itself.
   */
  publish(events: readonly PublishEvent[]): Promise<Delivery[][]>;
  /**
   * Keeps an event until `notBefore`, outside every listener's queue: no
   * runner sees it before {@linkcode Backend.deliverDue} publishes it.
   * @throws {NotSupportedError} On a backend that cannot keep events (NATS).
   */
  schedule(event: ScheduleEvent): Promise<ScheduledEvent>;
  /**
   * Publishes every kept event due at `now` (each exactly once, however many
   * processes call this at once, also across a crash of any of them).
   * `wait` says how long to wait while another process delivers
   * (`timeoutMs` 0: not at all, `busy` then).
   */
  deliverDue(now: Date, wait?: WaitOptions): Promise<DueDelivery>;
  /** Registers a listener (creating what it needs), so that dispatches reach it from now on. */
  register(listener: Listener): Promise<Registration>;
  /** Opens a registered listener's queue for one worker; dispose of it with `await using`. */
  open(listener: Listener, options: OpenOptions): Promise<ListenerQueue>;
  /**
   * Tells `onArrival` when tasks may have arrived for a listener (by its id),
   * and `onMissed` when arrivals may have been missed (every listener is to be
   * looked at again), until `signal` aborts or it is closed.
   */
  watch(
    listeners: readonly Listener[],
    signal: AbortSignal,
    onArrival: (listenerId: string) => void,
    onMissed: (reason: string) => void,
  ): Wakeups;
  /** The operations: the listener list, status, inspect, requeue and prune. */
  readonly operations: Operations;
  /** Releases what publishing keeps open between calls (files: the dispatch lock files); publishing may go on. */
  close?(): Promise<void>;
  /** The claims of recurring schedules' ticks (`hurah watch --schedule`). */
  readonly schedules: ScheduleClaims;
}

/** A task a queue handed to the worker: which task it is; where it lies is the backend's business. */
export interface TakenTask {
  /** Its sequence number in its listener. */
  readonly sequence: number;
  /** Its name, `<N>.json`, the same wherever it moves: the key of whatever the worker keeps about it. */
  readonly task: string;
}

/** What reading a taken task found. */
export type TaskRead =
  | { kind: "task"; task: TaskRecord }
  /** Taken by someone else before it was read (only a task this worker has not claimed). */
  | { kind: "gone" }
  /** Not a task at all (a link, a FIFO, too large, unreadable): to be quarantined with this reason. */
  | { kind: "refused"; reason: string }
  /** Stored, but not parsable: maybe still being written (`writtenAt`), maybe corrupt. */
  | { kind: "unparsed"; message: string; writtenAt: Date };

/**
 * One listener's tasks, as the worker handles them. Each taken task is
 * settled with one outcome (a {@linkcode Destination}). A method that finds
 * a claimed task owned by another worker now throws `TaskLostError`.
 */
export interface TaskQueue<T extends TakenTask = TakenTask> {
  /** Whether this worker claimed `task` for itself (parallel mode), so that no other worker takes it meanwhile. */
  claimed(task: T): boolean;
  /**
   * Reads a taken task.
   * @throws {TaskLostError} When it was claimed and another worker owns it now.
   */
  read(task: T): TaskRead;
  /**
   * Settles a task: writes `record` first when given, then moves it to `to`
   * (`archive` may delete it, as the archive policy says; `first` and
   * `untouched` put a claimed task back, unchanged but for `record`).
   * @throws {TaskLostError} When another worker owns the task now.
   */
  settle(task: T, to: Destination, record?: TaskRecord): Promise<void>;
  /**
   * Writes a task's record without moving it (a decision recorded before the move that carries it out).
   * @throws {TaskLostError} When another worker owns the task now.
   */
  note(task: T, record: TaskRecord): Promise<void>;
  /**
   * Sets aside something that is not a task, with the reason; `false` when an
   * unclaimed one was taken by someone else first.
   */
  quarantine(task: T, reason: string): Promise<boolean>;
}

/** What one {@linkcode ListenerQueue.take} found. */
export interface Take<T extends TakenTask> {
  /** The tasks taken, in sequence order: each settled by the worker, once. */
  tasks: T[];
  /** Entries that are not tasks, found meanwhile: the worker sets each aside with its reason. */
  strays: { task: T; reason: string }[];
  /** On the first take of a pass: how many tasks were waiting. */
  backlog?: number;
  /** The earliest time (epoch ms) a task put off with `defer()` is due, when one was skipped. */
  dueAt?: number;
}

/** What a take may need from the worker while it takes. */
export interface TakeHooks<T extends TakenTask> {
  /** Whether to stop taking (FAILURE, shutdown): checked before each task is taken. */
  stopped(): boolean;
  /** Puts back a task whose worker is gone, counting the lost attempt (the backend's upkeep finds them). */
  recover(task: T, why: string): Promise<void>;
}

/**
 * One listener's queue, opened for one worker: ordered (one task at a time,
 * in sequence order, where it lies) or parallel (each task claimed for this
 * worker). A pass takes every due task once: `startPass()`, then `take()`
 * until it gives no task. Disposed with `await using` (a parallel queue gives
 * its lease up).
 */
export interface ListenerQueue<T extends TakenTask = TakenTask> extends TaskQueue<T>, AsyncDisposable {
  /** The listener the queue is of. */
  readonly listener: Listener;
  /**
   * Holds the listener for one pass, as its mode needs (files, ordered: the
   * run lock, exclusively, so that one runner works it at a time; parallel:
   * nothing more than opening took). Waits as `OpenOptions.wait` says, or as
   * `signal` says when given.
   * @throws {LockTimeoutError} When the wait timed out; the signal's reason when it aborted.
   */
  hold(signal?: AbortSignal): Promise<Disposable>;
  /**
   * The backend's own upkeep, under the hold before a pass: what is due of
   * it (files: in ordered mode, putting back the tasks claimed by workers
   * that are gone; every hour, clearing staging files left by killed
   * processes).
   */
  upkeep(hooks: Pick<TakeHooks<T>, "recover">): Promise<void>;
  /** Deletes archived tasks that were archived at least `olderThanMs` ago (`archive: { keepMs }`). */
  expire(olderThanMs: number): Promise<void>;
  /**
   * Whether an operator has paused the listener (`hurah pause`): asked before
   * every take, so it must be cheap (files: one stat of `paused.json`).
   * While it gives a pause, the worker takes nothing.
   */
  paused(): Promise<ListenerPause | null>;
  /** Starts a pass: every due task may be taken once more. */
  startPass(): void;
  /**
   * Takes up to `max` due tasks not taken yet in this pass; none when the
   * pass has nothing left to take. Keeps the queue's upkeep meanwhile
   * (parallel files: taking back the claims of workers that are gone).
   */
  take(max: number, hooks: TakeHooks<T>): Promise<Take<T>>;
  /** Not to be taken again before `dueAt` (epoch ms): a retry's delay, a half-written file. */
  defer(task: T, dueAt: number): void;
  /** The worker is done with a taken task (settled, lost, or stopped on an error). */
  finished(task: T): void;
}

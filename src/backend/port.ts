/**
 * The backend port: what the worker and the dispatcher need from where tasks
 * are kept, cut at outcomes, not at files. The file backend
 * (`src/backend/file/`) is one implementation; a test's memory backend or a
 * broker can be others. Internal for now: not exported from `mod.ts`.
 */
import type { Destination } from "../protocol/transition.ts";
import type { TaskRecord } from "../protocol/task_file.ts";

export type { Delivery } from "./delivery.ts";

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

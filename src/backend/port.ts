/**
 * The backend port: what the worker and the dispatcher need from where tasks
 * are kept, cut at outcomes, not at files. The file backend
 * (`src/backend/file/`) is one implementation; a test's memory backend or a
 * broker can be others. Internal for now: not exported from `mod.ts`.
 */
import type { Destination } from "../protocol/transition.ts";
import type { TaskRecord } from "../protocol/task_file.ts";

/** One task written by a dispatch: `Dispatcher.dispatch()` returns one per listener reached. */
export interface Delivery {
  /** The listener's handler name. */
  listener: string;
  /** The event type the listener listens to (`""` for the root). */
  listenerEventType: string;
  /** The task's sequence number in that listener. */
  sequence: number;
  /** The absolute path of the task file in the listener's inbox. */
  path: string;
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

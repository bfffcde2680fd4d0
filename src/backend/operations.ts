/**
 * The operations side of the backend port: what `hurah status`, `inspect`,
 * `requeue` and `prune` (and the dashboard) ask of a backend, and what they
 * get back. The file backend implements it in `src/backend/file/`
 * (`status.ts`, `inspect.ts`, `requeue.ts`, `prune.ts`, `listeners.ts`).
 */
import type { Listener } from "../protocol/listener_id.ts";
import type { ListenerPause, StatusReport } from "../protocol/listener_status.ts";
import type { TaskRecord } from "../protocol/task_file.ts";
import type { WaitOptions } from "./wait.ts";

/**
 * The operations of one backend: each reads (or, for `requeue` and
 * `prune`, changes) the tasks of the listeners it names.
 */
export interface Operations {
  /** Every registered listener, ordered by listener id. */
  listeners(): Promise<Listener[]>;
  /**
   * The listener of an id (`product/created/image_scaler`, or `audit` for the root type).
   * @throws {ListenerNotFoundError} When there is none.
   */
  findListener(id: string): Promise<Listener>;
  /** Reports on the listeners: pending, in flight, errors, archived, state. Reads only. */
  status(options?: StatusOptions): Promise<StatusReport>;
  /** Finds a task wherever it is, with its record and failure history. Reads only. */
  inspect(options: InspectOptions): Promise<TaskInspection>;
  /** Puts tasks in error back into the inbox, recording who did. */
  requeue(options: RequeueOptions): Promise<RequeueReport>;
  /** Removes old archived (and, when asked, errored) tasks. */
  prune(options: PruneOptions): Promise<PruneReport>;
  /** Pauses a listener: no runner takes a new task of it until {@linkcode Operations.resume}; running ones finish. */
  pause(options: PauseOptions): Promise<PauseReport>;
  /** Resumes a paused listener. */
  resume(options: ResumeOptions): Promise<ResumeReport>;
  /** Moves pending tasks to the listener's errors, with a record saying who discarded them and why. */
  discard(options: DiscardOptions): Promise<DiscardReport>;
  /**
   * Lists the first tasks of one state of a listener (pending, in error or
   * archived), with their records: the dashboard's listener page. Reads
   * only, at most `limit` task files.
   */
  tasks(options: TaskListOptions): Promise<TaskList>;
}

/** Options of `status`. */
export interface StatusOptions {
  /**
   * Report only these listeners (listener ids, as `product/created/image_scaler`).
   * @default {undefined} every listener under the root
   */
  listeners?: string[];
  /**
   * How many pending tasks per listener, lowest first, are read to find the
   * state and count the retries. Counting the inbox reads no task file.
   * @default {1000}
   */
  scanLimit?: number;
  /**
   * The clock, for tests.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

/** The states {@linkcode Operations.tasks} lists: pending, failed for good, or archived. */
export type ListedLocation = "inbox" | "error" | "archive";

/** Options of `tasks`. */
export interface TaskListOptions {
  /** The listener id, as `product/created/image_scaler` (or `audit` for the root type). */
  listener: string;
  /** Which state's tasks. */
  location: ListedLocation;
  /**
   * How many tasks to read, at most.
   * @default {50}
   */
  limit?: number;
  /**
   * Highest sequence numbers first (the latest errors, the last archived);
   * else lowest first (the next pending tasks).
   * @default {false}
   */
  newest?: boolean;
  /**
   * The clock, for tests.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

/** One task of a {@linkcode TaskList}. */
export interface ListedTask {
  /** The task's sequence number. */
  sequence: number;
  /** When it got into its state (the file's ctime, else its mtime), ISO 8601; `null` when unknown. */
  since: string | null;
  /** Milliseconds since `since`; `null` when unknown. */
  ageMs: number | null;
  /** The task record, or `null` when the file is not a readable task (see `problem`). */
  task: TaskRecord | null;
  /** Why `task` is `null`; else `null`. */
  problem: string | null;
}

/** What `tasks` found. */
export interface TaskList {
  /** The listener id. */
  listener: string;
  /** The state listed. */
  location: ListedLocation;
  /** Task files (`<N>.json`) in that state in all; quarantined files are not counted. */
  total: number;
  /** The first `limit` of them, in the order asked for; a file that vanished while listed is left out. */
  tasks: ListedTask[];
}

/** Options of `inspect`. */
export interface InspectOptions {
  /** The listener id, as `product/created/image_scaler` (or `audit` for the root type). */
  listener: string;
  /** The task's sequence number. */
  sequence: number;
}

/** The state directory a task file was found in. */
export type TaskLocation = "inbox" | "inflight" | "archive" | "error";

/** One file of a task, where it was found. */
export interface FoundTask {
  /** The state directory. */
  location: TaskLocation;
  /** Its name there: `<N>.json`, `<N>.json~<worker>` in flight, `<N>.json.<k>` when quarantined beside another. */
  file: string;
  /** Its absolute path. */
  path: string;
  /** The worker that claimed it, for a task in flight; else `null`. */
  worker: string | null;
  /** When it got there (the file's ctime, else its mtime), ISO 8601; `null` when unknown. */
  since: string | null;
  /** The task record, or `null` when the file is not a readable task (see `problem`). */
  task: TaskRecord | null;
  /** Why `task` is `null`: a link or directory, or what is wrong with the file; else `null`. */
  problem: string | null;
  /** The start of the file's text (at most 4 KiB) when it is a file that is not a task; else `null`. */
  text: string | null;
  /** The quarantine note beside it (`<file>.reason.txt`), or `null` when there is none. */
  reason: string | null;
}

/** What `inspect` found. */
export interface TaskInspection {
  /** The listener id. */
  listener: string;
  /** The listener's directory. */
  dir: string;
  /** The sequence number looked for. */
  sequence: number;
  /**
   * Every file of that task, in the order inbox, inflight, archive, error;
   * empty when the task is nowhere. More than one means something went
   * wrong: a file quarantined beside a task of the same number, say.
   */
  found: FoundTask[];
}

/** Options of `requeue`. */
export interface RequeueOptions {
  /** The listener id, as `product/created/image_scaler` (or `audit` for the root type). */
  listener: string;
  /**
   * The sequence numbers of the tasks to put back. Give these or `all`.
   * @default {[]}
   */
  sequences?: number[];
  /**
   * Put back every task file in `error/`. Quarantined files are left there
   * and reported in `skipped`.
   * @default {false}
   */
  all?: boolean;
  /**
   * Who puts the tasks back, named in the `REQUEUED` failure record's
   * message (its `worker` is this process, `host:pid`).
   * @default {"<host>:<pid>"} this process, or `pid:<pid>` when the host name may not be read
   */
  by?: string;
  /**
   * Flush the rewritten task files and the directories to disk.
   * @default {true}
   */
  durable?: boolean;
  /**
   * The clock, for tests.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

/** A file of `error/` that was not put back, and why. */
export interface RequeueRefusal {
  /** Its name in `error/` (or the name looked for, `<N>.json`, when it is not there). */
  file: string;
  /** The task's sequence number, or `null` for a file not named `<N>.json`. */
  sequence: number | null;
  /** What was expected and what was found. */
  reason: string;
}

/** What `requeue` did. */
export interface RequeueReport {
  /** The listener id. */
  listener: string;
  /** The tasks now back in `inbox/`, in the order they were put back. */
  requeued: number[];
  /**
   * Tasks asked for that were not put back: not in `error/`, unreadable,
   * or their number is taken in `inbox/` or `inflight/`. With `all`, task
   * files whose number is taken.
   */
  refused: RequeueRefusal[];
  /**
   * With `all`: quarantined files (not readable as tasks) left in `error/`.
   * Also (not an error) tasks that were in `error/` when looked for and
   * that another process put back meanwhile.
   */
  skipped: RequeueRefusal[];
}

/** Options of `prune`. */
export interface PruneOptions {
  /** Remove files that got into `archive/` or `error/` at least this many milliseconds ago. */
  olderThanMs: number;
  /**
   * Remove old task files from `archive/`.
   * @default {true}
   */
  archive?: boolean;
  /**
   * Remove old entries from `error/`: task files and quarantined files,
   * with their `.reason.txt` notes.
   * @default {false}
   */
  error?: boolean;
  /**
   * Prune only these listeners (listener ids, as `product/created/image_scaler`).
   * @default {undefined} every listener under the root
   */
  listeners?: string[];
  /**
   * Count what would be removed, and remove nothing.
   * @default {false}
   */
  dryRun?: boolean;
  /**
   * The clock, for tests.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

/** What `prune` removed from one listener. */
export interface ListenerPrune {
  /** The listener id. */
  listener: string;
  /** Task files removed from `archive/` (or that would be, in a dry run). */
  archive: number;
  /** Entries removed from `error/`, not counting their `.reason.txt` notes. */
  error: number;
}

/** What `prune` did. */
export interface PruneReport {
  /** One entry per listener looked at, ordered by listener id. */
  listeners: ListenerPrune[];
  /** Files removed in all (notes not counted). */
  removed: number;
  /** Whether this was a dry run, which removed nothing. */
  dryRun: boolean;
}

/** Options of `pause`. */
export interface PauseOptions {
  /** The listener id, as `product/created/image_scaler` (or `audit` for the root type). */
  listener: string;
  /**
   * Why, for `status` and the logs.
   * @default {null}
   */
  reason?: string | null;
  /**
   * Who pauses it (a user name).
   * @default {"pid <pid>"} this process
   */
  by?: string;
  /**
   * The clock, for tests.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

/** What `pause` did. */
export interface PauseReport {
  /** The listener id. */
  listener: string;
  /** The pause now in force. */
  paused: ListenerPause;
  /** The pause it replaced, when the listener was paused already; else `null`. */
  previous: ListenerPause | null;
}

/** Options of `resume`. */
export interface ResumeOptions {
  /** The listener id, as `product/created/image_scaler` (or `audit` for the root type). */
  listener: string;
}

/** What `resume` did. */
export interface ResumeReport {
  /** The listener id. */
  listener: string;
  /** The pause it ended; `null` when the listener was not paused (nothing changed). */
  resumed: ListenerPause | null;
}

/** Options of `discard`. */
export interface DiscardOptions {
  /** The listener id, as `product/created/image_scaler` (or `audit` for the root type). */
  listener: string;
  /** The sequence numbers of the pending tasks to discard. */
  sequences: number[];
  /**
   * Why, in the `DISCARDED` failure record.
   * @default {null}
   */
  reason?: string | null;
  /**
   * Who discards them (a user name), in the failure record's message.
   * @default {"pid <pid>"} this process
   */
  by?: string;
  /**
   * How the wait for an ordered runner in the middle of a pass ends (files:
   * the run lock, taken shared).
   * @default {{}} no bound, a notice on stderr after a second
   */
  wait?: WaitOptions;
  /**
   * Flush the rewritten task files and the directories to disk.
   * @default {true}
   */
  durable?: boolean;
  /**
   * The clock, for tests.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

/** A task asked for that was not discarded, and why. */
export interface DiscardRefusal {
  /** Its sequence number. */
  sequence: number;
  /** Where it is instead, or that it is nowhere. */
  reason: string;
}

/** What `discard` did. */
export interface DiscardReport {
  /** The listener id. */
  listener: string;
  /** The tasks now in the listener's errors, in the order asked for. */
  discarded: number[];
  /** The tasks asked for that were not pending (or are being handled): left where they are. */
  refused: DiscardRefusal[];
}

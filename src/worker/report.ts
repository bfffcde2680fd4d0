/** What a worker reports: the events of a pass, for logs, and what a pass did. */
import type { Registration } from "../backend/port.ts";
import type { Listener } from "../protocol/listener_id.ts";
import type { ListenerPause } from "../protocol/listener_status.ts";
import type { Fate } from "../protocol/transition.ts";

/** Something that happened during a pass, for logs. */
export type RunEvent =
  | {
    /** A handler ran for a task (or a task's earlier fate was completed). */
    type: "task";
    /** The listener id: `<event_type>/<name>`, or `<name>` for the root type. */
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
    /** The listener id: `<event_type>/<name>`, or `<name>` for the root type. */
    listener: string;
    /** The task's sequence number. */
    sequence: number;
    /** The line, without its newline. */
    line: string;
  }
  | {
    /** A file that is not a task was moved to `error/`. */
    type: "quarantine";
    /** The listener id: `<event_type>/<name>`, or `<name>` for the root type. */
    listener: string;
    /** The file's name in the inbox. */
    file: string;
    /** Why it was quarantined. */
    reason: string;
  }
  | {
    /** The pass stopped at a file that looks half-written; it is tried again later. */
    type: "waiting";
    /** The listener id: `<event_type>/<name>`, or `<name>` for the root type. */
    listener: string;
    /** The file's name in the inbox. */
    file: string;
    /** What is wrong with it. */
    reason: string;
  }
  | {
    /** A parallel worker's task was taken over by another worker (its lease had lapsed); its result is discarded. */
    type: "lost";
    /** The listener id: `<event_type>/<name>`, or `<name>` for the root type. */
    listener: string;
    /** The task's sequence number. */
    sequence: number;
    /** What happened. */
    message: string;
  }
  | {
    /** How many tasks a pass found waiting when it started (for progress displays). */
    type: "backlog";
    /** The listener id: `<event_type>/<name>`, or `<name>` for the root type. */
    listener: string;
    /** Task files in the inbox. */
    pending: number;
  }
  | {
    /** A watched listener paused after FAILURE, or resumed. */
    type: "paused";
    /** The listener id: `<event_type>/<name>`, or `<name>` for the root type. */
    listener: string;
    /** The task that returned FAILURE. */
    sequence: number;
    /** Milliseconds until the same task is tried again. */
    retryInMs: number;
  }
  | {
    /**
     * `pause`: a runner found the listener paused by an operator (`hurah
     * pause`), and takes no new task until it is resumed. `resume`: a
     * watcher found it resumed (`hurah resume`), and takes tasks again; the
     * fields are those of the pause that ended. (`paused` is the pause of a
     * watcher after FAILURE.)
     */
    type: "pause" | "resume";
    /** The listener id: `<event_type>/<name>`, or `<name>` for the root type. */
    listener: string;
    /** When it was paused, ISO 8601. */
    since: string;
    /** Who paused it. */
    by: string;
    /** On which host. */
    host: string;
    /** Why, or `null`. */
    reason: string | null;
  }
  | {
    /**
     * A watched listener's pass stopped on an unexpected error (the file
     * system refused a move, a state directory was replaced by a file...).
     * That listener pauses and tries again after `retryInMs`; the others go
     * on. (`runOnce()` throws such an error instead.)
     */
    type: "fault";
    /** The listener id: `<event_type>/<name>`, or `<name>` for the root type. */
    listener: string;
    /** The error, with its stack. */
    message: string;
    /** Milliseconds until the listener tries again. */
    retryInMs: number;
  }
  | {
    /** A listener was registered that did not exist before (its first `runOnce()` or `watch()`). */
    type: "registered";
    /** The listener id: `<event_type>/<name>`, or `<name>` for the root type. */
    listener: string;
    /** The handler name. */
    name: string;
    /** The event type it listens to (`""` for the root). */
    eventType: string;
    /** Where its tasks arrive: the inbox directory. */
    location: string;
  }
  | {
    /**
     * Delayed events came due and were delivered (to the listeners of their
     * types at that moment, any listener, not only the watched ones); or,
     * with `message`, delivering them failed and is tried again after
     * `retryInMs`.
     */
    type: "delayed";
    /** Delayed events delivered. */
    events: number;
    /** Tasks they became. */
    deliveries: number;
    /** The error met, with its stack, when delivering failed. */
    message?: string;
    /** With `message`: milliseconds until the next try. */
    retryInMs?: number;
  }
  | {
    /** A watcher re-listed an inbox because file events may have been lost. */
    type: "rescan";
    /** The listener id: `<event_type>/<name>`, or `<name>` for the root type. */
    listener: string;
    /** Why: `overflow` (the file watcher dropped events), or `watcher error: <message>` (it is restarted). */
    reason: string;
  };

/** What SUCCESS does with a task; see `RunOptions.archive`. */
export type ArchivePolicy = "keep" | "delete" | { keepMs: number };

/** What one pass did. */
export interface RunReport {
  /** The listener id: `<event_type>/<name>`, or `<name>` for the root type. */
  listener: string;
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
  /** Set when the pass found the listener paused by an operator (`hurah pause`) and took no further task. */
  paused?: ListenerPause;
}

/** What a pass found, apart from its counts: set anew by every pass. */
export type PassFindings = Pick<RunReport, "failedAt" | "waitingFor" | "nextDueAt" | "paused">;

/** The event of a pause found (`pause`) or found ended (`resume`). */
export function pauseEvent(type: "pause" | "resume", listener: string, pause: ListenerPause): RunEvent {
  return { type, listener, since: pause.since, by: pause.by, host: pause.host, reason: pause.reason };
}

/** The event of a listener registered anew. */
export function registered(listener: Listener, registration: Registration): RunEvent {
  const { id, name, eventType } = listener;
  return { type: "registered", listener: id, name, eventType, location: registration.location };
}

/** A fresh, empty report. */
export function emptyReport(listener: string): RunReport {
  return {
    listener,
    handled: 0,
    archived: 0,
    errored: 0,
    retried: 0,
    quarantined: 0,
    recovered: 0,
    lost: 0,
    aborted: false,
  };
}

/**
 * What becomes of a task, as pure functions: from the task record, how its
 * handler ended, the policy and the time, to the new record, where the task
 * goes and the event to report. The worker only carries the answer out.
 */
import { backoff } from "./backoff.ts";
import { type FailureRecord, type TaskRecord, withFailure } from "./task_file.ts";
import {
  decideFate,
  decideLost,
  decideThrown,
  decideTimeout,
  type Fate,
  resultName,
  type TaskResult,
} from "./task_result.ts";

export {
  decideFate,
  decideLost,
  decideThrown,
  decideTimeout,
  type Fate,
  isTaskResult,
  type LostFate,
  resultName,
  retryFate,
  Task,
  type TaskResult,
} from "./task_result.ts";
export { type Admission, admit, judgeIncomplete } from "./admission.ts";

/**
 * How a handler's attempt ended: it returned a value, threw, ran past its
 * time limit, ran past the shutdown grace period, or its worker was lost
 * (died or lost its lease; found by another worker).
 */
export type Ending =
  | { kind: "returned"; value: unknown }
  | {
    kind: "thrown";
    /**
     * What was thrown. An error that carries the handler's `output` (as an
     * exec handler's, whose message holds its status and stderr) is recorded
     * without its JavaScript stack, which says nothing about the handler.
     */
    error: { name: string; message: string; stack?: string; output?: unknown };
  }
  | { kind: "timeout"; timeoutMs: number }
  | { kind: "shutdown"; graceMs: number }
  | { kind: "lost"; why: string };

/** The rules a transition follows: the handler's and the worker's. */
export interface TransitionPolicy {
  /** The handler's `maxAttempts()`: retries a task gets. */
  maxAttempts: number;
  /** Lost attempts a task may have and still go back to the inbox. */
  maxLost: number;
  /** Milliseconds before retry `attempt` (from 1); a non-number throws a `TypeError`. */
  retryDelay: (attempt: number) => number;
}

/** When and by whom an attempt was made, and what the handler logged. */
export interface AttemptContext {
  /** The time of the decision. */
  now: Date;
  /** Who worked the task, for failure records. */
  worker: string;
  /** The tail of the lines the handler logged, `""` when none. */
  output: string;
}

/**
 * Where a task goes: `archive/`; `error/`; back to the inbox (a retry, maybe
 * with a delay); `first`: stays first in the inbox and the listener stops or
 * pauses (FAILURE); `untouched`: back where it was, unchanged.
 */
export type Destination = "archive" | "error" | "inbox" | "first" | "untouched";

/** What a transition reports, for the `task` event. */
export interface TransitionEvent {
  /** `SUCCESS`, `FAILURE`, `RETRY`, `INVALID`, `ERROR`, `TIMEOUT`, `LOST` or `ABORTED`. */
  result: string;
  /** The fate, as logged. */
  fate: Fate["fate"];
  /** Why, when there is something to say. */
  message?: string;
  /** For a retry with a delay: milliseconds until the task is due. */
  retryInMs?: number;
}

/** A task's next state, to be carried out by the worker. */
export interface Transition {
  /** Where the task goes. */
  to: Destination;
  /** The task as it is to be written before it moves; `undefined` when it is not rewritten. */
  record?: TaskRecord;
  /** When the task is due again (epoch ms), for a retry with a delay. */
  dueAt?: number;
  /** What to report. */
  event: TransitionEvent;
}

/** How many attempts a task had: its retries, its lost attempts, and this one. */
export function attemptOf(task: TaskRecord): number {
  return (task.retry_count ?? 0) + lostCountOf(task) + 1;
}

/** The task's `lost_count`, 0 when absent. */
function lostCountOf(task: TaskRecord): number {
  return typeof task.lost_count === "number" ? task.lost_count : 0;
}

/**
 * The next state of a task after its handler's attempt ended: the single
 * place where SUCCESS, FAILURE, RETRY, INVALID, a bad return value, a throw,
 * a timeout, a shutdown and a lost worker turn into a destination, a new
 * record and an event. Every attempt that may be tried again spends the one
 * retry budget ({@linkcode retryFate}); a lost one the lost budget
 * ({@linkcode decideLost}).
 *
 * @param task The task as read before the attempt.
 * @param ending How the attempt ended.
 * @param policy The retry and lost budgets, and the retry delay.
 * @param context The time, the worker and the handler's logged output.
 * @returns The transition.
 * @throws {TypeError} When `policy.retryDelay` returns something but a finite number.
 *
 * @example A RETRY with a delay
 * ```ts
 * import { Task, transition } from "./transition.ts";
 * import { equal } from "node:assert/strict";
 * const task = { payload: 1, sequence: 1, count: 1, delivery: "" };
 * const next = transition(task, { kind: "returned", value: Task.RETRY }, {
 *   maxAttempts: 3,
 *   maxLost: 3,
 *   retryDelay: () => 1000,
 * }, { now: new Date(0), worker: "w", output: "" });
 * equal(next.to, "inbox");
 * equal(next.record?.not_before, "1970-01-01T00:00:01.000Z");
 * ```
 */
export function transition(
  task: TaskRecord,
  ending: Ending,
  policy: TransitionPolicy,
  context: AttemptContext,
): Transition {
  switch (ending.kind) {
    case "shutdown":
      return {
        to: "untouched",
        event: {
          result: "ABORTED",
          fate: "stop",
          message: `shutdown: the task ran past the ${ending.graceMs} ms grace period; it stays in the inbox`,
        },
      };
    case "lost":
      return lostTransition(task, ending.why, policy.maxLost, context);
    default:
      return attemptTransition(task, ending, policy, context);
  }
}

function lostTransition(task: TaskRecord, why: string, maxLost: number, context: AttemptContext): Transition {
  const fate = decideLost(why, lostCountOf(task), maxLost);
  const record: FailureRecord = {
    result: "LOST",
    message: fate.fate === "error" ? fate.message : why,
    time: context.now.toISOString(),
    attempt: attemptOf(task),
    worker: context.worker,
    ...(fate.fate === "error" ? { fate: "error" as const } : {}),
  };
  return {
    to: fate.fate === "error" ? "error" : "inbox",
    record: withFailure({ ...task, lost_count: fate.lostCount }, record),
    event: {
      result: "LOST",
      fate: fate.fate,
      message: fate.fate === "error" ? fate.message : `${why}; back in the inbox`,
    },
  };
}

/** What an attempt that returned, threw or timed out was, for its records. */
function judgeAttempt(
  task: TaskRecord,
  ending: Exclude<Ending, { kind: "shutdown" | "lost" }>,
  maxAttempts: number,
): { fate: Fate; result: string; why: string; stack?: string } {
  const retryCount = task.retry_count ?? 0;
  if (ending.kind === "returned") {
    const fate = decideFate(ending.value, retryCount, maxAttempts);
    const result = fate.fate === "error" ? fate.result : resultName(ending.value as TaskResult);
    return { fate, result, why: "the handler returned Task.RETRY" };
  }
  if (ending.kind === "thrown") {
    const { error } = ending;
    const stack = error.output === undefined ? error.stack : undefined;
    return {
      fate: decideThrown(error, retryCount, maxAttempts),
      result: "ERROR",
      why: `${error.name}: ${error.message}`,
      stack,
    };
  }
  return {
    fate: decideTimeout(ending.timeoutMs, retryCount, maxAttempts),
    result: "TIMEOUT",
    why: `timed out after ${ending.timeoutMs} ms`,
  };
}

function attemptTransition(
  task: TaskRecord,
  ending: Exclude<Ending, { kind: "shutdown" | "lost" }>,
  policy: TransitionPolicy,
  context: AttemptContext,
): Transition {
  const { fate, result, why, stack } = judgeAttempt(task, ending, policy.maxAttempts);
  const { now, output } = context;
  const failure = (message: string, final: boolean): FailureRecord => ({
    result,
    message,
    ...(stack ? { stack } : {}),
    ...(output ? { output } : {}),
    time: now.toISOString(),
    attempt: attemptOf(task),
    worker: context.worker,
    ...(final ? { fate: "error" as const } : {}),
  });
  switch (fate.fate) {
    case "archive":
      return { to: "archive", event: { result, fate: "archive" } };
    case "error":
      return {
        to: "error",
        record: withFailure(
          fate.retryCount === undefined ? task : { ...task, retry_count: fate.retryCount },
          failure(fate.message, true),
        ),
        event: { result, fate: "error", message: fate.message },
      };
    case "stop":
      return {
        to: "first",
        record: withFailure(task, failure("the handler returned Task.FAILURE; the listener stops here", false)),
        event: { result, fate: "stop", message: "the handler returned Task.FAILURE" },
      };
    case "retry": {
      const retryInMs = Math.max(0, checkedDelay(policy.retryDelay, fate.retryCount));
      const dueAt = retryInMs > 0 ? now.getTime() + retryInMs : undefined;
      let record: TaskRecord = { ...task, retry_count: fate.retryCount };
      delete record.not_before;
      if (dueAt !== undefined) record.not_before = new Date(dueAt).toISOString();
      // A returned RETRY leaves a record only when the handler said something; a throw or a timeout always.
      if (ending.kind !== "returned" || output) record = withFailure(record, failure(why, false));
      return {
        to: "inbox",
        record,
        ...(dueAt !== undefined ? { dueAt } : {}),
        event: {
          result,
          fate: "retry",
          ...(ending.kind !== "returned" ? { message: why } : {}),
          ...(retryInMs ? { retryInMs } : {}),
        },
      };
    }
  }
}

function checkedDelay(retryDelay: (attempt: number) => number, attempt: number): number {
  const delay = retryDelay(attempt);
  if (typeof delay !== "number" || !Number.isFinite(delay)) {
    throw new TypeError(`retryDelay(${attempt}) must return a number of milliseconds, returned ${String(delay)}`);
  }
  return delay;
}

/** The longest pause of an ordering key after FAILUREs of its first task (parallel mode). */
export const ORDERING_KEY_FAILURE_CAP_MS = 60_000;

/**
 * A FAILURE of a task with an ordering key, in parallel mode: only its key
 * waits. Instead of pausing the listener (`first`), the task goes back to
 * the inbox, not due (`not_before`) for a pause that grows with its FAILUREs
 * (about 1 s, 2 s, 4 s... up to a minute); tasks of its key stay behind it.
 *
 * @param next The FAILURE's transition (`to: "first"`).
 * @param now The time.
 * @param random The jitter's source.
 * @default {random} Math.random
 * @returns The transition that holds only the key.
 */
export function holdOrderingKey(next: Transition, now: Date, random: () => number = Math.random): Transition {
  const record = { ...next.record! };
  const failures = record.failures ?? [];
  const retryInMs = backoff(failures.filter((each) => each.result === "FAILURE").length, {
    capMs: ORDERING_KEY_FAILURE_CAP_MS,
    random,
  });
  const dueAt = now.getTime() + retryInMs;
  const message = "the handler returned Task.FAILURE; tasks of its ordering key wait behind it";
  if (failures.length > 0) record.failures = [...failures.slice(0, -1), { ...failures.at(-1)!, message }];
  record.not_before = new Date(dueAt).toISOString();
  return { to: "inbox", record, dueAt, event: { ...next.event, message, retryInMs } };
}

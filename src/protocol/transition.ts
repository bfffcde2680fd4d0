/**
 * What becomes of a task, as pure functions: from the task record, how its
 * handler ended, the policy and the time, to the new record, where the task
 * goes and the event to report. The worker only carries the answer out.
 */
import { formatAge } from "./_age.ts";
import { type FailureRecord, type TaskRecord, withFailure } from "./task_file.ts";

/**
 * What a handler returns for a task; the numbers are the PHP library's.
 *
 * @example Returning a result
 * ```ts
 * import { Task, type TaskResult } from "../../mod.ts";
 * function handleTask(): TaskResult {
 *   return Task.SUCCESS;
 * }
 * handleTask();
 * ```
 */
export const Task = {
  /** Done: the task moves to `archive/`. */
  SUCCESS: 0,
  /** Stop: the task stays first in the inbox and the pass ends. */
  FAILURE: 1,
  /** Try again in a later pass, up to `maxAttempts()` retries, then `error/`. */
  RETRY: 2,
  /** The task can never succeed: it moves to `error/` and the pass goes on. */
  INVALID: 3,
} as const;

/** One of the {@linkcode Task} codes. */
export type TaskResult = typeof Task[keyof typeof Task];

/** The name of a Task code, as `SUCCESS`. */
export function resultName(result: TaskResult): keyof typeof Task {
  return (["SUCCESS", "FAILURE", "RETRY", "INVALID"] as const)[result];
}

/** Whether a value is one of the {@linkcode Task} codes. */
export function isTaskResult(value: unknown): value is TaskResult {
  return value === 0 || value === 1 || value === 2 || value === 3;
}

/** What happens to a task after an attempt. */
export type Fate =
  | { fate: "archive" }
  | { fate: "retry"; retryCount: number }
  | { fate: "error"; retryCount?: number; result: string; message: string }
  | { fate: "stop" };

/**
 * Decides a task's fate from what its handler returned, as the PHP README
 * says: SUCCESS archives, INVALID errors, FAILURE stops the pass, RETRY counts
 * one more retry and errors once the count passes `maxAttempts` (so the
 * handler runs `maxAttempts + 1` times). Anything else returned is an error.
 *
 * @param returned What the handler returned.
 * @param retryCount The task's `retry_count` before this attempt.
 * @param maxAttempts The handler's `maxAttempts()`.
 * @returns The fate.
 *
 * @example Deciding fates
 * ```ts
 * import { decideFate, Task } from "../../mod.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(decideFate(Task.RETRY, 0, 2), { fate: "retry", retryCount: 1 });
 * deepEqual(decideFate(Task.RETRY, 2, 2).fate, "error");
 * ```
 */
export function decideFate(returned: unknown, retryCount: number, maxAttempts: number): Fate {
  switch (returned) {
    case Task.SUCCESS:
      return { fate: "archive" };
    case Task.FAILURE:
      return { fate: "stop" };
    case Task.INVALID:
      return { fate: "error", result: "INVALID", message: "the handler returned Task.INVALID" };
    case Task.RETRY:
      return retryFate(retryCount, maxAttempts, "RETRY", "the handler returned Task.RETRY");
    default:
      return {
        fate: "error",
        result: "ERROR",
        message: `the handler returned ${describeReturn(returned)}; expected Task.SUCCESS (0), ` +
          "Task.FAILURE (1), Task.RETRY (2) or Task.INVALID (3)",
      };
  }
}

function describeReturn(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  return `a ${typeof value}`;
}

/**
 * The retry budget, the one rule for every attempt that may be tried again
 * (a returned RETRY, a thrown error, a timeout): it counts one more retry,
 * and errors once the count passes `maxAttempts`, so the handler runs at most
 * `maxAttempts + 1` times.
 *
 * @param retryCount The task's `retry_count` before this attempt.
 * @param maxAttempts The handler's `maxAttempts()`.
 * @param result What the attempt was, for the failure record: `RETRY`, `ERROR`, `TIMEOUT`.
 * @param what What happened, as "the handler returned Task.RETRY"; the message adds how often.
 * @param detail The last attempt's reason, appended to the message as "; last: <detail>".
 * @returns `retry` with the new count, or `error` with the new count and why.
 *
 * @example Spending the budget
 * ```ts
 * import { retryFate } from "./transition.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(retryFate(0, 1, "ERROR", "the handler threw"), { fate: "retry", retryCount: 1 });
 * deepEqual(retryFate(1, 1, "ERROR", "the handler threw").fate, "error");
 * ```
 */
export function retryFate(
  retryCount: number,
  maxAttempts: number,
  result: string,
  what: string,
  detail?: string,
): Fate {
  const next = retryCount + 1;
  if (next <= maxAttempts) return { fate: "retry", retryCount: next };
  return {
    fate: "error",
    retryCount: next,
    result,
    message: `${what} ${next} ${next === 1 ? "time" : "times"}; maxAttempts() is ${maxAttempts}` +
      (detail === undefined ? "" : `; last: ${detail}`),
  };
}

/**
 * Decides the fate of a task whose handler threw. With `maxAttempts` 0 it
 * goes to `error/` with `retry_count` untouched, as in PHP; otherwise the
 * throw is an attempt like RETRY ({@linkcode retryFate}).
 *
 * @param error What was thrown (its `name` and `message`).
 * @param retryCount The task's `retry_count` before this attempt.
 * @param maxAttempts The handler's `maxAttempts()`.
 * @returns The fate; result `ERROR`.
 *
 * @example A throw with retries left
 * ```ts
 * import { decideThrown } from "./transition.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(decideThrown(new Error("down"), 0, 3), { fate: "retry", retryCount: 1 });
 * deepEqual(decideThrown(new Error("down"), 0, 0).fate, "error");
 * ```
 */
export function decideThrown(error: { name: string; message: string }, retryCount: number, maxAttempts: number): Fate {
  const detail = `${error.name}: ${error.message}`;
  if (maxAttempts === 0) return { fate: "error", result: "ERROR", message: detail };
  return retryFate(retryCount, maxAttempts, "ERROR", "the handler threw", detail);
}

/**
 * Decides the fate of a task that ran past its time limit: an attempt like
 * RETRY ({@linkcode retryFate}), result `TIMEOUT`.
 *
 * @param timeoutMs The time limit, for the message.
 * @param retryCount The task's `retry_count` before this attempt.
 * @param maxAttempts The handler's `maxAttempts()`.
 * @returns The fate.
 *
 * @example A timeout without retries
 * ```ts
 * import { decideTimeout } from "./transition.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(decideTimeout(1000, 0, 0).fate, "error");
 * ```
 */
export function decideTimeout(timeoutMs: number, retryCount: number, maxAttempts: number): Fate {
  return retryFate(retryCount, maxAttempts, "TIMEOUT", `the task timed out (limit ${timeoutMs} ms)`);
}

/** What happens to a task whose worker died or lost its lease (see {@linkcode decideLost}). */
export type LostFate =
  | { fate: "retry"; lostCount: number }
  | { fate: "error"; lostCount: number; message: string };

/**
 * The lost budget, apart from the retry budget (as BullMQ's
 * `maxStalledCount`): a task whose worker died or lost its lease goes back to
 * the inbox, its `lost_count` counted, until it has been lost more than
 * `maxLost` times; then it goes to `error/`. `retry_count` is not touched.
 *
 * @param why Why the attempt was lost, as "worker w-1 is no longer running".
 * @param lostCount The task's `lost_count` before this loss.
 * @param maxLost How many losses a task may have and still go back to the inbox.
 * @returns `retry` with the new count, or `error` with the new count and why.
 *
 * @example The fourth loss with maxLost 3
 * ```ts
 * import { decideLost } from "./transition.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(decideLost("worker w-1 died", 0, 3), { fate: "retry", lostCount: 1 });
 * deepEqual(decideLost("worker w-1 died", 3, 3).fate, "error");
 * ```
 */
export function decideLost(why: string, lostCount: number, maxLost: number): LostFate {
  const next = lostCount + 1;
  if (next <= maxLost) return { fate: "retry", lostCount: next };
  return {
    fate: "error",
    lostCount: next,
    message: `${why}; lost ${next} ${next === 1 ? "time" : "times"}; maxLost is ${maxLost}`,
  };
}

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

/** What a worker does with a task before its handler runs; see {@linkcode admit}. */
export type Admission =
  /** Run the handler. */
  | { kind: "run" }
  /** An earlier attempt decided this fate (recorded as its last failure record's `fate`): only move it. */
  | { kind: "complete"; fate: "archive" | "error"; result: string }
  /** Not due before `dueAt` (epoch ms, its `not_before`): leave it untouched. */
  | { kind: "later"; dueAt: number };

/**
 * Decides whether a task is run now: not when an earlier attempt's fate is
 * recorded in it (the move that carries it out failed), nor before its
 * `not_before`.
 *
 * @param task The task as read.
 * @param now The time.
 * @returns What to do with it.
 *
 * @example A task not due yet
 * ```ts
 * import { admit } from "./transition.ts";
 * import { deepEqual } from "node:assert/strict";
 * const task = { payload: 1, sequence: 1, count: 1, delivery: "", not_before: "2030-01-01T00:00:00.000Z" };
 * deepEqual(admit(task, new Date("2029-01-01")), { kind: "later", dueAt: Date.parse("2030-01-01") });
 * ```
 */
export function admit(task: TaskRecord, now: Date): Admission {
  const last = task.failures?.at(-1);
  if (last?.fate === "error" || last?.fate === "archive") {
    return { kind: "complete", fate: last.fate, result: last.result };
  }
  const dueAt = typeof task.not_before === "string" ? Date.parse(task.not_before) : NaN;
  if (dueAt > now.getTime()) return { kind: "later", dueAt };
  return { kind: "run" };
}

/**
 * Decides what to do with a task file that does not parse: wait for it (a
 * writer may still be busy: it is young by its mtime, and not found corrupt
 * for longer than the grace period), or quarantine it. A file from the
 * future is not waited for.
 *
 * @param ageMs The file's age by its mtime (negative: from the future).
 * @param corruptForMs How long this worker has found it corrupt, by its own clock.
 * @param graceMs The grace period (`incompleteGraceMs`).
 * @returns `wait`, or `quarantine` with a note to add to the reason ("" when none).
 *
 * @example A young file is waited for
 * ```ts
 * import { judgeIncomplete } from "./transition.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(judgeIncomplete(5, 5, 10_000), { kind: "wait" });
 * ```
 */
export function judgeIncomplete(
  ageMs: number,
  corruptForMs: number,
  graceMs: number,
): { kind: "wait" } | { kind: "quarantine"; note: string } {
  if (Math.abs(ageMs) < graceMs && corruptForMs < graceMs) return { kind: "wait" };
  return {
    kind: "quarantine",
    note: ageMs <= -graceMs ? `; its mtime is ${formatAge(-ageMs)} ahead of this host's clock` : "",
  };
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

/**
 * What a handler's attempt comes to, before any file is touched: the
 * {@linkcode Task} codes a handler returns, and the fate each ending earns
 * under the retry budget and the lost budget. Part of the task state machine
 * of `transition.ts`, which re-exports it.
 *
 * @module
 */

/**
 * What a handler returns for a task; the numbers are the PHP library's.
 *
 * @example Returning a result
 * ```ts
 * import { Task, type TaskResult } from "jsr:@hurah/events";
 * function handleTask(): TaskResult {
 *   return Task.SUCCESS;
 * }
 * handleTask();
 * ```
 */
export const Task: {
  /** Done: the task moves to `archive/`. */
  readonly SUCCESS: 0;
  /** Stop: the task stays first in the inbox and the pass ends. */
  readonly FAILURE: 1;
  /** Try again in a later pass, up to `maxAttempts()` retries, then `error/`. */
  readonly RETRY: 2;
  /** The task can never succeed: it moves to `error/` and the pass goes on. */
  readonly INVALID: 3;
} = {
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
 * import { decideFate, Task } from "jsr:@hurah/events";
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
 * import { retryFate } from "./task_result.ts";
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
 * import { decideThrown } from "./task_result.ts";
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
 * import { decideTimeout } from "./task_result.ts";
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
 * import { decideLost } from "./task_result.ts";
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

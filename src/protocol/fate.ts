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
    case Task.RETRY: {
      const next = retryCount + 1;
      if (next <= maxAttempts) return { fate: "retry", retryCount: next };
      return {
        fate: "error",
        retryCount: next,
        result: "RETRY",
        message: `the handler returned Task.RETRY ${next} ${
          next === 1 ? "time" : "times"
        }; maxAttempts() is ${maxAttempts}`,
      };
    }
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

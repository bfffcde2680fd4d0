import type { TaskResult } from "../protocol/transition.ts";
import type { TaskRecord } from "../protocol/task_file.ts";

/** What a handler gets for one task. */
export interface TaskContext {
  /** The dispatched data. */
  readonly payload: unknown;
  /** The task's sequence number in its listener. */
  readonly sequence: number;
  /** PHP's counter, equal to `sequence`. */
  readonly count: number;
  /** Dispatch time as stored, `2026-11-29T03:39:28+00:00`. */
  readonly delivery: string;
  /** How many times this task was retried before (0 on the first attempt). */
  readonly retryCount: number;
  /** The dispatched event type, when the dispatcher recorded it (PHP does not). */
  readonly eventType: string | undefined;
  /** The unique task id, when the dispatcher recorded it (PHP does not). */
  readonly taskId: string | undefined;
  /** The id shared by all tasks of one dispatch, when recorded (PHP does not). */
  readonly eventId: string | undefined;
  /** The listener's handler name (as `Delivery.listener`). */
  readonly listener: string;
  /**
   * The listener id, `<event_type>/<name>` (`<name>` for the root type): it
   * tells apart two listeners of one name on different event types, as the
   * logs and reports name them.
   */
  readonly listenerId: string;
  /** The whole task record as stored (for passing on, as exec handlers do). */
  readonly record: Readonly<TaskRecord>;
  /** Aborted when the task's time limit passes or the worker shuts down; stop work and return soon. */
  readonly signal: AbortSignal;
  /**
   * Writes one line to hurah's log, with the task named (an `output` event:
   * `hurah run` and `hurah watch` print it on stderr). The last lines (up to
   * 20, at most 4096 characters) are kept in the task's failure record when
   * the attempt does not end in SUCCESS. An exec handler's standard error
   * goes through here, line by line.
   *
   * @param message The line; any newlines in it are kept.
   */
  log(message: string): void;
}

/** Anything with a `handleTask` method, optionally `maxAttempts`. */
export interface HandlerLike {
  /** Handles one task and says what to do with it. */
  handleTask(context: TaskContext): TaskResult | Promise<TaskResult>;
  /** How many retries a task gets before it goes to `error/`; 0 when absent. */
  maxAttempts?(): number;
  /**
   * Milliseconds to wait before retry number `attempt` (from 1) after the
   * handler returned RETRY. When absent, `hurah run` retries in its next pass
   * and `hurah watch` backs off exponentially with jitter.
   */
  retryDelay?(attempt: number): number;
}

/** A handler written as a plain function. */
export type HandlerFunction = (context: TaskContext) => TaskResult | Promise<TaskResult>;

/**
 * The base class of handlers, the counterpart of PHP's AbstractHandler.
 * Implement `handleTask`; override `maxAttempts` to allow retries.
 *
 * @example A handler
 * ```ts
 * import { Handler, Task, type TaskContext, type TaskResult } from "jsr:@hurah/events";
 * class ImageScaler extends Handler {
 *   override maxAttempts(): number {
 *     return 3;
 *   }
 *   handleTask(context: TaskContext): TaskResult {
 *     const { product_id } = context.payload as { product_id: number };
 *     return product_id > 0 ? Task.SUCCESS : Task.INVALID;
 *   }
 * }
 * new ImageScaler();
 * ```
 */
export abstract class Handler implements HandlerLike {
  /**
   * Handles one task.
   *
   * @param context The task and its signal.
   * @returns A {@linkcode Task} code.
   */
  abstract handleTask(context: TaskContext): TaskResult | Promise<TaskResult>;

  /**
   * How many times a task may be retried (returning `Task.RETRY`) before it
   * goes to `error/`. The handler runs at most `maxAttempts() + 1` times per
   * task.
   *
   * @returns The number of retries allowed.
   * @default {0}
   */
  maxAttempts(): number {
    return 0;
  }
}

/**
 * Turns a handler in any accepted form into a {@linkcode HandlerLike}: a
 * `Handler` instance, an object with `handleTask`, or a function.
 *
 * @param handler The handler.
 * @returns The same handler as an object.
 * @throws {TypeError} When it is none of these.
 *
 * @example Using a function as a handler
 * ```ts
 * import { toHandler, Task } from "jsr:@hurah/events";
 * const handler = toHandler(() => Task.SUCCESS);
 * console.log(handler.maxAttempts?.() ?? 0);
 * ```
 */
export function toHandler(handler: HandlerLike | HandlerFunction): HandlerLike {
  if (typeof handler === "function") return { handleTask: handler };
  if (handler !== null && typeof handler === "object" && typeof handler.handleTask === "function") return handler;
  throw new TypeError(
    `expected a Handler instance, an object with handleTask(), or a function, found ${describe(handler)}`,
  );
}

/** Reads `maxAttempts()` and checks it. */
export function maxAttemptsOf(handler: HandlerLike): number {
  const max = handler.maxAttempts?.() ?? 0;
  if (!Number.isSafeInteger(max) || max < 0) {
    throw new TypeError(`maxAttempts() must return a non-negative integer, returned ${String(max)}`);
  }
  return max;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return `an object without handleTask()`;
  return `a ${typeof value}`;
}

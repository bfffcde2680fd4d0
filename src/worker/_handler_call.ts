/**
 * One call of a listener's handler on a task: the context it gets (its log
 * lines kept for the failure record), and the call raced against the task's
 * time limit and the shutdown grace period, which abort it. Used by the task
 * runner (`_task_runner.ts`).
 */
import { toError } from "../errors.ts";
import type { Ending } from "../protocol/transition.ts";
import type { TaskRecord } from "../protocol/task_file.ts";
import type { Listener } from "../protocol/listener_id.ts";
import type { HandlerLike, TaskContext } from "./handler.ts";
import type { RunEvent } from "./report.ts";

/** Thrown into a task's signal when its time limit passes. */
export class TaskTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`the task timed out after ${timeoutMs} ms`);
    this.name = "TaskTimeoutError";
  }
}

/** How many lines of a handler's output a failure record keeps, and at most how many characters. */
const OUTPUT_TAIL_LINES = 20;
export const OUTPUT_TAIL_CHARS = 4096;

/** Who a task's context is for, and where its log lines go. */
export interface ContextOptions {
  /** The listener whose handler gets the context. */
  listener: Listener;
  /** The task's own signal: aborted at its time limit, or after the shutdown grace period. */
  signal: AbortSignal;
  /** Receives the handler's log lines, the last `OUTPUT_TAIL_LINES` kept. */
  output: string[];
  /** Receives an `output` event per log line. */
  onEvent: (event: RunEvent) => void;
}

/** What the handler gets for a task; its log lines are kept in `output` (the last ones). */
export function taskContext(spot: { sequence: number }, task: TaskRecord, options: ContextOptions): TaskContext {
  const { listener, signal, output, onEvent } = options;
  const { sequence } = spot;
  return {
    payload: task.payload,
    sequence,
    count: typeof task.count === "number" ? task.count : sequence,
    delivery: String(task.delivery ?? ""),
    retryCount: task.retry_count ?? 0,
    eventType: typeof task.event_type === "string" ? task.event_type : undefined,
    taskId: typeof task.task_id === "string" ? task.task_id : undefined,
    eventId: typeof task.event_id === "string" ? task.event_id : undefined,
    listener: listener.name,
    listenerId: listener.id,
    record: task,
    signal,
    log: (message) => {
      const line = String(message);
      onEvent({ type: "output", listener: listener.id, sequence, line });
      output.push(line);
      if (output.length > OUTPUT_TAIL_LINES) output.shift();
    },
  };
}

/** The limits of a handler call. */
export interface InvokeOptions {
  /** Aborts the task's own signal (the context's) at the time limit, or after the grace period. */
  taskAbort: AbortController;
  /** Stops taking tasks; the running one gets `graceMs`. */
  signal: AbortSignal;
  /** How long the task may go on after `signal`, before `taskAbort` aborts. */
  graceMs: number;
  /** The time limit in milliseconds, or 0 for none. */
  timeoutMs: number;
}

/** Runs the handler, racing it against its time limit and the shutdown grace period. */
export async function invokeHandler(
  handler: HandlerLike,
  context: TaskContext,
  options: InvokeOptions,
): Promise<Ending> {
  const { taskAbort, signal, graceMs, timeoutMs } = options;
  const timers: ReturnType<typeof setTimeout>[] = [];
  let onStop: (() => void) | undefined;
  try {
    const handled: Promise<Ending> = (async () => await handler.handleTask(context))().then(
      (value): Ending => ({ kind: "returned", value }),
      (error): Ending => ({ kind: "thrown", error: toError(error) }),
    );
    const limits = new Promise<Ending>((resolve) => {
      if (timeoutMs > 0) {
        timers.push(setTimeout(() => {
          taskAbort.abort(new TaskTimeoutError(timeoutMs));
          resolve({ kind: "timeout", timeoutMs });
        }, timeoutMs));
      }
      onStop = () => {
        timers.push(setTimeout(() => {
          taskAbort.abort(signal.reason);
          resolve({ kind: "shutdown", graceMs });
        }, graceMs));
      };
      if (signal.aborted) onStop();
      else signal.addEventListener("abort", onStop, { once: true });
    });
    return await Promise.race([handled, limits]);
  } finally {
    timers.forEach(clearTimeout);
    if (onStop) signal.removeEventListener("abort", onStop);
  }
}

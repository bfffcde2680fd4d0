/** One pass over one listener's inbox: shared by `runOnce` and `watch`. */
import { CorruptFileError, ExecHandlerError, toError } from "../errors.ts";
import { decideFate, type Fate, resultName, Task, type TaskResult } from "../protocol/fate.ts";
import { Layout } from "../protocol/layout.ts";
import { decodeTask, encodeTask, type FailureRecord, type TaskRecord, withFailure } from "../protocol/task_file.ts";
import { isNotFound } from "../store/_fs.ts";
import type { FileStore, ListenerRef } from "../store/file_store.ts";
import { type HandlerLike, maxAttemptsOf, type TaskContext } from "./handler.ts";
import type { RunEvent, RunReport } from "./run_once.ts";
import { workerId } from "./_worker_id.ts";

/** How a pass runs its handler; every field is already defaulted. */
export interface PassSettings {
  /** Stops the pass before the next task; the running one gets `graceMs`. */
  signal: AbortSignal;
  /** How long a running task may go on after `signal`, before its own signal aborts. */
  graceMs: number;
  /** Per-task time limit in milliseconds, or 0 for none. */
  timeoutMs: number;
  /** Delay before retry `attempt` when the handler has no `retryDelay`. */
  retryDelay: (attempt: number) => number;
  /** See `RunOptions.incompleteGraceMs`. */
  incompleteGraceMs: number;
  /** Receives log events. */
  onEvent: (event: RunEvent) => void;
  /** The clock. */
  now: () => Date;
}

/** Thrown into a task's signal when its time limit passes. */
export class TaskTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`the task timed out after ${timeoutMs} ms`);
    this.name = "TaskTimeoutError";
  }
}

type Outcome =
  | { kind: "returned"; value: unknown }
  | { kind: "thrown"; error: Error }
  | { kind: "timeout" }
  | { kind: "shutdown" };

/** A fresh, empty report. */
export function emptyReport(listenerDir: string): RunReport {
  return { listenerDir, handled: 0, archived: 0, errored: 0, retried: 0, quarantined: 0, aborted: false };
}

/** Works one listener's inbox; one instance serves many passes. The caller holds the run lock. */
export class Pass {
  readonly #maxAttempts: number;
  readonly #worker = workerId();

  constructor(
    readonly store: FileStore,
    readonly listener: ListenerRef,
    readonly handler: HandlerLike,
    readonly settings: PassSettings,
  ) {
    this.#maxAttempts = maxAttemptsOf(handler);
  }

  /** Handles every due task once, in sequence order, adding to `report`. */
  async run(report: RunReport): Promise<RunReport> {
    delete report.failedAt;
    delete report.waitingFor;
    delete report.nextDueAt;
    const seen = new Set<string>();
    for (;;) {
      const { tasks, strays } = await this.store.listInbox(this.listener);
      for (const stray of strays) {
        const kind = stray.isSymlink ? "symbolic link" : stray.isDirectory ? "directory" : "file";
        await this.#quarantine(
          report,
          stray.name,
          `not a task file: expected a regular file named <sequence>.json, found a ${kind}`,
        );
      }
      const pending = tasks.filter((task) => !seen.has(task.file));
      if (pending.length === 0) return report;
      for (const { sequence, file } of pending) {
        if (this.settings.signal.aborted) {
          report.aborted = true;
          return report;
        }
        seen.add(file);
        if (await this.#process(report, sequence, file) === "stop") return report;
      }
    }
  }

  async #process(report: RunReport, sequence: number, file: string): Promise<"next" | "stop"> {
    let text: string;
    let mtime: Date | null;
    try {
      ({ text, mtime } = await this.store.readInbox(this.listener, file));
    } catch (error) {
      if (isNotFound(error)) return "next"; // taken by someone else meanwhile
      if (error instanceof Deno.errors.PermissionDenied) {
        await this.#quarantine(report, file, `unreadable: ${error.message}`);
        return "next";
      }
      throw error;
    }
    let task: TaskRecord;
    try {
      task = decodeTask(text, sequence);
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      const age = this.settings.now().getTime() - (mtime?.getTime() ?? 0);
      if (age < this.settings.incompleteGraceMs) {
        report.waitingFor = file;
        this.settings.onEvent({ type: "waiting", listener: this.listener.name, file, reason: error.message });
        return "stop";
      }
      await this.#quarantine(report, file, `corrupt task file: ${error.message}`);
      return "next";
    }
    const last = task.failures?.at(-1);
    if (last?.fate === "error") {
      // An earlier pass decided and recorded this, then stopped before the move.
      await this.store.move(this.listener, file, Layout.ERROR);
      report.errored++;
      this.#emit(sequence, last.result, { fate: "error", result: last.result, message: last.message }, 0);
      return "next";
    }
    const due = typeof task.not_before === "string" ? Date.parse(task.not_before) : NaN;
    if (due > this.settings.now().getTime()) {
      report.nextDueAt = Math.min(report.nextDueAt ?? Infinity, due);
      return "next";
    }
    return await this.#attempt(report, sequence, file, task);
  }

  async #attempt(report: RunReport, sequence: number, file: string, task: TaskRecord): Promise<"next" | "stop"> {
    const retryCount = task.retry_count ?? 0;
    const taskAbort = new AbortController();
    const context: TaskContext = {
      payload: task.payload,
      sequence,
      count: typeof task.count === "number" ? task.count : sequence,
      delivery: String(task.delivery ?? ""),
      retryCount,
      eventType: typeof task.event_type === "string" ? task.event_type : undefined,
      taskId: typeof task.task_id === "string" ? task.task_id : undefined,
      listener: this.listener.name,
      record: task,
      signal: taskAbort.signal,
    };
    const started = performance.now();
    const outcome = await this.#invoke(context, taskAbort);
    const durationMs = performance.now() - started;
    if (outcome.kind === "shutdown") {
      // Whatever the handler does now, the task stays in the inbox as it was.
      report.aborted = true;
      this.settings.onEvent({
        type: "task",
        listener: this.listener.name,
        sequence,
        result: "ABORTED",
        fate: "stop",
        durationMs,
        message: `shutdown: the task ran past the ${this.settings.graceMs} ms grace period; it stays in the inbox`,
      });
      return "stop";
    }
    report.handled++;
    let fate: Fate;
    let result: string;
    let stack: string | undefined;
    if (outcome.kind === "returned") {
      fate = decideFate(outcome.value, retryCount, this.#maxAttempts);
      result = fate.fate === "error" ? fate.result : resultName(outcome.value as TaskResult);
    } else if (outcome.kind === "thrown") {
      fate = { fate: "error", result: "ERROR", message: `${outcome.error.name}: ${outcome.error.message}` };
      result = "ERROR";
      // An exec handler's message already carries its status and stderr; its JS stack says nothing.
      stack = outcome.error instanceof ExecHandlerError ? undefined : outcome.error.stack;
    } else {
      // A timeout counts as a RETRY whose reason is recorded.
      fate = decideFate(Task.RETRY, retryCount, this.#maxAttempts);
      result = "TIMEOUT";
      if (fate.fate === "error") fate = { ...fate, result, message: `${fate.message}; the last one timed out` };
    }
    const failure = (message: string, final: boolean): FailureRecord => ({
      result,
      message,
      ...(stack ? { stack } : {}),
      time: this.settings.now().toISOString(),
      attempt: retryCount + 1,
      worker: this.#worker,
      ...(final ? { fate: "error" as const } : {}),
    });
    let retryInMs: number | undefined;
    switch (fate.fate) {
      case "archive":
        await this.store.move(this.listener, file, Layout.ARCHIVE);
        report.archived++;
        break;
      case "retry": {
        retryInMs = Math.max(0, this.#retryDelay(fate.retryCount));
        let updated: TaskRecord = { ...task, retry_count: fate.retryCount };
        delete updated.not_before;
        if (retryInMs > 0) {
          updated.not_before = new Date(this.settings.now().getTime() + retryInMs).toISOString();
        }
        if (outcome.kind === "timeout") {
          updated = withFailure(updated, failure(`timed out after ${this.settings.timeoutMs} ms`, false));
        }
        await this.store.rewriteInbox(this.listener, file, encodeTask(updated));
        report.retried++;
        if (retryInMs > 0) {
          const due = Date.parse(updated.not_before as string);
          report.nextDueAt = Math.min(report.nextDueAt ?? Infinity, due);
        }
        break;
      }
      case "error": {
        const updated = fate.retryCount === undefined ? task : { ...task, retry_count: fate.retryCount };
        // Record the decision first: if the move is cut short, the next pass completes it.
        await this.store.rewriteInbox(
          this.listener,
          file,
          encodeTask(withFailure(updated, failure(fate.message, true))),
        );
        await this.store.move(this.listener, file, Layout.ERROR);
        report.errored++;
        break;
      }
      case "stop": {
        const failed = withFailure(task, failure("the handler returned Task.FAILURE; the listener stops here", false));
        await this.store.rewriteInbox(this.listener, file, encodeTask(failed));
        report.failedAt = sequence;
        break;
      }
    }
    this.#emit(sequence, result, fate, durationMs, retryInMs);
    return fate.fate === "stop" ? "stop" : "next";
  }

  #retryDelay(attempt: number): number {
    const delay = this.handler.retryDelay ? this.handler.retryDelay(attempt) : this.settings.retryDelay(attempt);
    if (typeof delay !== "number" || !Number.isFinite(delay)) {
      throw new TypeError(`retryDelay(${attempt}) must return a number of milliseconds, returned ${String(delay)}`);
    }
    return delay;
  }

  /** Runs the handler, racing it against its time limit and the shutdown grace period. */
  async #invoke(context: TaskContext, taskAbort: AbortController): Promise<Outcome> {
    const { signal, graceMs, timeoutMs } = this.settings;
    const timers: ReturnType<typeof setTimeout>[] = [];
    let onStop: (() => void) | undefined;
    try {
      const handled: Promise<Outcome> = (async () => await this.handler.handleTask(context))().then(
        (value): Outcome => ({ kind: "returned", value }),
        (error): Outcome => ({ kind: "thrown", error: toError(error) }),
      );
      const limits = new Promise<Outcome>((resolve) => {
        if (timeoutMs > 0) {
          timers.push(setTimeout(() => {
            taskAbort.abort(new TaskTimeoutError(timeoutMs));
            resolve({ kind: "timeout" });
          }, timeoutMs));
        }
        onStop = () => {
          timers.push(setTimeout(() => {
            taskAbort.abort(signal.reason);
            resolve({ kind: "shutdown" });
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

  #emit(sequence: number, result: string, fate: Fate, durationMs: number, retryInMs?: number): void {
    this.settings.onEvent({
      type: "task",
      listener: this.listener.name,
      sequence,
      result,
      fate: fate.fate,
      durationMs,
      ...(fate.fate === "error" ? { message: fate.message } : {}),
      ...(fate.fate === "stop" ? { message: "the handler returned Task.FAILURE" } : {}),
      ...(retryInMs ? { retryInMs } : {}),
    });
  }

  async #quarantine(report: RunReport, file: string, reason: string): Promise<void> {
    await this.store.quarantine(this.listener, file, reason);
    report.quarantined++;
    this.settings.onEvent({ type: "quarantine", listener: this.listener.name, file, reason });
  }
}

/**
 * One task, from reading its file to moving it on: shared by the ordered pass
 * (tasks handled where they lie, in `inbox/`) and parallel workers (tasks
 * claimed into `inflight/` first).
 */
import { CorruptFileError, ExecHandlerError, TaskMoveError, toError } from "../errors.ts";
import {
  decideFate,
  decideLost,
  decideThrown,
  decideTimeout,
  type Fate,
  resultName,
  type TaskResult,
} from "../protocol/fate.ts";
import { Layout } from "../protocol/layout.ts";
import { decodeTask, encodeTask, type FailureRecord, type TaskRecord, withFailure } from "../protocol/task_file.ts";
import { formatAge } from "../protocol/_age.ts";
import { isNotFound } from "../store/_fs.ts";
import type { FileStore, ListenerRef, TaskDir, TaskRead } from "../store/file_store.ts";
import { type HandlerLike, maxAttemptsOf, type TaskContext } from "./handler.ts";
import type { RunEvent, RunReport } from "./run_once.ts";

/** How tasks are run; every field is already defaulted. */
export interface PassSettings {
  /** Stops taking tasks; the running ones get `graceMs`. */
  signal: AbortSignal;
  /** How long a running task may go on after `signal`, before its own signal aborts. */
  graceMs: number;
  /** Per-task time limit in milliseconds, or 0 for none. */
  timeoutMs: number;
  /** Delay before retry `attempt` when the handler has no `retryDelay`. */
  retryDelay: (attempt: number) => number;
  /** See `RunOptions.incompleteGraceMs`. */
  incompleteGraceMs: number;
  /** See `RunOptions.maxTaskSize`. */
  maxTaskSize: number;
  /** Receives log events. */
  onEvent: (event: RunEvent) => void;
  /** The clock. */
  now: () => Date;
  /** Who is working, for failure records: `host:pid` or a parallel worker's id. */
  worker: string;
  /** Whether SUCCESS keeps the task in `archive/` or deletes it. */
  archive: "keep" | "delete";
  /** How many lost attempts (its worker died or lost its lease) a task may have before it goes to `error/`. */
  maxLost: number;
}

/** Thrown into a task's signal when its time limit passes. */
export class TaskTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`the task timed out after ${timeoutMs} ms`);
    this.name = "TaskTimeoutError";
  }
}

/** Where a task file is: in the inbox, or claimed in `inflight/`. */
export interface TaskSpot {
  /** `inbox` or `inflight`. */
  dir: TaskDir;
  /** Its file name there. */
  file: string;
  /** Its own name, `<N>.json`. */
  task: string;
  /** Its sequence number. */
  sequence: number;
}

/** What became of a task, for the loop that called. */
export type Step =
  /** Handled, moved on or skipped: go on with the next task. */
  | { kind: "next" }
  /** FAILURE: the listener stops (ordered) or pauses (parallel). */
  | { kind: "stop" }
  /** Not complete yet (a writer may be busy): look again shortly. */
  | { kind: "incomplete" }
  /** Waiting for its retry delay until `dueAt` (epoch ms). */
  | { kind: "later"; dueAt: number }
  /** Shutdown: it ran past the grace period and was left as it was. */
  | { kind: "aborted" };

type Outcome =
  | { kind: "returned"; value: unknown }
  | { kind: "thrown"; error: Error }
  | { kind: "timeout" }
  | { kind: "shutdown" };

/**
 * What an attempt decided for a task, to be carried out by a rewrite (when
 * `rewrite` is set) and a move. Kept by the runner when the move fails, so
 * that the next pass only carries it out.
 */
interface Settlement {
  /** Where the task goes: `archive/`, back to the inbox (retry, FAILURE), or `error/`. */
  kind: Fate["fate"];
  /** The attempt's result, for messages. */
  result: string;
  /** The task as it is to be written before the move, from the task as it is now. */
  rewrite?: (task: TaskRecord) => TaskRecord;
}

/** What tells one state of a task file from another: its id, delivery and last failure record. */
function markOf(task: TaskRecord): string {
  return JSON.stringify([task.task_id ?? null, task.delivery ?? null, task.failures?.at(-1) ?? null]);
}

/** How many lines of a handler's output a failure record keeps, and at most how many characters. */
const OUTPUT_TAIL_LINES = 20;
const OUTPUT_TAIL_CHARS = 4096;

/** A fresh, empty report. */
export function emptyReport(listenerDir: string): RunReport {
  return {
    listenerDir,
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

/** Runs one listener's handler on one task at a time (of many, in parallel mode). */
export class TaskRunner {
  readonly maxAttempts: number;
  /**
   * Settlements whose move failed, by task name (`<N>.json`), with a mark of
   * the task file as it was left: the next pass carries them out, without the
   * handler, unless someone else changed the file meanwhile.
   */
  readonly #unsettled = new Map<string, { settlement: Settlement; mark: string }>();
  /** When this runner first found each task file corrupt (`performance.now()`), while it stays so. */
  readonly #corruptSince = new Map<string, number>();

  constructor(
    readonly store: FileStore,
    readonly listener: ListenerRef,
    readonly handler: HandlerLike,
    readonly settings: PassSettings,
  ) {
    this.maxAttempts = maxAttemptsOf(handler);
  }

  /**
   * Handles the task at `spot`. A claimed task (`inflight/`) always leaves
   * `inflight/`: to archive/, error/, or back to the inbox (retry, FAILURE,
   * not due, shutdown). If it is gone meanwhile, another worker took it over
   * because this one's lease lapsed: the result is discarded and counted as
   * `lost`.
   */
  async handle(report: RunReport, spot: TaskSpot): Promise<Step> {
    try {
      return await this.#handle(report, spot);
    } catch (error) {
      if (spot.dir !== Layout.INFLIGHT || !isNotFound(error)) throw error;
      report.lost++;
      this.settings.onEvent({
        type: "lost",
        listener: this.listener.name,
        sequence: spot.sequence,
        message: "another worker took this task over (this worker's lease had lapsed); this result is discarded",
      });
      return { kind: "next" };
    }
  }

  async #handle(report: RunReport, spot: TaskSpot): Promise<Step> {
    let read: TaskRead;
    try {
      read = this.store.readTask(this.listener, spot.dir, spot.file, this.settings.maxTaskSize);
    } catch (error) {
      if (isNotFound(error) && spot.dir === Layout.INBOX) return { kind: "next" }; // taken by someone else
      if (error instanceof Deno.errors.PermissionDenied) {
        await this.quarantine(report, spot, `unreadable: ${error.message}`);
        return { kind: "next" };
      }
      throw error;
    }
    if (read.kind !== "file") {
      await this.quarantine(report, spot, this.#refusal(read));
      return { kind: "next" };
    }
    let task: TaskRecord;
    try {
      task = decodeTask(read.bytes, spot.sequence);
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      const age = this.settings.now().getTime() - read.mtime.getTime();
      const firstSeen = this.#corruptSince.get(spot.task) ?? performance.now();
      this.#corruptSince.set(spot.task, firstSeen);
      // Young by its mtime, and not found corrupt for longer than that by this runner's own clock: a writer
      // may still be busy. A file from the future is not waited for (that would be for ever, or until the
      // clock catches up).
      const grace = this.settings.incompleteGraceMs;
      if (Math.abs(age) < grace && performance.now() - firstSeen < grace) {
        report.waitingFor = spot.task;
        this.settings.onEvent({
          type: "waiting",
          listener: this.listener.name,
          file: spot.task,
          reason: error.message,
        });
        await this.#release(spot);
        return { kind: "incomplete" };
      }
      this.#corruptSince.delete(spot.task);
      const future = age <= -grace ? `; its mtime is ${formatAge(-age)} ahead of this host's clock` : "";
      await this.quarantine(report, spot, `corrupt task file: ${error.message}${future}`);
      return { kind: "next" };
    }
    if (this.#corruptSince.size > 0) this.#corruptSince.delete(spot.task);
    const earlier = this.#decidedEarlier(spot, task);
    if (earlier) {
      await this.#complete(report, spot, task, earlier);
      return { kind: "next" };
    }
    const dueAt = typeof task.not_before === "string" ? Date.parse(task.not_before) : NaN;
    if (dueAt > this.settings.now().getTime()) {
      report.nextDueAt = Math.min(report.nextDueAt ?? Infinity, dueAt);
      await this.#release(spot);
      return { kind: "later", dueAt };
    }
    return await this.#attempt(report, spot, task);
  }

  /** Puts a claimed task back into the inbox, unchanged; a task in the inbox stays. */
  async #release(spot: TaskSpot): Promise<void> {
    if (spot.dir === Layout.INFLIGHT) {
      await this.store.move(this.listener, Layout.INFLIGHT, spot.file, Layout.INBOX, spot.task);
    }
  }

  async #attempt(report: RunReport, spot: TaskSpot, task: TaskRecord): Promise<Step> {
    const { sequence } = spot;
    const retryCount = task.retry_count ?? 0;
    const lostCount = typeof task.lost_count === "number" ? task.lost_count : 0;
    const taskAbort = new AbortController();
    const output: string[] = [];
    const context: TaskContext = {
      payload: task.payload,
      sequence,
      count: typeof task.count === "number" ? task.count : sequence,
      delivery: String(task.delivery ?? ""),
      retryCount,
      eventType: typeof task.event_type === "string" ? task.event_type : undefined,
      taskId: typeof task.task_id === "string" ? task.task_id : undefined,
      eventId: typeof task.event_id === "string" ? task.event_id : undefined,
      listener: this.listener.name,
      record: task,
      signal: taskAbort.signal,
      log: (message) => {
        const line = String(message);
        this.settings.onEvent({ type: "output", listener: this.listener.name, sequence, line });
        output.push(line);
        if (output.length > OUTPUT_TAIL_LINES) output.shift();
      },
    };
    const started = performance.now();
    const outcome = await this.#invoke(context, taskAbort);
    const durationMs = performance.now() - started;
    if (outcome.kind === "shutdown") {
      // Whatever the handler does now, the task goes on as it was.
      report.aborted = true;
      await this.#release(spot);
      this.settings.onEvent({
        type: "task",
        listener: this.listener.name,
        sequence,
        result: "ABORTED",
        fate: "stop",
        durationMs,
        message: `shutdown: the task ran past the ${this.settings.graceMs} ms grace period; it stays in the inbox`,
      });
      return { kind: "aborted" };
    }
    report.handled++;
    let fate: Fate;
    let result: string;
    let stack: string | undefined;
    /** Why this attempt did not succeed, for the failure record of a retry. */
    let why: string;
    if (outcome.kind === "returned") {
      fate = decideFate(outcome.value, retryCount, this.maxAttempts);
      result = fate.fate === "error" ? fate.result : resultName(outcome.value as TaskResult);
      why = "the handler returned Task.RETRY";
    } else if (outcome.kind === "thrown") {
      fate = decideThrown(outcome.error, retryCount, this.maxAttempts);
      result = "ERROR";
      why = `${outcome.error.name}: ${outcome.error.message}`;
      // An exec handler's message already carries its status and stderr; its JS stack says nothing.
      stack = outcome.error instanceof ExecHandlerError ? undefined : outcome.error.stack;
    } else {
      fate = decideTimeout(this.settings.timeoutMs, retryCount, this.maxAttempts);
      result = "TIMEOUT";
      why = `timed out after ${this.settings.timeoutMs} ms`;
    }
    const tail = output.join("\n").slice(-OUTPUT_TAIL_CHARS);
    const failure = (message: string, final: boolean): FailureRecord => ({
      result,
      message,
      ...(stack ? { stack } : {}),
      ...(tail ? { output: tail } : {}),
      time: this.settings.now().toISOString(),
      attempt: retryCount + lostCount + 1,
      worker: this.settings.worker,
      ...(final ? { fate: "error" as const } : {}),
    });
    let retryInMs: number | undefined;
    let settlement: Settlement;
    switch (fate.fate) {
      case "archive":
        settlement = { kind: "archive", result };
        break;
      case "retry": {
        retryInMs = Math.max(0, this.#retryDelay(fate.retryCount));
        const notBefore = retryInMs > 0 ? new Date(this.settings.now().getTime() + retryInMs).toISOString() : undefined;
        // A returned RETRY leaves a record only when the handler said something; a throw or a timeout always.
        const record = outcome.kind !== "returned" || tail ? failure(why, false) : undefined;
        const retries = fate.retryCount;
        settlement = {
          kind: "retry",
          result,
          rewrite: (current) => {
            let updated: TaskRecord = { ...current, retry_count: retries };
            delete updated.not_before;
            if (notBefore !== undefined) updated.not_before = notBefore;
            if (record) updated = withFailure(updated, record);
            return updated;
          },
        };
        if (notBefore !== undefined) report.nextDueAt = Math.min(report.nextDueAt ?? Infinity, Date.parse(notBefore));
        break;
      }
      case "error": {
        const record = failure(fate.message, true);
        const retries = fate.retryCount;
        settlement = {
          kind: "error",
          result,
          rewrite: (current) =>
            withFailure(retries === undefined ? current : { ...current, retry_count: retries }, record),
        };
        break;
      }
      case "stop": {
        const record = failure("the handler returned Task.FAILURE; the listener stops here", false);
        settlement = { kind: "stop", result, rewrite: (current) => withFailure(current, record) };
        report.failedAt = sequence;
        break;
      }
    }
    await this.#settle(report, spot, task, settlement);
    this.#emit(sequence, result, fate, durationMs, retryInMs, outcome.kind === "returned" ? undefined : why);
    return fate.fate === "stop" ? { kind: "stop" } : { kind: "next" };
  }

  /**
   * A settlement an earlier attempt decided but could not carry out: kept in
   * memory, or recorded in the task file as its last failure record's `fate`.
   */
  #decidedEarlier(spot: TaskSpot, task: TaskRecord): Settlement | undefined {
    const kept = this.#unsettled.get(spot.task);
    if (kept && kept.mark === markOf(task)) return kept.settlement;
    this.#unsettled.delete(spot.task); // changed by someone else (a requeue, a take-over): decide afresh
    const last = task.failures?.at(-1);
    if (last?.fate === "error") return { kind: "error", result: last.result };
    if (last?.fate === "archive") return { kind: "archive", result: last.result };
    return undefined;
  }

  /** Carries out a settlement decided by an earlier attempt, without running the handler. */
  async #complete(report: RunReport, spot: TaskSpot, task: TaskRecord, settlement: Settlement): Promise<void> {
    await this.#settle(report, spot, task, settlement);
    this.settings.onEvent({
      type: "task",
      listener: this.listener.name,
      sequence: spot.sequence,
      result: settlement.result,
      fate: settlement.kind,
      durationMs: 0,
      message: "an earlier attempt decided this; its move is completed now, without running the handler",
    });
  }

  /**
   * Carries out a settlement: rewrites the task when asked, then moves it.
   * When that fails (and the task is not simply gone), the decision is
   * recorded in the task file if it can still be rewritten, and kept in
   * memory in any case, so the handler does not run again for it; then a
   * {@linkcode TaskMoveError} is thrown.
   */
  async #settle(report: RunReport, spot: TaskSpot, task: TaskRecord, settlement: Settlement): Promise<void> {
    let rewritten: TaskRecord | undefined;
    try {
      if (settlement.rewrite) {
        const updated = settlement.rewrite(task);
        await this.store.rewriteTask(this.listener, spot.dir, spot.file, encodeTask(updated));
        rewritten = updated;
      }
      switch (settlement.kind) {
        case "archive":
          if (this.settings.archive === "delete") await this.store.remove(this.listener, spot.dir, spot.file);
          else await this.store.move(this.listener, spot.dir, spot.file, Layout.ARCHIVE, spot.task);
          report.archived++;
          break;
        case "error":
          await this.store.move(this.listener, spot.dir, spot.file, Layout.ERROR, spot.task);
          report.errored++;
          break;
        case "retry":
          await this.#release(spot);
          report.retried++;
          break;
        case "stop":
          await this.#release(spot);
          break;
      }
    } catch (thrown) {
      if (isNotFound(thrown)) throw thrown; // taken over, or taken by someone else: not this runner's to settle
      // FAILURE keeps the task where it is to be tried again anyway: nothing to remember.
      if (settlement.kind === "stop") throw thrown;
      const cause = toError(thrown);
      let kept = rewritten
        ? { settlement: { kind: settlement.kind, result: settlement.result }, mark: markOf(rewritten) }
        : { settlement, mark: markOf(task) };
      if (settlement.kind === "archive") {
        const recorded = await this.#recordArchive(spot, task, settlement.result, cause);
        if (recorded) kept = { settlement: { kind: "archive", result: settlement.result }, mark: markOf(recorded) };
      }
      this.#unsettled.set(spot.task, kept);
      const to = settlement.kind === "archive"
        ? Layout.ARCHIVE
        : settlement.kind === "error"
        ? Layout.ERROR
        : Layout.INBOX;
      throw new TaskMoveError(this.listener.name, spot.sequence, settlement.result, to, cause);
    }
    this.#unsettled.delete(spot.task);
  }

  /**
   * Records in the task file that its handler succeeded though the move to
   * `archive/` failed, and returns the task as written; `undefined` when the
   * file cannot be rewritten either. A task whose last record says so already
   * (a pass that only retried the move) is returned as it is: the decision is
   * recorded once, not once per failed move.
   */
  async #recordArchive(
    spot: TaskSpot,
    task: TaskRecord,
    result: string,
    cause: Error,
  ): Promise<TaskRecord | undefined> {
    if (task.failures?.at(-1)?.fate === "archive") return task;
    const record: FailureRecord = {
      result,
      message: `handled (${result}) but the move to archive/ failed: ${cause.name}: ${cause.message}`,
      time: this.settings.now().toISOString(),
      attempt: (task.retry_count ?? 0) + (typeof task.lost_count === "number" ? task.lost_count : 0) + 1,
      worker: this.settings.worker,
      fate: "archive",
    };
    const recorded = withFailure(task, record);
    try {
      await this.store.rewriteTask(this.listener, spot.dir, spot.file, encodeTask(recorded));
    } catch {
      return undefined; // the runner keeps the decision in memory instead
    }
    return recorded;
  }

  /**
   * Puts a task whose worker is gone back into the inbox, the lost attempt
   * counted against the lost budget (`maxLost`; to `error/` once it is used
   * up); `retry_count` is not touched. A task whose earlier attempt had
   * decided its fate (recorded, or kept by this runner) gets that fate
   * instead. `spot` is the task already taken over into this worker's name.
   */
  async recover(report: RunReport, spot: TaskSpot, why: string): Promise<void> {
    const read = this.store.readTask(this.listener, spot.dir, spot.file, this.settings.maxTaskSize);
    if (read.kind !== "file") {
      await this.quarantine(report, spot, this.#refusal(read));
      return;
    }
    let task: TaskRecord;
    try {
      task = decodeTask(read.bytes, spot.sequence);
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      await this.#release(spot); // the inbox pass quarantines it
      return;
    }
    const earlier = this.#decidedEarlier(spot, task);
    if (earlier) {
      await this.#complete(report, spot, task, earlier);
      return;
    }
    const lostCount = typeof task.lost_count === "number" ? task.lost_count : 0;
    const fate = decideLost(why, lostCount, this.settings.maxLost);
    const record: FailureRecord = {
      result: "LOST",
      message: fate.fate === "error" ? fate.message : why,
      time: this.settings.now().toISOString(),
      attempt: (task.retry_count ?? 0) + lostCount + 1,
      worker: this.settings.worker,
      ...(fate.fate === "error" ? { fate: "error" as const } : {}),
    };
    report.recovered++;
    const updated = withFailure({ ...task, lost_count: fate.lostCount }, record);
    await this.store.rewriteTask(this.listener, spot.dir, spot.file, encodeTask(updated));
    if (fate.fate === "error") {
      await this.store.move(this.listener, spot.dir, spot.file, Layout.ERROR, spot.task);
      report.errored++;
    } else {
      await this.#release(spot);
    }
    this.settings.onEvent({
      type: "task",
      listener: this.listener.name,
      sequence: spot.sequence,
      result: "LOST",
      fate: fate.fate,
      durationMs: 0,
      message: fate.fate === "error" ? fate.message : `${why}; back in the inbox`,
    });
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

  #emit(sequence: number, result: string, fate: Fate, durationMs: number, retryInMs?: number, why?: string): void {
    this.settings.onEvent({
      type: "task",
      listener: this.listener.name,
      sequence,
      result,
      fate: fate.fate,
      durationMs,
      ...(fate.fate === "error" ? { message: fate.message } : {}),
      ...(fate.fate === "retry" && why !== undefined ? { message: why } : {}),
      ...(fate.fate === "stop" ? { message: "the handler returned Task.FAILURE" } : {}),
      ...(retryInMs ? { retryInMs } : {}),
    });
  }

  /** Why a file that was not read is quarantined. */
  #refusal(read: Exclude<TaskRead, { kind: "file" }>): string {
    if (read.kind === "not a file") {
      return `not a task file: expected a regular file named <sequence>.json, found a ${read.found}`;
    }
    return `task file too large: ${read.size} bytes, over the limit of ${this.settings.maxTaskSize} bytes ` +
      "(maxTaskSize); raise it (--max-task-size) to handle it, then requeue it";
  }

  /** Moves a file that is not a valid task to `error/` with a note saying why. */
  async quarantine(report: RunReport, spot: Pick<TaskSpot, "dir" | "file" | "task">, reason: string): Promise<void> {
    try {
      await this.store.quarantine(this.listener, spot.dir, spot.file, reason, spot.task);
    } catch (error) {
      if (isNotFound(error) && spot.dir === Layout.INBOX) return; // another worker got to it first
      throw error;
    }
    report.quarantined++;
    this.settings.onEvent({ type: "quarantine", listener: this.listener.name, file: spot.task, reason });
  }
}

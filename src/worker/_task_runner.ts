/**
 * One task, from reading its file to moving it on: shared by the ordered pass
 * (tasks handled where they lie, in `inbox/`) and parallel workers (tasks
 * claimed into `inflight/` first).
 */
import { TaskLostError, TaskMoveError, toError } from "../errors.ts";
import {
  type Admission,
  admit,
  attemptOf,
  holdOrderingKey,
  judgeIncomplete,
  type Transition,
  transition,
  type TransitionEvent,
  type TransitionPolicy,
} from "../protocol/transition.ts";
import { type FailureRecord, type TaskRecord, withFailure } from "../protocol/task_file.ts";
import type { Listener } from "../protocol/listener_id.ts";
import type { TakenTask, TaskQueue, TaskRead } from "../backend/port.ts";
import { type HandlerLike, maxAttemptsOf } from "./handler.ts";
import { invokeHandler, OUTPUT_TAIL_CHARS, taskContext } from "./_handler_call.ts";
import type { RunEvent, RunReport } from "./report.ts";

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

/** What became of a task, for the loop that called. */
export type Step =
  /** Handled, moved on or skipped: go on with the next task; a retry's delay ends at `dueAt` (epoch ms). */
  | { kind: "next"; dueAt?: number }
  /** FAILURE: the listener stops (ordered) or pauses (parallel). */
  | { kind: "stop" }
  /** Not complete yet (a writer may be busy): look again shortly. */
  | { kind: "incomplete" }
  /** Waiting for its retry delay until `dueAt` (epoch ms). */
  | { kind: "later"; dueAt: number }
  /** Shutdown: it ran past the grace period and was left as it was. */
  | { kind: "aborted" };

/**
 * What was decided for a task, to be carried out by a rewrite (when `record`
 * is set) and a move: a transition, or its destination and event alone. Kept
 * by the runner when the move fails, so that the next pass only carries it out.
 */
type Settlement = Pick<Transition, "to" | "record"> & { event: Pick<TransitionEvent, "result" | "fate"> };

/** What reading a task found, judged: a half-written one is looked at again shortly. */
type Read = Exclude<TaskRead, { kind: "unparsed" }> | { kind: "incomplete" };

const NEXT: Step = { kind: "next" };

/** What tells one state of a task file from another: its id, delivery and last failure record. */
function markOf(task: TaskRecord): string {
  return JSON.stringify([task.task_id ?? null, task.delivery ?? null, task.failures?.at(-1) ?? null]);
}

/** Where a destination is, for `TaskMoveError.to`. */
const DIRECTORY = { archive: "archive", error: "error", inbox: "inbox", first: "inbox", untouched: "inbox" } as const;

/**
 * Runs one listener's handler on one task at a time (of many, in parallel
 * mode), and carries out what {@linkcode transition} decides for it.
 */
export class TaskRunner<T extends TakenTask = TakenTask> {
  /** The retry and lost budgets, and the retry delay. */
  readonly policy: TransitionPolicy;
  /**
   * Settlements whose move failed, by task name (`<N>.json`), with a mark of
   * the task file as it was left: the next pass carries them out, without the
   * handler, unless someone else changed the file meanwhile.
   */
  readonly #unsettled = new Map<string, { settlement: Settlement; mark: string }>();
  /** When this runner first found each task file corrupt (`performance.now()`), while it stays so. */
  readonly #corruptSince = new Map<string, number>();

  constructor(
    readonly queue: TaskQueue<T>,
    readonly listener: Listener,
    readonly handler: HandlerLike,
    readonly settings: PassSettings,
  ) {
    const retryDelay = handler.retryDelay ? (attempt: number) => handler.retryDelay!(attempt) : settings.retryDelay;
    this.policy = { maxAttempts: maxAttemptsOf(handler), maxLost: settings.maxLost, retryDelay };
  }

  /**
   * Handles the task at `spot`. A claimed task (`inflight/`) always leaves
   * `inflight/`: to archive/, error/, or back to the inbox (retry, FAILURE,
   * not due, shutdown). If it is gone meanwhile, another worker took it over
   * because this one's lease lapsed: the result is discarded and counted as
   * `lost`.
   */
  async handle(report: RunReport, spot: T, onStop?: () => void): Promise<Step> {
    try {
      return await this.#handle(report, spot, onStop);
    } catch (error) {
      if (!(error instanceof TaskLostError) || !this.queue.claimed(spot)) throw error;
      report.lost++;
      this.settings.onEvent({
        type: "lost",
        listener: this.listener.id,
        sequence: spot.sequence,
        message: "another worker took this task over (this worker's lease had lapsed); this result is discarded",
      });
      return NEXT;
    }
  }

  async #handle(report: RunReport, spot: T, onStop?: () => void): Promise<Step> {
    const read = this.#read(spot);
    switch (read.kind) {
      case "gone":
        return NEXT;
      case "refused":
        await this.quarantine(report, spot, read.reason);
        return NEXT;
      case "incomplete":
        await this.queue.settle(spot, "untouched");
        return read;
    }
    const { task } = read;
    const admission = admit(task, this.settings.now());
    const decided = this.#decidedEarlier(spot, task, admission);
    if (decided) {
      await this.#complete(report, spot, task, decided);
      return NEXT;
    }
    if (admission.kind === "later") {
      await this.queue.settle(spot, "untouched");
      return admission;
    }
    return await this.#attempt(report, spot, task, onStop);
  }

  /** Reads the task at `spot`; an unparsable one is waited for while a writer may still be busy. */
  #read(spot: T): Read {
    const read = this.queue.read(spot);
    if (read.kind === "unparsed") return this.#unparsed(spot, read.writtenAt, read.message);
    if (read.kind === "task" && this.#corruptSince.size > 0) this.#corruptSince.delete(spot.task);
    return read;
  }

  /** A task that does not parse: waited for while a writer may still be busy, then refused. */
  #unparsed(spot: T, mtime: Date, message: string): Read {
    const firstSeen = this.#corruptSince.get(spot.task) ?? performance.now();
    this.#corruptSince.set(spot.task, firstSeen);
    const ageMs = this.settings.now().getTime() - mtime.getTime();
    const judged = judgeIncomplete(ageMs, performance.now() - firstSeen, this.settings.incompleteGraceMs);
    if (judged.kind === "quarantine") {
      this.#corruptSince.delete(spot.task);
      return { kind: "refused", reason: `corrupt task file: ${message}${judged.note}` };
    }
    this.settings.onEvent({ type: "waiting", listener: this.listener.id, file: spot.task, reason: message });
    return { kind: "incomplete" };
  }

  /** Runs the handler on a task, then carries out the transition its ending leads to. */
  async #attempt(report: RunReport, spot: T, task: TaskRecord, onStop?: () => void): Promise<Step> {
    const output: string[] = [];
    const taskAbort = new AbortController();
    const started = performance.now();
    const { signal, graceMs, timeoutMs, onEvent } = this.settings;
    const context = taskContext(spot, task, { listener: this.listener, signal: taskAbort.signal, output, onEvent });
    const ending = await invokeHandler(this.handler, context, { taskAbort, signal, graceMs, timeoutMs });
    const durationMs = performance.now() - started;
    if (ending.kind !== "shutdown") report.handled++;
    const tail = output.join("\n").slice(-OUTPUT_TAIL_CHARS);
    let next = transition(task, ending, this.policy, {
      now: this.settings.now(),
      worker: this.settings.worker,
      output: tail,
    });
    // Parallel mode: a FAILURE of a task with an ordering key holds that key only.
    if (next.to === "first" && this.queue.claimed(spot) && typeof task.ordering_key === "string") {
      next = holdOrderingKey(next, this.settings.now());
    }
    if (ending.kind === "shutdown") {
      // Whatever the handler does now, the task goes on as it was.
      report.aborted = true;
      await this.queue.settle(spot, "untouched");
      this.#emit(spot.sequence, next.event, durationMs);
      return { kind: "aborted" };
    }
    if (next.to === "first") onStop?.(); // stop taking now, not once the task is back
    await this.#settle(report, spot, task, next);
    this.#emit(spot.sequence, next.event, durationMs);
    if (next.to === "first") return { kind: "stop" };
    return next.dueAt === undefined ? NEXT : { kind: "next", dueAt: next.dueAt };
  }

  /**
   * A settlement an earlier attempt decided but could not carry out: kept in
   * memory, or recorded in the task file as its last failure record's `fate`.
   */
  #decidedEarlier(spot: T, task: TaskRecord, admission: Admission): Settlement | undefined {
    const kept = this.#unsettled.get(spot.task);
    if (kept && kept.mark === markOf(task)) return kept.settlement;
    this.#unsettled.delete(spot.task); // changed by someone else (a requeue, a take-over): decide afresh
    if (admission.kind !== "complete") return undefined;
    return { to: admission.fate, event: { result: admission.result, fate: admission.fate } };
  }

  /** Carries out a settlement decided by an earlier attempt, without running the handler. */
  async #complete(report: RunReport, spot: T, task: TaskRecord, settlement: Settlement): Promise<void> {
    await this.#settle(report, spot, task, settlement);
    this.#emit(spot.sequence, {
      result: settlement.event.result,
      fate: settlement.event.fate,
      message: "an earlier attempt decided this; its move is completed now, without running the handler",
    }, 0);
  }

  /**
   * Carries out a settlement: rewrites the task when asked, then moves it.
   * When that fails (and the task is not simply gone), the decision is
   * recorded in the task file if it can still be rewritten, and kept in
   * memory in any case, so the handler does not run again for it; then a
   * {@linkcode TaskMoveError} is thrown.
   */
  async #settle(report: RunReport, spot: T, task: TaskRecord, settlement: Settlement): Promise<void> {
    let rewritten: TaskRecord | undefined;
    try {
      if (settlement.record) {
        await this.queue.note(spot, settlement.record);
        rewritten = settlement.record;
      }
      await this.queue.settle(spot, settlement.to);
      this.#count(report, settlement.to);
    } catch (thrown) {
      if (thrown instanceof TaskLostError) throw thrown; // taken over, or taken by someone else: not this runner's
      // FAILURE keeps the task where it is to be tried again anyway: nothing to remember.
      if (settlement.to === "first") throw thrown;
      const cause = toError(thrown);
      await this.#keep(spot, rewritten ?? task, rewritten ? { ...settlement, record: undefined } : settlement, cause);
      const { result } = settlement.event;
      throw new TaskMoveError(this.listener.id, spot.sequence, result, DIRECTORY[settlement.to], cause);
    }
    this.#unsettled.delete(spot.task);
  }

  /** Counts a task settled at `to`. */
  #count(report: RunReport, to: Transition["to"]): void {
    if (to === "archive") report.archived++;
    else if (to === "error") report.errored++;
    else if (to === "inbox") report.retried++;
  }

  /**
   * Keeps a settlement whose move failed, for the next pass, with the mark of
   * the task as it is now (`task`); a success is also recorded in the file.
   */
  async #keep(spot: T, task: TaskRecord, settlement: Settlement, cause: Error): Promise<void> {
    let kept = { settlement, mark: markOf(task) };
    if (settlement.to === "archive") {
      const recorded = await this.#recordArchive(spot, task, settlement.event.result, cause);
      if (recorded) kept = { settlement: { to: "archive", event: settlement.event }, mark: markOf(recorded) };
    }
    this.#unsettled.set(spot.task, kept);
  }

  /**
   * Records in the task file that its handler succeeded though the move to
   * `archive/` failed, and returns the task as written; `undefined` when the
   * file cannot be rewritten either. A task whose last record says so already
   * (a pass that only retried the move) is returned as it is: the decision is
   * recorded once, not once per failed move.
   */
  async #recordArchive(
    spot: T,
    task: TaskRecord,
    result: string,
    cause: Error,
  ): Promise<TaskRecord | undefined> {
    if (task.failures?.at(-1)?.fate === "archive") return task;
    const record: FailureRecord = {
      result,
      message: `handled (${result}) but the move to archive/ failed: ${cause.name}: ${cause.message}`,
      time: this.settings.now().toISOString(),
      attempt: attemptOf(task),
      worker: this.settings.worker,
      fate: "archive",
    };
    const recorded = withFailure(task, record);
    try {
      await this.queue.note(spot, recorded);
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
  async recover(report: RunReport, spot: T, why: string): Promise<void> {
    const read = this.queue.read(spot);
    if (read.kind === "gone") return;
    if (read.kind === "refused") return await this.quarantine(report, spot, read.reason);
    if (read.kind === "unparsed") return await this.queue.settle(spot, "untouched"); // the inbox pass quarantines it
    const { task } = read;
    const decided = this.#decidedEarlier(spot, task, admit(task, this.settings.now()));
    if (decided) return await this.#complete(report, spot, task, decided);
    const next = transition(task, { kind: "lost", why }, this.policy, {
      now: this.settings.now(),
      worker: this.settings.worker,
      output: "",
    });
    report.recovered++;
    await this.queue.note(spot, next.record!);
    await this.queue.settle(spot, next.to);
    if (next.to === "error") report.errored++;
    this.#emit(spot.sequence, next.event, 0);
  }

  /** Reports what became of a task. */
  #emit(sequence: number, event: TransitionEvent, durationMs: number): void {
    this.settings.onEvent({
      type: "task",
      listener: this.listener.id,
      sequence,
      result: event.result,
      fate: event.fate,
      durationMs,
      ...(event.message !== undefined ? { message: event.message } : {}),
      ...(event.retryInMs ? { retryInMs: event.retryInMs } : {}),
    });
  }

  /** Sets aside something that is not a valid task (to `error/`, with a note saying why). */
  async quarantine(report: RunReport, spot: T, reason: string): Promise<void> {
    if (!await this.queue.quarantine(spot, reason)) return; // another worker got to it first
    report.quarantined++;
    this.settings.onEvent({ type: "quarantine", listener: this.listener.id, file: spot.task, reason });
  }
}

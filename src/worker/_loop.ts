/**
 * One listener's pass, the same for `runOnce` (one pass) and `watch` (a pass
 * whenever woken): take due tasks from the listener's queue, as many as there
 * are free slots (ordered mode: 1), and let the runner handle each.
 */
import type { ListenerQueue, TakenTask } from "../backend/port.ts";
import type { PassFindings, RunReport } from "./report.ts";
import type { Step, TaskRunner } from "./_task_runner.ts";
import type { Wakeup } from "./_wakeup.ts";

/** How long a half-written inbox file is left alone (parallel mode) before it is looked at again. */
export const INCOMPLETE_RECHECK_MS = 250;

/** How often a watcher looks whether a paused listener was resumed. */
export const PAUSE_RECHECK_MS = 1000;

/**
 * What a watcher's parallel pass also waits for while its tasks run: a
 * notification that more may have come (a file event), or the rescan interval.
 */
export interface MoreTasks {
  readonly wakeup: Wakeup;
  readonly rescanIntervalMs: number;
}

/** One listener's queue and runner, worked pass after pass. */
export class ListenerLoop<T extends TakenTask = TakenTask> {
  constructor(
    readonly queue: ListenerQueue<T>,
    readonly runner: TaskRunner<T>,
    readonly concurrency: number,
  ) {}

  /**
   * Handles every due task once, adding the counts to `report`, and returns
   * what the pass found. Ordered mode handles one task at a time and ends at
   * a FAILURE, at a half-written file, at a pause and on the signal; parallel mode
   * handles up to `concurrency` at once, stops taking after a FAILURE or on
   * the signal, and waits for the tasks in progress. Given `more` (a
   * watcher), a parallel pass whose queue has nothing to take while tasks
   * run waits for a slot or for `more`, and then looks again from the start
   * of the inbox: a task that arrives meanwhile takes a free slot at once.
   */
  async pass(report: RunReport, more?: MoreTasks): Promise<PassFindings> {
    const { signal } = this.runner.settings;
    const ordered = this.concurrency === 1;
    const findings: PassFindings = {};
    const running = new Set<T>();
    let ended = false;
    /** A task returned FAILURE: no more tasks are taken (set as soon as it is decided, before it is put back). */
    let failed = false;
    let failure: unknown;
    // The wait for one of the tasks in progress to end. (Not Promise.race() over the running tasks: each call would
    // leave a reaction on every task still running, which piles up on a long one.)
    let slotFreed: (() => void) | undefined;
    const waitForSlot = () => new Promise<void>((resolve) => slotFreed = resolve);
    const stopped = () => ended || failed || failure !== undefined || (!ordered && signal.aborted);
    const onStop = () => void (failed = true);
    const hooks = { stopped, recover: (task: T, why: string) => this.runner.recover(report, task, why) };
    const settled = (task: T, step: Step) => {
      if (this.#note(findings, task, step)) ended = true;
    };
    this.queue.startPass();
    try {
      while (!stopped()) {
        while (running.size >= this.concurrency && !stopped()) await waitForSlot();
        if (stopped()) break;
        // Before every take (an operator's pause stops new work within one task); running tasks finish.
        const paused = await this.queue.paused();
        if (paused !== null) {
          findings.paused = paused;
          break;
        }
        const take = await this.queue.take(this.concurrency - running.size, hooks);
        if (take.backlog !== undefined) {
          this.runner.settings.onEvent({ type: "backlog", listener: this.runner.listener.id, pending: take.backlog });
        }
        for (const stray of take.strays) await this.runner.quarantine(report, stray.task, stray.reason);
        if (take.dueAt !== undefined) findings.nextDueAt = Math.min(findings.nextDueAt ?? Infinity, take.dueAt);
        if (take.tasks.length === 0) {
          if (ordered || more === undefined || running.size === 0) break;
          if (await this.#waitForMore(more, waitForSlot(), findings)) this.queue.startPass();
          continue;
        }
        if (ordered) {
          const [task] = take.tasks;
          if (signal.aborted) {
            report.aborted = true;
            break;
          }
          settled(task, await this.runner.handle(report, task));
          continue;
        }
        for (const task of take.tasks) {
          running.add(task);
          void this.runner.handle(report, task, onStop).then(
            (step) => settled(task, step),
            (error) => failure ??= error,
          )
            .finally(() => {
              running.delete(task);
              this.queue.finished(task);
              const wake = slotFreed;
              slotFreed = undefined;
              wake?.();
            });
        }
      }
    } finally {
      while (running.size > 0) await waitForSlot();
    }
    if (failure !== undefined) throw failure;
    if (!ordered && signal.aborted) report.aborted = true;
    return findings;
  }

  /**
   * Waits, tasks running, for one of them to end (`slot`) or for `more`:
   * true when `more` came first (a notification, the rescan interval, a
   * retry coming due), and the wakeup is cleared for the look that follows.
   */
  async #waitForMore(more: MoreTasks, slot: Promise<void>, findings: PassFindings): Promise<boolean> {
    const { signal, now } = this.runner.settings;
    let timeoutMs = more.rescanIntervalMs;
    if (findings.nextDueAt !== undefined) {
      timeoutMs = Math.min(timeoutMs, Math.max(0, findings.nextDueAt - now().getTime()));
    }
    const slotFirst = new AbortController();
    let freed = false;
    await Promise.race([
      slot.then(() => {
        freed = true;
        slotFirst.abort();
      }),
      more.wakeup.wait(timeoutMs, AbortSignal.any([signal, slotFirst.signal])),
    ]);
    if (freed || signal.aborted) return false;
    more.wakeup.clear();
    delete findings.nextDueAt; // the look from the start finds the due times again (a past one must not wake it at once)
    return true;
  }

  /** Notes what a task's step says about the pass; true when an ordered pass ends there. */
  #note(findings: PassFindings, task: T, step: Step): boolean {
    switch (step.kind) {
      case "stop":
        findings.failedAt = task.sequence;
        return true;
      case "incomplete":
        findings.waitingFor = task.task;
        if (this.concurrency > 1) {
          this.queue.defer(task, this.runner.settings.now().getTime() + INCOMPLETE_RECHECK_MS);
          return false;
        }
        return true;
      case "later":
        findings.nextDueAt = Math.min(findings.nextDueAt ?? Infinity, step.dueAt);
        this.queue.defer(task, step.dueAt);
        return false;
      case "aborted":
        return true;
      case "next":
        if (step.dueAt !== undefined) findings.nextDueAt = Math.min(findings.nextDueAt ?? Infinity, step.dueAt);
        return false;
    }
  }
}

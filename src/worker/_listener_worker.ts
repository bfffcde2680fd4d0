/**
 * One listener's loop in a watcher: a pass whenever woken (a file event, the
 * rescan interval, a retry coming due), paused after FAILURE and after a pass
 * that stopped on an unexpected error; upkeep when due.
 */
import { toError } from "../errors.ts";
import type { Listener } from "../protocol/listener_id.ts";
import type { ListenerPause } from "../protocol/listener_status.ts";
import { emptyReport, type PassFindings, pauseEvent, type RunEvent, type RunReport } from "./report.ts";
import { INCOMPLETE_RECHECK_MS, type ListenerLoop, type MoreTasks, PAUSE_RECHECK_MS } from "./_loop.ts";
import { sleep, Wakeup } from "./_wakeup.ts";

/** How often a watcher applies the archive retention (`archive: { keepMs }`). */
const RETENTION_INTERVAL_MS = 60 * 60 * 1000;

export interface LoopSettings {
  /** Delete archived tasks older than this, hourly. */
  keepArchiveMs: number | undefined;
  rescanIntervalMs: number;
  failureDelay: (failures: number) => number;
  onEvent: (event: RunEvent) => void;
  now: () => Date;
}

/** One listener's loop: a pass whenever woken, paused after FAILURE. */
export class ListenerWorker {
  readonly wakeup = new Wakeup(true);
  readonly report: RunReport;
  /** What the last pass found. */
  findings: PassFindings = {};
  /** The operator's pause the last pass found, if any: logged when found and when it ends. */
  #pause: ListenerPause | undefined;
  /** What a parallel pass waits for besides its running tasks: this loop's wakeup, and the rescan interval. */
  readonly #more: MoreTasks;
  #maintainedAt = -Infinity;
  #expiredAt = -Infinity;

  constructor(
    readonly listener: Listener,
    readonly loop: ListenerLoop,
    readonly settings: LoopSettings,
  ) {
    this.report = emptyReport(listener.id);
    this.#more = { wakeup: this.wakeup, rescanIntervalMs: settings.rescanIntervalMs };
  }

  /** Works the listener until `stop`; its queue (opened before) is disposed of at the end. */
  async run(stop: AbortSignal): Promise<void> {
    await using _ = this.loop.queue;
    await this.#loop(stop);
  }

  async #loop(stop: AbortSignal): Promise<void> {
    let failures = 0;
    let faults = 0;
    while (!stop.aborted) {
      this.wakeup.clear();
      try {
        if (!await this.#pass(stop)) return;
      } catch (thrown) {
        // An unexpected error (a file system that refuses a rename, a directory
        // replaced by a file...) pauses this listener only; the others go on.
        if (stop.aborted) throw thrown;
        const error = toError(thrown);
        const retryInMs = this.settings.failureDelay(++faults);
        this.settings.onEvent({
          type: "fault",
          listener: this.listener.id,
          message: error.stack ?? `${error.name}: ${error.message}`,
          retryInMs,
        });
        await sleep(retryInMs, stop);
        continue;
      }
      faults = 0;
      if (this.report.aborted || stop.aborted) return;
      const { failedAt, waitingFor, nextDueAt, paused } = this.findings;
      this.#notePause(paused);
      if (failedAt !== undefined) {
        const retryInMs = this.settings.failureDelay(++failures);
        this.settings.onEvent({
          type: "paused",
          listener: this.listener.id,
          sequence: failedAt,
          retryInMs,
        });
        await sleep(retryInMs, stop);
        continue;
      }
      failures = 0;
      let timeout = this.settings.rescanIntervalMs;
      if (paused !== undefined) timeout = Math.min(timeout, PAUSE_RECHECK_MS);
      if (waitingFor !== undefined) timeout = Math.min(timeout, INCOMPLETE_RECHECK_MS);
      if (nextDueAt !== undefined) timeout = Math.min(timeout, Math.max(0, nextDueAt - this.settings.now().getTime()));
      await this.wakeup.wait(timeout, stop);
    }
  }

  /** Logs a pause when a pass first finds it (or finds it replaced), and its end when a pass no longer does. */
  #notePause(paused: ListenerPause | undefined): void {
    const { id } = this.listener;
    if (paused !== undefined && paused.since !== this.#pause?.since) {
      this.settings.onEvent(pauseEvent("pause", id, paused));
    } else if (paused === undefined && this.#pause !== undefined) {
      this.settings.onEvent(pauseEvent("resume", id, this.#pause));
    }
    this.#pause = paused;
  }

  /**
   * Holds the listener (ordered files: the run lock, per pass, so that a
   * `hurah run` takes turns), does the upkeep when due, then one pass; false
   * when stopped while waiting for the hold.
   */
  async #pass(stop: AbortSignal): Promise<boolean> {
    const { queue, runner } = this.loop;
    let hold: Disposable;
    try {
      hold = await queue.hold();
    } catch (error) {
      if (stop.aborted && error === stop.reason) return false;
      throw error;
    }
    using _ = hold;
    const now = this.settings.now().getTime();
    if (now - this.#maintainedAt >= this.settings.rescanIntervalMs) {
      // Every rescan interval (a parallel pass also takes back dead workers' claims itself, mid-backlog).
      this.#maintainedAt = now;
      await queue.upkeep({ recover: (task, why) => runner.recover(this.report, task, why) });
    }
    if (this.settings.keepArchiveMs !== undefined && now - this.#expiredAt >= RETENTION_INTERVAL_MS) {
      this.#expiredAt = now;
      await queue.expire(this.settings.keepArchiveMs);
    }
    // A resume is logged before the tasks it lets through, not after the pass that handles them.
    if (this.#pause !== undefined && await queue.paused() === null) this.#notePause(undefined);
    this.findings = await this.loop.pass(this.report, this.#more);
    return true;
  }
}

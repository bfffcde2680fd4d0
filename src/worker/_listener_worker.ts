/**
 * One listener's loop in a watcher: a pass whenever woken (a file event, the
 * rescan interval, a retry coming due), paused after FAILURE and after a pass
 * that stopped on an unexpected error; upkeep when due.
 */
import { OrderedFileQueue, ParallelFileQueue } from "../backend/file/listener_queue.ts";
import type { TaskSpot } from "../backend/file/task_queue.ts";
import { toError } from "../errors.ts";
import type { FileStore, ListenerRef } from "../backend/file/file_store.ts";
import type { LockWait } from "../backend/file/_fs.ts";
import { prune } from "../backend/file/prune.ts";
import { emptyReport, type PassFindings, type RunEvent, type RunReport } from "./report.ts";
import { INCOMPLETE_RECHECK_MS, type ListenerLoop } from "./_loop.ts";
import { TMP_MAX_AGE_MS } from "./_settings.ts";
import { sleep, Wakeup } from "./_wakeup.ts";

/** How often a watcher clears old staging files and applies the archive retention. */
const HOUSEKEEPING_MS = 60 * 60 * 1000;

export interface LoopSettings {
  /** Delete archived tasks older than this, hourly. */
  keepArchiveMs: number | undefined;
  rescanIntervalMs: number;
  failureDelay: (failures: number) => number;
  onEvent: (event: RunEvent) => void;
  onLockWait: ((wait: LockWait) => void) | undefined;
  now: () => Date;
}

/** One listener's loop: a pass whenever woken, paused after FAILURE. */
export class ListenerWorker {
  readonly wakeup = new Wakeup(true);
  readonly report: RunReport;
  /** What the last pass found. */
  findings: PassFindings = {};
  #maintainedAt = -Infinity;
  #housekeptAt = -Infinity;

  constructor(
    readonly store: FileStore,
    readonly listener: ListenerRef,
    readonly loop: ListenerLoop<TaskSpot>,
    readonly settings: LoopSettings,
  ) {
    this.report = emptyReport(listener.dir);
  }

  async run(stop: AbortSignal): Promise<void> {
    const { queue } = this.loop;
    if (!(queue instanceof ParallelFileQueue)) return await this.#loop(stop);
    // Opened (its lease taken) before the loops start. Parallel workers share the run lock for as long as they
    // run: ordered runners wait.
    await using _ = queue;
    const lock = await this.#lock(stop, true);
    if (lock === undefined) return;
    try {
      await this.#loop(stop);
    } finally {
      lock.close();
    }
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
      const { failedAt, waitingFor, nextDueAt } = this.findings;
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
      if (waitingFor !== undefined) timeout = Math.min(timeout, INCOMPLETE_RECHECK_MS);
      if (nextDueAt !== undefined) timeout = Math.min(timeout, Math.max(0, nextDueAt - this.settings.now().getTime()));
      await this.wakeup.wait(timeout, stop);
    }
  }

  /** Upkeep when due, then one pass; false when stopped while waiting for the run lock. */
  async #pass(stop: AbortSignal): Promise<boolean> {
    const { queue, runner } = this.loop;
    const now = this.settings.now().getTime();
    if (now - this.#maintainedAt >= this.settings.rescanIntervalMs) {
      // Every rescan interval, take back the claims of parallel workers that are gone (a parallel pass does
      // this itself, even in the middle of a backlog).
      this.#maintainedAt = now;
      if (queue instanceof OrderedFileQueue) {
        const recover = (task: TaskSpot, why: string) => runner.recover(this.report, task, why);
        await this.#withLock(stop, () => queue.recoverOrphans(runner.settings.worker, recover));
      }
    }
    if (now - this.#housekeptAt >= HOUSEKEEPING_MS) {
      this.#housekeptAt = now;
      this.store.sweepTmp(this.listener, TMP_MAX_AGE_MS);
      if (this.settings.keepArchiveMs !== undefined) {
        await prune(this.store.root, {
          olderThanMs: this.settings.keepArchiveMs,
          listeners: [this.listener.id],
          now: this.settings.now,
        });
      }
    }
    const pass = async () => void (this.findings = await this.loop.pass(this.report));
    if (queue instanceof ParallelFileQueue) {
      await pass();
      return true;
    }
    return await this.#withLock(stop, pass);
  }

  /** Runs `task` under the exclusive run lock; false when stopped while waiting for it. */
  async #withLock(stop: AbortSignal, task: () => Promise<unknown>): Promise<boolean> {
    const lock = await this.#lock(stop, false);
    if (lock === undefined) return false;
    try {
      await task();
    } finally {
      lock.close();
    }
    return true;
  }

  /**
   * Takes the run lock, waiting (and saying so on stderr after a second) while
   * another runner holds it; `undefined` when stopped meanwhile.
   */
  async #lock(stop: AbortSignal, shared: boolean): Promise<{ close(): void } | undefined> {
    try {
      return await this.store.lockRunner(this.listener, shared, { signal: stop, onWait: this.settings.onLockWait });
    } catch (error) {
      if (stop.aborted && error === stop.reason) return undefined;
      throw error;
    }
  }
}

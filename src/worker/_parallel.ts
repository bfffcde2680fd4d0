/**
 * Parallel mode: up to `concurrency` tasks of one listener at once, in this
 * process and in any number of others (on this host or others sharing the
 * root). Each task is claimed by renaming it from `inbox/` to
 * `inflight/<N>.json~<worker>`; only one renamer wins. A worker holds a lease
 * (`workers/<worker>.json`) while it works; claims of a worker that is gone
 * are taken over and put back into the inbox, the lost attempt counted.
 */
import { Layout } from "../protocol/layout.ts";
import type { FileStore, ListenerRef } from "../store/file_store.ts";
import { judgeLease, Lease, leaseOwners, type LeaseVerdict, removeLease } from "../store/lease.ts";
import type { HandlerLike } from "./handler.ts";
import type { RunReport } from "./run_once.ts";
import { fileQueue, strayReason, straySpot } from "./_pass.ts";
import { type PassSettings, TaskRunner } from "./_task_runner.ts";
import type { TaskSpot } from "../backend/file/task_queue.ts";

/** How a listener is worked in parallel. */
export interface ParallelSettings {
  /** Tasks handled at once by this process. */
  concurrency: number;
  /** This host's id: leases of the same host are checked by their flock, others by expiry. */
  hostId: string;
  /** How long a lease lasts without renewal; renewed every third of it. */
  leaseMs: number;
  /** How often claims of workers that are gone are taken back, also in the middle of a long pass. */
  reapIntervalMs: number;
}

/** How long a half-written inbox file is left alone before it is looked at again. */
const INCOMPLETE_RECHECK_MS = 250;

/**
 * Works one listener with up to `concurrency` tasks at once. `open()` takes
 * the lease, `run()` claims and handles tasks until none is left to claim,
 * `reap()` takes back the claims of workers that are gone, `close()` waits
 * for running tasks and gives the lease up. The caller holds the run lock
 * shared.
 */
export class ParallelPass {
  readonly runner: TaskRunner<TaskSpot>;
  readonly worker: string;
  #lease: Lease | undefined;
  readonly #notBefore = new Map<string, number>();
  /** The `inflight/` names of the tasks this worker is handling now. */
  readonly #handling = new Set<string>();
  #reapedAt = -Infinity;

  constructor(
    readonly store: FileStore,
    readonly listener: ListenerRef,
    handler: HandlerLike,
    readonly settings: PassSettings,
    readonly parallel: ParallelSettings,
  ) {
    this.runner = new TaskRunner<TaskSpot>(fileQueue(store, listener, settings), listener, handler, settings);
    this.worker = settings.worker;
  }

  /** Takes this worker's lease; a thread of its own renews it every third of `leaseMs`. */
  async open(): Promise<void> {
    await this.store.ensureStateDir(this.listener, Layout.INFLIGHT);
    this.#lease = await Lease.acquire(this.store, this.listener, {
      worker: this.worker,
      host: this.parallel.hostId,
      pid: Deno.pid,
      started: this.settings.now().toISOString(),
      lease_ms: this.parallel.leaseMs,
    });
  }

  /** Stops renewing and removes the lease; call after the last `run()`. */
  async close(): Promise<void> {
    const lease = this.#lease;
    this.#lease = undefined;
    await lease?.release();
  }

  /**
   * Takes back every claim whose worker is gone, counting the lost attempt,
   * and removes the leases of gone workers (with claims or without). Claims
   * of this worker that it is not handling (left by a pass that stopped on
   * an error) are put back too. `run()` calls it every `reapIntervalMs`.
   */
  async reap(report: RunReport): Promise<void> {
    this.#reapedAt = this.settings.now().getTime();
    // Lease ages are judged by the file system's clock: the mtime of our own lease, renewed just now.
    const fsNow = await this.#lease?.stamp();
    const verdicts = new Map<string, LeaseVerdict>();
    for (const owner of leaseOwners(this.listener)) {
      if (owner !== this.worker) {
        verdicts.set(owner, await judgeLease(this.listener, owner, this.parallel.hostId, fsNow));
      }
    }
    for (const claim of this.store.listInflight(this.listener)) {
      if (claim.owner === this.worker) {
        if (this.#handling.has(claim.file)) continue;
        const spot = { dir: Layout.INFLIGHT, file: claim.file, task: claim.task, sequence: claim.sequence };
        await this.runner.recover(report, spot, `worker ${this.worker} left it behind after an error`);
        continue;
      }
      if (!verdicts.has(claim.owner)) {
        verdicts.set(claim.owner, await judgeLease(this.listener, claim.owner, this.parallel.hostId, fsNow));
      }
      const lapse = verdicts.get(claim.owner)!.lapse;
      if (lapse === undefined) continue;
      const mine = await this.store.takeOver(this.listener, claim, this.worker);
      if (!mine) continue; // another worker got there first
      const spot = { dir: Layout.INFLIGHT, file: mine.file, task: mine.task, sequence: mine.sequence };
      await this.runner.recover(report, spot, `worker ${claim.owner} ${lapse}`);
    }
    // Only as judged: a lease renewed since (its worker was frozen and has resumed) stays.
    for (const [owner, { lapse, seen }] of verdicts) {
      if (lapse !== undefined) await removeLease(this.listener, owner, seen);
    }
  }

  /**
   * Claims and handles tasks, up to `concurrency` at once, in sequence order
   * of claiming, until no task is left to claim; each task at most once per
   * call, so a RETRY without delay is tried again in the next pass, as in
   * ordered mode. A task put back below the highest number claimed in this
   * call (a RETRY, a requeue, another worker's take-over) also waits for the
   * next call. Stops claiming after a FAILURE (`report.failedAt`) or on the
   * signal.
   */
  async run(report: RunReport): Promise<RunReport> {
    delete report.failedAt;
    delete report.waitingFor;
    delete report.nextDueAt;
    const reapIfDue = async () => {
      if (this.settings.now().getTime() - this.#reapedAt >= this.parallel.reapIntervalMs) await this.reap(report);
    };
    // The claiming loop's wait for one of the tasks in progress (#handling) to end. (Not Promise.race() over the
    // running tasks: each call would leave a reaction on every task still running, which piles up on a long one.)
    let slotFreed: (() => void) | undefined;
    const waitForSlot = () => new Promise<void>((resolve) => slotFreed = resolve);
    // Claims go up in sequence order within a listing; a later listing skips everything up to the highest
    // claimed so far, so that a task back from this call (RETRY) is tried again in the next call, not this one.
    let claimedUpTo = 0;
    let failure: unknown;
    const stopClaiming = () => failure !== undefined || report.failedAt !== undefined || this.settings.signal.aborted;
    try {
      for (let first = true;; first = false) {
        await reapIfDue();
        const { sequences, strays } = await this.store.listInbox(this.listener);
        if (first) this.settings.onEvent({ type: "backlog", listener: this.listener.name, pending: sequences.length });
        for (const stray of strays) {
          await this.runner.quarantine(report, straySpot(stray.name), strayReason(stray));
        }
        const now = this.settings.now().getTime();
        let claimed = 0;
        for (const sequence of sequences) {
          const file = `${sequence}.json`;
          if (sequence <= claimedUpTo) continue;
          const dueAt = this.#notBefore.get(file);
          if (dueAt !== undefined) {
            if (dueAt > now) {
              report.nextDueAt = Math.min(report.nextDueAt ?? Infinity, dueAt);
              continue;
            }
            this.#notBefore.delete(file);
          }
          while (this.#handling.size >= this.parallel.concurrency && !stopClaiming()) await waitForSlot();
          if (stopClaiming()) break;
          await reapIfDue(); // a long backlog must not keep a dead worker's tasks waiting
          const claim = await this.store.claim(this.listener, file, this.worker);
          if (!claim) continue; // another worker was first
          claimed++;
          claimedUpTo = sequence;
          const spot: TaskSpot = { dir: Layout.INFLIGHT, file: claim.file, task: file, sequence };
          this.#handling.add(claim.file);
          void this.runner.handle(report, spot).then((step) => {
            if (step.kind === "later") this.#notBefore.set(file, step.dueAt);
            if (step.kind === "incomplete") {
              this.#notBefore.set(file, this.settings.now().getTime() + INCOMPLETE_RECHECK_MS);
            }
          }, (error) => failure ??= error).finally(() => {
            this.#handling.delete(claim.file);
            const wake = slotFreed;
            slotFreed = undefined;
            wake?.();
          });
        }
        if (claimed === 0 || stopClaiming()) break;
      }
    } finally {
      while (this.#handling.size > 0) await waitForSlot();
    }
    if (failure !== undefined) throw failure;
    if (this.settings.signal.aborted) report.aborted = true;
    return report;
  }
}

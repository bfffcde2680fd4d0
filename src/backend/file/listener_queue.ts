/**
 * The file backend's {@linkcode ListenerQueue}. Ordered: tasks are taken
 * where they lie in `inbox/`, in sequence order, under the run lock the
 * caller holds. Parallel: each is claimed by renaming it from `inbox/` to
 * `inflight/<N>.json~<worker>` (only one renamer wins); the worker holds a
 * lease (`workers/<worker>.json`) while the queue is open, and claims of
 * workers that are gone are taken over and put back.
 */
import { Layout } from "../../protocol/layout.ts";
import type { FileStore, ListenerRef } from "./file_store.ts";
import type { Claim } from "./_types.ts";
import { judgeLease, Lease, leaseOwners, type LeaseVerdict, removeLease } from "./lease.ts";
import type { ListenerQueue, OpenOptions, Take, TakeHooks } from "../port.ts";
import { prune } from "./prune.ts";
import { readPause } from "./pause.ts";
import type { ListenerPause } from "../../protocol/listener_status.ts";
import { FileTaskQueue, type TaskSpot } from "./task_queue.ts";
import { OrderingKeys } from "./_ordering.ts";
import type { Destination } from "../../protocol/transition.ts";
import type { TaskRecord } from "../../protocol/task_file.ts";

/** How soon a parallel worker looks again at tasks held back for their ordering key (their holder may end elsewhere). */
const ORDER_RECHECK_MS = 100;

/** Staging files older than this were left by killed processes. */
export const TMP_MAX_AGE_MS = 60 * 60 * 1000;

/** How often an open queue's upkeep clears old staging files (the first upkeep does). */
const TMP_SWEEP_INTERVAL_MS = 60 * 60 * 1000;

/** How a parallel queue works a listener: `OpenOptions.parallel`, with the worker and the clock. */
export type ParallelMode = NonNullable<OpenOptions["parallel"]> & Pick<OpenOptions, "worker" | "now">;

/**
 * What both file queues share: the run lock (`hold()`), the hourly sweep of
 * staging files, the archive retention (`expire()`).
 */
abstract class FileListenerQueue extends FileTaskQueue {
  #sweptAt = -Infinity;

  constructor(store: FileStore, listener: ListenerRef, readonly openOptions: OpenOptions) {
    super(store, listener, { maxTaskSize: openOptions.maxTaskSize, archive: openOptions.archive });
  }

  abstract hold(): Promise<Disposable>;

  /** Takes the listener's run lock: ordered runners exclusively, parallel workers shared. */
  protected async lock(shared: boolean): Promise<Disposable> {
    const file = await this.store.lockRunner(this.listener, shared, this.openOptions.wait);
    return { [Symbol.dispose]: () => file.close() };
  }

  /** Clears the staging files killed processes left, when an hour has passed since the last time (or never). */
  protected sweepIfDue(): void {
    const now = this.openOptions.now().getTime();
    if (now - this.#sweptAt < TMP_SWEEP_INTERVAL_MS) return;
    this.#sweptAt = now;
    this.store.sweepTmp(this.listener, TMP_MAX_AGE_MS);
  }

  /** Its pause marker, `paused.json`: one `access(2)` when there is none. */
  paused(): Promise<ListenerPause | null> {
    return Promise.resolve(readPause(this.listener.dir));
  }

  async expire(olderThanMs: number): Promise<void> {
    await prune(this.store.root, { olderThanMs, listeners: [this.listener.id], now: this.openOptions.now });
  }
}

/** Why a stray inbox entry is quarantined. */
export function strayReason(entry: Deno.DirEntry): string {
  const kind = entry.isSymlink
    ? "symbolic link"
    : entry.isDirectory
    ? "directory"
    : entry.isFile
    ? "file"
    : "special file (FIFO, socket or device)";
  return `not a task file: expected a regular file named <sequence>.json, found a ${kind}`;
}

/** A claim in `inflight/` as a spot. */
function claimSpot(claim: { file: string; task: string; sequence: number }): TaskSpot {
  return { dir: Layout.INFLIGHT, file: claim.file, task: claim.task, sequence: claim.sequence };
}

/** A listener's inbox, taken in order, where the tasks lie. */
export class OrderedFileQueue extends FileListenerQueue implements ListenerQueue<TaskSpot> {
  /** The tasks taken in this pass. */
  #seen = new Set<number>();
  #pending: number[] = [];
  #next = 0;
  #listed = false;

  /** One runner at a time: the run lock, exclusively, for the pass. */
  hold(): Promise<Disposable> {
    return this.lock(false);
  }

  /** Under the hold: puts back the tasks of parallel workers that are gone, and sweeps `tmp/` hourly. */
  async upkeep(hooks: Pick<TakeHooks<TaskSpot>, "recover">): Promise<void> {
    this.sweepIfDue();
    await this.recoverOrphans(this.openOptions.worker, hooks.recover);
  }

  startPass(): void {
    this.#seen = new Set();
    this.#pending = [];
    this.#next = 0;
    this.#listed = false;
  }

  /** The next task of the inbox not taken in this pass (listing again when the last listing is used up). */
  async take(_max: number, _hooks: TakeHooks<TaskSpot>): Promise<Take<TaskSpot>> {
    const take: Take<TaskSpot> = { tasks: [], strays: [] };
    for (;;) {
      while (this.#next < this.#pending.length) {
        const sequence = this.#pending[this.#next++];
        if (this.#seen.has(sequence)) continue;
        this.#seen.add(sequence);
        const file = `${sequence}.json`;
        take.tasks.push({ dir: Layout.INBOX, file, task: file, sequence });
        return take;
      }
      const { sequences, strays } = await this.store.listInbox(this.listener);
      if (!this.#listed) take.backlog = sequences.length;
      this.#listed = true;
      for (const stray of strays) take.strays.push({ task: strayTask(stray.name), reason: strayReason(stray) });
      this.#pending = sequences.filter((sequence) => !this.#seen.has(sequence));
      this.#next = 0;
      if (this.#pending.length === 0) return take;
    }
  }

  defer(): void {
    // An ordered pass takes each task once: a task not due is looked at again in the next pass.
  }

  finished(): void {}

  async [Symbol.asyncDispose](): Promise<void> {}

  /**
   * Puts tasks claimed by parallel workers that are gone back into the inbox.
   * The caller holds the run lock exclusively, so no parallel worker of this
   * listener is running: every claim found is an orphan. `runOnce` does this
   * before its pass, a watcher every rescan interval.
   */
  async recoverOrphans(worker: string, recover: (task: TaskSpot, why: string) => Promise<void>): Promise<void> {
    for (const claim of this.store.listInflight(this.listener)) {
      const mine = this.store.takeOver(this.listener, claim, worker);
      if (mine) await recover(claimSpot(mine), `parallel worker ${claim.owner} stopped while handling it`);
    }
  }
}

/** An inbox entry that is not a task file, to be quarantined (it has no sequence number: 0). */
export function strayTask(name: string): TaskSpot {
  return { dir: Layout.INBOX, file: name, task: name, sequence: 0 };
}

/**
 * A listener's inbox, each task claimed for this worker. `open()` takes the
 * lease, `take()` claims, disposing gives the lease up.
 */
export class ParallelFileQueue extends FileListenerQueue implements ListenerQueue<TaskSpot> {
  #lease: Lease | undefined;
  /** The run lock, shared, from the first `hold()` until disposed: ordered runners wait meanwhile. */
  #shared: Disposable | undefined;
  readonly #notBefore = new Map<string, number>();
  /** The `inflight/` names of the tasks this worker is handling now. */
  readonly #handling = new Set<string>();
  #reapedAt = -Infinity;
  /** Sequence numbers go up within a listing; a later listing skips everything up to the highest claimed so far. */
  #claimedUpTo = 0;
  #listing: number[] = [];
  #next = 0;
  #claimedInListing = 0;
  #listed = false;
  /** Tasks with ordering keys: which may be claimed now. */
  readonly #order: OrderingKeys;
  /** Tasks held back for their ordering key in this pass: claimed when their turn comes, below `#claimedUpTo` too. */
  #heldInPass = new Set<number>();
  /** How many of this worker's tasks ended since the inbox was last listed, and who waits for the next one. */
  #finishedInListing = 0;
  readonly #onFinished: (() => void)[] = [];

  readonly mode: ParallelMode;

  constructor(store: FileStore, listener: ListenerRef, open: OpenOptions) {
    super(store, listener, open);
    if (open.parallel === undefined) throw new TypeError("a parallel queue needs OpenOptions.parallel");
    this.mode = { ...open.parallel, worker: open.worker, now: open.now };
    this.#order = new OrderingKeys(store, listener, open);
  }

  /** Takes the run lock shared on the first call, and keeps it until disposed. */
  async hold(): Promise<Disposable> {
    this.#shared ??= await this.lock(true);
    return { [Symbol.dispose]: () => {} };
  }

  /** Sweeps `tmp/` hourly; claims of workers that are gone are taken back by `take()` itself. */
  upkeep(): Promise<void> {
    this.sweepIfDue();
    return Promise.resolve();
  }

  /** Takes this worker's lease; a thread of its own renews it every third of `leaseMs`. */
  async open(): Promise<this> {
    this.store.ensureStateDir(this.listener, Layout.INFLIGHT);
    this.#lease = await Lease.acquire(this.store, this.listener, {
      worker: this.mode.worker,
      host: this.mode.hostId,
      pid: Deno.pid,
      started: this.mode.now().toISOString(),
      lease_ms: this.mode.leaseMs,
    });
    return this;
  }

  /** Stops renewing and removes the lease, and gives the run lock up. */
  async [Symbol.asyncDispose](): Promise<void> {
    const lease = this.#lease;
    this.#lease = undefined;
    try {
      await lease?.release();
    } finally {
      this.#shared?.[Symbol.dispose]();
      this.#shared = undefined;
    }
  }

  /**
   * Starts a pass: each task at most once per pass, so a RETRY without delay
   * is tried again in the next pass, as in ordered mode. A task put back
   * below the highest number claimed in this pass (a RETRY, a requeue,
   * another worker's take-over) also waits for the next pass.
   */
  startPass(): void {
    this.#claimedUpTo = 0;
    this.#listing = [];
    this.#next = 0;
    this.#claimedInListing = 0;
    this.#listed = false;
    this.#heldInPass.clear();
  }

  /** Claims up to `max` tasks, in sequence order, listing the inbox again until a listing yields no claim. */
  async take(max: number, hooks: TakeHooks<TaskSpot>): Promise<Take<TaskSpot>> {
    const take: Take<TaskSpot> = { tasks: [], strays: [] };
    for (;;) {
      if (this.#next >= this.#listing.length) {
        if (this.#listed && this.#claimedInListing === 0) {
          // Tasks held back for their keys: their turn comes when a task of theirs ends, here or in another
          // worker. One of this worker's: wait for it (or one has ended meanwhile), then list again.
          if (!this.#order.heldBack || take.tasks.length > 0 || hooks.stopped()) return this.#recheck(take);
          if (this.#finishedInListing === 0) {
            if (this.#handling.size === 0) return this.#recheck(take);
            await new Promise<void>((resolve) => this.#onFinished.push(resolve));
            if (hooks.stopped()) return take;
          }
        }
        await this.#relist(take, hooks);
        if (this.#listing.length === 0) return take;
      }
      const now = this.mode.now().getTime();
      while (this.#next < this.#listing.length) {
        if (take.tasks.length >= max || hooks.stopped()) return take;
        const sequence = this.#listing[this.#next++];
        const file = `${sequence}.json`;
        if (sequence <= this.#claimedUpTo && !this.#heldInPass.has(sequence)) {
          this.#order.hold(sequence);
          continue;
        }
        const dueAt = this.#notBefore.get(file);
        if (dueAt !== undefined) {
          if (dueAt > now) {
            take.dueAt = Math.min(take.dueAt ?? Infinity, dueAt);
            this.#order.hold(sequence);
            continue;
          }
          this.#notBefore.delete(file);
        }
        if (!this.#order.mayClaim(sequence)) {
          this.#heldInPass.add(sequence);
          continue;
        }
        await this.#reapIfDue(hooks); // a long backlog must not keep a dead worker's tasks waiting
        const claim = this.store.claim(this.listener, file, this.mode.worker);
        this.#order.hold(sequence); // in flight now, this worker's or another's
        if (!claim) continue; // another worker was first
        this.#heldInPass.delete(sequence);
        this.#claimedInListing++;
        this.#claimedUpTo = sequence;
        this.#handling.add(claim.file);
        take.tasks.push(claimSpot(claim));
      }
    }
  }

  async #relist(take: Take<TaskSpot>, hooks: TakeHooks<TaskSpot>): Promise<void> {
    await this.#reapIfDue(hooks);
    const { sequences, strays } = await this.#order.list();
    if (!this.#listed) take.backlog = sequences.length;
    this.#listed = true;
    for (const stray of strays) take.strays.push({ task: strayTask(stray.name), reason: strayReason(stray) });
    this.#listing = sequences;
    this.#next = 0;
    this.#claimedInListing = 0;
    this.#finishedInListing = 0;
  }

  defer(spot: TaskSpot, dueAt: number): void {
    this.#notBefore.set(spot.task, dueAt);
  }

  finished(spot: TaskSpot): void {
    this.#handling.delete(spot.file);
    this.#finishedInListing++;
    for (const wake of this.#onFinished.splice(0)) wake();
  }

  /** A take that found tasks held back for their keys comes back soon: their holders may end elsewhere. */
  #recheck(take: Take<TaskSpot>): Take<TaskSpot> {
    if (this.#order.heldBack) {
      take.dueAt = Math.min(take.dueAt ?? Infinity, this.mode.now().getTime() + ORDER_RECHECK_MS);
    }
    return take;
  }

  /** Settles as every file queue does; a task settled for good no longer holds its ordering key. */
  override async settle(spot: TaskSpot, to: Destination, record?: TaskRecord): Promise<void> {
    await super.settle(spot, to, record);
    if (to === "archive" || to === "error") this.#order.release(spot.sequence);
  }

  override async quarantine(spot: TaskSpot, reason: string): Promise<boolean> {
    const done = await super.quarantine(spot, reason);
    if (done) this.#order.release(spot.sequence);
    return done;
  }

  /** A task with an ordering key goes back under the order lock, so that no worker's snapshot misses it. */
  protected override async putBack(spot: TaskSpot): Promise<void> {
    if (spot.dir !== Layout.INFLIGHT || !this.#order.keyed(spot.sequence)) return await super.putBack(spot);
    using _ = await this.#order.lock();
    await super.putBack(spot);
  }

  /** Takes another worker's claim over; one with an ordering key under the order lock (a rename within `inflight/`). */
  async #takeOver(claim: Claim): Promise<Claim | undefined> {
    if (!this.#order.keyed(claim.sequence)) return this.store.takeOver(this.listener, claim, this.mode.worker);
    using _ = await this.#order.lock();
    return this.store.takeOver(this.listener, claim, this.mode.worker);
  }

  async #reapIfDue(hooks: TakeHooks<TaskSpot>): Promise<void> {
    if (this.mode.now().getTime() - this.#reapedAt >= this.mode.reapIntervalMs) await this.reap(hooks.recover);
  }

  /**
   * Takes back every claim whose worker is gone, counting the lost attempt,
   * and removes the leases of gone workers (with claims or without). Claims
   * of this worker that it is not handling (left by a pass that stopped on
   * an error) are put back too.
   */
  async reap(recover: (task: TaskSpot, why: string) => Promise<void>): Promise<void> {
    const { worker, hostId } = this.mode;
    this.#reapedAt = this.mode.now().getTime();
    // Lease ages are judged by the file system's clock: the mtime of our own lease, renewed just now.
    const fsNow = await this.#lease?.stamp();
    const verdicts = new Map<string, LeaseVerdict>();
    for (const owner of leaseOwners(this.listener)) {
      if (owner !== worker) verdicts.set(owner, await judgeLease(this.listener, owner, hostId, fsNow));
    }
    for (const claim of this.store.listInflight(this.listener)) {
      if (claim.owner === worker) {
        if (!this.#handling.has(claim.file)) {
          await recover(claimSpot(claim), `worker ${worker} left it behind after an error`);
        }
        continue;
      }
      if (!verdicts.has(claim.owner)) {
        verdicts.set(claim.owner, await judgeLease(this.listener, claim.owner, hostId, fsNow));
      }
      const lapse = verdicts.get(claim.owner)!.lapse;
      if (lapse === undefined) continue;
      const mine = await this.#takeOver(claim);
      if (mine) await recover(claimSpot(mine), `worker ${claim.owner} ${lapse}`); // else another worker was first
    }
    // Only as judged: a lease renewed since (its worker was frozen and has resumed) stays.
    for (const [owner, { lapse, seen }] of verdicts) {
      if (lapse !== undefined) await removeLease(this.listener, owner, seen);
    }
  }
}

/** A listener's file queue, opened: ordered without `open.parallel`, else parallel with its lease taken. */
export async function openFileQueue(
  store: FileStore,
  listener: ListenerRef,
  open: OpenOptions,
): Promise<OrderedFileQueue | ParallelFileQueue> {
  if (open.parallel === undefined) return new OrderedFileQueue(store, listener, open);
  return await new ParallelFileQueue(store, listener, open).open();
}

/** The file backend's delivery and numbering of tasks (one part of `FileStore`). */
import { join } from "node:path";
import { SequenceLimitError } from "../../errors.ts";
import { Layout } from "../../protocol/layout.ts";
import { encodeTracking, type TrackingRecord } from "../../protocol/task_file.ts";
import {
  isAlreadyExists,
  isTaken,
  lockOpenFile,
  openLockFile,
  removeIfExists,
  syncDir,
  writeFilesSynced,
} from "./_fs.ts";
import { lstatOrUndefined } from "./_fs.ts";
import type { ListenerRef, StoreHost } from "./_types.ts";
import {
  type Build,
  causeOf,
  type Delivered,
  deliveredBefore,
  FIRST_LOOK_MS,
  firstUsed,
  KEEP_AHEAD_PAUSES_MS,
  LOCK_FREE_ACTIVE_MS,
  LOCK_FREE_MARGIN,
  MAX_SEQUENCE,
  maxSequence,
  PartialDeliveryError,
  pastUsed,
  readLockRecord,
  readTracking,
  writeLockRecord,
} from "./_numbering.ts";

export { LOCK_FREE_MARGIN, MAX_SEQUENCE, PartialDeliveryError } from "./_numbering.ts";
export type { Build, Delivered } from "./_numbering.ts";

/**
 * The most tasks one hold of a listener's dispatch lock writes; more wait
 * for the next hold, so that other dispatchers take their turn.
 */
export const SLICE_LIMIT = 512;

/**
 * How long a listener's `dispatch.lock` stays open after its last hold, in
 * milliseconds: a process dispatching again within it takes the lock with
 * one `flock`, without opening the file again. Closed sooner by `close()`.
 */
export const LOCK_KEEP_OPEN_MS = 1_000;

/** A listener's `dispatch.lock`, kept open between holds. */
interface KeptLock {
  file: Deno.FsFile;
  /** Held (or waited for) by a delivery now. */
  busy: boolean;
  /** Held since the last sweep. */
  used: boolean;
  /** To be closed when the delivery holding it is done. */
  closing: boolean;
}

/** A `deliver()` call waiting for its slice. */
interface Waiting {
  builds: readonly Build[];
  now: string;
  resolve: (delivered: Delivered[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Delivery and numbering: writes tasks into inboxes under each listener's
 * dispatch lock, numbering them past every number in use (beside a PHP
 * dispatcher that takes no lock, too).
 */
export class Deliverer {
  readonly #host: StoreHost;
  /** The sequence this store last wrote to each listener's tracking.json. */
  readonly #written = new Map<string, number>();
  /** Per listener, the `deliver()` calls waiting to be served; present while they are served. */
  readonly #waiting = new Map<string, Waiting[]>();
  /** Each listener's `dispatch.lock`, open between holds until unused for `LOCK_KEEP_OPEN_MS`. */
  readonly #locks = new Map<string, KeptLock>();
  #sweepTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(host: StoreHost) {
    this.#host = host;
  }

  /**
   * Writes tasks into a listener's inbox, in order, and returns the sequence
   * number and path each got. `builds[k]` makes the text of the k-th file
   * for its sequence number.
   *
   * Calls for one listener are served in the order they come, and those that
   * wait while another is being served are served together, up to
   * {@linkcode SLICE_LIMIT} tasks under one hold of the dispatch lock (see
   * `#deliverLocked`); a call with more tasks is served slice after slice,
   * in order. When a slice fails, every call in it gets the error; the tasks
   * linked before the failure stay in the inbox, and the error is then a
   * {@linkcode PartialDeliveryError} saying which of the call's tasks they
   * are (its `cause` is the error met).
   */
  async deliver(listener: ListenerRef, builds: readonly Build[], now: string): Promise<Delivered[]> {
    try {
      this.#host.checkListener(listener);
    } catch (error) {
      this.#host.uncheck(listener);
      throw error;
    }
    if (builds.length === 0) return [];
    if (builds.length > SLICE_LIMIT) {
      const delivered: Delivered[] = [];
      for (let start = 0; start < builds.length; start += SLICE_LIMIT) {
        try {
          delivered.push(...await this.deliver(listener, builds.slice(start, start + SLICE_LIMIT), now));
        } catch (error) {
          if (delivered.length === 0) throw error;
          throw new PartialDeliveryError([...delivered, ...deliveredBefore(error)], causeOf(error));
        }
      }
      return delivered;
    }
    return await new Promise<Delivered[]>((resolve, reject) => {
      const request = { builds, now, resolve, reject };
      const queue = this.#waiting.get(listener.dir);
      if (queue !== undefined) {
        queue.push(request);
        return;
      }
      this.#waiting.set(listener.dir, [request]);
      void this.#serve(listener);
    });
  }

  /** Serves the calls waiting at a listener, as many at once as fit in a slice, until none is left. */
  async #serve(listener: ListenerRef): Promise<void> {
    const queue = this.#waiting.get(listener.dir)!;
    try {
      while (queue.length > 0) {
        const slice = [queue.shift()!];
        let size = slice[0].builds.length;
        while (queue.length > 0 && size + queue[0].builds.length <= SLICE_LIMIT) {
          size += queue[0].builds.length;
          slice.push(queue.shift()!);
        }
        try {
          const builds = slice.flatMap((request) => request.builds);
          const delivered = await this.#deliverLocked(listener, builds, slice.at(-1)!.now);
          let from = 0;
          for (const request of slice) request.resolve(delivered.slice(from, from += request.builds.length));
        } catch (error) {
          // Each call learns which of its own tasks were written before the error.
          const written = deliveredBefore(error);
          let from = 0;
          for (const request of slice) {
            const mine = written.slice(from, from += request.builds.length);
            request.reject(mine.length > 0 ? new PartialDeliveryError(mine, causeOf(error)) : causeOf(error));
          }
        }
      }
    } finally {
      this.#waiting.delete(listener.dir);
    }
  }

  /**
   * Writes tasks into a listener's inbox under one hold of its dispatch lock
   * (waited for without blocking the event loop). `tracking.json` is
   * replaced once, with the last number of the run (never lowered); each
   * file is then staged in `tmp/` and hard-linked to `inbox/<N>.json` (which
   * fails rather than overwrite), so a reader never sees a partial file and
   * two dispatchers never share a number. When durable, each file is flushed
   * before its link and the inbox once after the last.
   */
  async #deliverLocked(listener: ListenerRef, builds: readonly Build[], now: string): Promise<Delivered[]> {
    const kept = await this.#lock(listener.dir);
    const lock = kept.file;
    const delivered: Delivered[] = [];
    const staged: string[] = [];
    const inbox = join(listener.dir, Layout.INBOX);
    try {
      let tracking = readTracking(listener.dir);
      let caughtWriting = false;
      if (tracking === undefined && this.#recentlyWritten(listener.dir)) {
        // Unreadable, yet written a moment ago: a lock-free dispatcher (PHP) rewriting it in place, or a broken
        // file. Look again: one that has become readable meanwhile was being written.
        tracking = await this.#lookAgain(listener.dir, FIRST_LOOK_MS);
        caughtWriting = tracking !== undefined;
      }
      let last = tracking?.sequence ?? await maxSequence(listener.dir);
      // tracking.json as this store last wrote it was checked then; anything else may be behind the files.
      let trusted = tracking !== undefined && this.#written.get(listener.dir) === tracking.sequence;
      let justRead = tracking?.sequence;
      const lockFree = !trusted && tracking !== undefined &&
        (caughtWriting || await this.#lockFreeAtWork(listener.dir, tracking, lock));
      if (lockFree) last += LOCK_FREE_MARGIN - 1;
      numbering: while (delivered.length < builds.length) {
        const first = last + 1;
        const count = builds.length - delivered.length;
        if (first + count - 1 > MAX_SEQUENCE) {
          // Past it a task name would not be read back as a task (and past 2^53 numbers stop counting).
          throw new SequenceLimitError(
            listener.name,
            listener.eventType,
            listener.dir,
            Math.max(first, MAX_SEQUENCE + 1),
          );
        }
        if (!trusted) {
          const used = firstUsed(listener.dir, first, count);
          if (used !== undefined) {
            // tracking.json is behind tasks pending, in flight or handled: a
            // number reused here would make two tasks of one number.
            last = await pastUsed(listener.dir, used);
            continue numbering;
          }
        }
        // Reserve the numbers in tracking.json before staging (which may wait for a flush), so that a
        // dispatcher that takes no lock (PHP) numbers past them from now on.
        const written = this.#writeTracking(
          listener.dir,
          {
            sequence: first + count - 1,
            count: first + count - 1,
            first: tracking?.first ?? now,
            last: now,
          },
          justRead,
          lock,
        );
        justRead = undefined; // read a moment ago only the first time round
        if (written > first + count - 1) {
          // Such a dispatcher has gone past these numbers meanwhile: take the next ones.
          last = written;
          trusted = false;
          continue numbering;
        }
        for (let k = 0; k < count; k++) staged[k] ??= this.#host.tmpPath(listener.dir, "task");
        const done = delivered.length;
        await writeFilesSynced(staged.slice(0, count), (k) => builds[done + k](first + k), this.#host.durable);
        for (let k = 0; k < count; k++) {
          const path = `${inbox}/${first + k}.json`;
          try {
            Deno.linkSync(staged[k], path);
          } catch (error) {
            if (!isAlreadyExists(error)) throw error;
            // tracking.json was behind the files (restored, or written by a
            // dispatcher that takes no lock): number the rest past every
            // number in use.
            last = await pastUsed(listener.dir, first + k);
            trusted = false;
            staged.splice(0, k); // the rest are written again with their new numbers
            continue numbering;
          }
          removeIfExists(staged[k]);
          delivered.push({ sequence: first + k, path });
        }
        staged.length = 0;
        last = first + count - 1;
      }
      // Durable: each task's content was flushed before its link, and the inbox entries are flushed now.
      // tracking.json needs no flush: should a power loss undo it, the next dispatch finds the numbers in
      // use (link refuses them; a store that did not write tracking.json last checks archive/ and error/)
      // and skips past them.
      if (this.#host.durable && delivered.length > 0) await syncDir(inbox);
      if (lockFree) {
        last = await this.#keepAhead(listener.dir, last, tracking?.first ?? now, now, lock);
      }
      this.#written.set(listener.dir, last);
      return delivered;
    } catch (error) {
      if (delivered.length === 0) throw error;
      // Reported as delivered: flush what was linked, if the disk still lets us.
      if (this.#host.durable) await syncDir(inbox).catch(() => {});
      throw new PartialDeliveryError(delivered, error);
    } finally {
      for (const path of staged) removeIfExists(path);
      this.#unlock(listener.dir, kept);
    }
  }

  /** Takes a listener's dispatch lock, opening `dispatch.lock` unless it is still open from the last hold. */
  async #lock(dir: string): Promise<KeptLock> {
    const path = join(dir, Layout.DISPATCH_LOCK);
    let kept = this.#locks.get(dir);
    if (kept === undefined) {
      kept = { file: openLockFile(path, this.#host.lockFiles), busy: false, used: false, closing: false };
      this.#locks.set(dir, kept);
    }
    kept.busy = kept.used = true;
    try {
      await lockOpenFile(kept.file, path, this.#host.dispatchLockWait);
    } catch (error) {
      kept.busy = false;
      this.#closeKept(dir, kept);
      throw error;
    }
    return kept;
  }

  /** Releases a listener's dispatch lock, keeping the file open for the next hold (closing it if asked meanwhile). */
  #unlock(dir: string, kept: KeptLock): void {
    kept.busy = false;
    if (kept.closing) return this.#closeKept(dir, kept);
    try {
      kept.file.unlockSync();
    } catch (error) {
      this.#closeKept(dir, kept); // closing releases it
      throw error;
    }
    if (this.#sweepTimer === undefined) this.#armSweep();
  }

  /** Closes the lock files not held since the last sweep, and comes back while any is open. */
  #sweep(): void {
    this.#sweepTimer = undefined;
    for (const [dir, kept] of this.#locks) {
      if (kept.busy) continue;
      if (kept.used) kept.used = false;
      else this.#closeKept(dir, kept);
    }
    if (this.#locks.size > 0) this.#armSweep();
  }

  #armSweep(): void {
    const timer = setTimeout(() => this.#sweep(), LOCK_KEEP_OPEN_MS);
    Deno.unrefTimer(timer); // an open lock file must not keep a process alive
    this.#sweepTimer = timer;
  }

  #closeKept(dir: string, kept: KeptLock): void {
    if (this.#locks.get(dir) === kept) this.#locks.delete(dir);
    kept.file.close();
  }

  /**
   * Closes a listener's kept lock file (now, or when the delivery holding
   * it is done): its directory may have been removed and made again, and
   * the next hold must lock the `dispatch.lock` that is there now.
   */
  forget(dir: string): void {
    const kept = this.#locks.get(dir);
    if (kept === undefined) return;
    if (kept.busy) kept.closing = true;
    else this.#closeKept(dir, kept);
  }

  /** Closes every kept lock file (those held now when their delivery is done). */
  close(): void {
    clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    for (const dir of [...this.#locks.keys()]) this.forget(dir);
  }

  /**
   * Whether a dispatcher that takes no lock (PHP) is at work on a listener.
   * Only if `tracking.json` was written within the last 10 seconds; then if
   * it holds a number past the last one a hurah dispatcher recorded in
   * `dispatch.lock`. With no record (no hurah dispatcher has written the
   * listener yet: a tree PHP wrote), or a number behind the record (PHP
   * carried a lower number over hurah's last write; or a dispatcher was
   * killed between its record and its rename, or the file was restored or
   * edited), only if it moves on within `FIRST_LOOK_MS`.
   */
  async #lockFreeAtWork(dir: string, tracking: TrackingRecord, lock: Deno.FsFile): Promise<boolean> {
    const recorded = readLockRecord(lock);
    if (tracking.sequence === recorded || !this.#recentlyWritten(dir)) return false;
    if (recorded !== undefined && tracking.sequence > recorded) return true;
    const now = (await this.#lookAgain(dir, FIRST_LOOK_MS))?.sequence;
    return now === undefined || now > tracking.sequence; // undefined: being rewritten in place right now
  }

  /** `tracking.json` read again after `pauseMs`, for a lock-free dispatcher (PHP) to show itself meanwhile. */
  async #lookAgain(dir: string, pauseMs: number): Promise<TrackingRecord | undefined> {
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    return readTracking(dir);
  }

  /** Whether `tracking.json` was written within the last 10 seconds (`LOCK_FREE_ACTIVE_MS`). */
  #recentlyWritten(dir: string): boolean {
    const modified = lstatOrUndefined(join(dir, Layout.TRACKING))?.mtime?.getTime();
    return modified !== undefined && Date.now() - modified < LOCK_FREE_ACTIVE_MS;
  }

  /**
   * After a dispatch beside a dispatcher that takes no lock (PHP): a PHP
   * write of `tracking.json` begun before hurah replaced it lands after, and
   * carries a lower number on, which PHP would follow up to hurah's tasks
   * and overwrite them. Looks again and, if so, writes `last` back (never
   * lowering; up to 3 times). Returns the number `tracking.json` holds.
   */
  async #keepAhead(dir: string, last: number, first: string, now: string, lock: Deno.FsFile): Promise<number> {
    let current: number | undefined;
    for (const pauseMs of KEEP_AHEAD_PAUSES_MS) {
      current = (await this.#lookAgain(dir, pauseMs))?.sequence;
      if (current === undefined || current < last) {
        current = this.#writeTracking(dir, { sequence: last, count: last, first, last: now }, undefined, lock);
      }
    }
    return current!;
  }

  /**
   * Replaces `tracking.json`, never lowering it, and returns the number
   * written: `tracking.sequence`, or higher. A dispatcher that takes no lock
   * (PHP) may go on meanwhile: it reads `tracking.json`, writes its task
   * file, then writes `tracking.json` in place. So the file is read again
   * (unless the caller read it a moment ago: `justRead`) and the inbox
   * probed past the higher number, the staging file written and renamed
   * over it; then the inbox is probed again, in case it wrote in between
   * (then written anew, up to 3 times). Each number is recorded in the held
   * `lock` (dispatch.lock) before its rename, so that a dispatcher killed
   * in between leaves the record ahead of `tracking.json`, never behind it
   * (behind would look like PHP at work to the next dispatcher).
   */
  #writeTracking(dir: string, tracking: TrackingRecord, justRead: number | undefined, lock: Deno.FsFile): number {
    let sequence = tracking.sequence;
    const next = () => `${dir}/${Layout.INBOX}/${sequence + 1}.json`;
    const staged = this.#host.tmpPath(dir, "tracking");
    let renamed = false;
    try {
      for (let round = 1;; round++) {
        // undefined while PHP rewrites it in place: the probe covers that
        const current = round === 1 && justRead !== undefined ? justRead : readTracking(dir)?.sequence;
        sequence = Math.max(sequence, current ?? 0);
        while (isTaken(next())) sequence++;
        Deno.writeTextFileSync(staged, encodeTracking({ ...tracking, sequence, count: sequence }));
        writeLockRecord(lock, sequence);
        Deno.renameSync(staged, join(dir, Layout.TRACKING));
        renamed = true;
        if (round >= 3 || !isTaken(next())) return sequence;
        renamed = false;
      }
    } finally {
      if (!renamed) removeIfExists(staged); // left by a failed write or rename
    }
  }
}

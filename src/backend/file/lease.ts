import { join } from "node:path";
import { Layout } from "../../protocol/layout.ts";
import { isAlreadyExists, isNotFound, readAllText } from "./_fs.ts";
import { LEASE_THREAD_SOURCE } from "./_lease_thread.ts";
import type { FileStore, ListenerRef } from "./file_store.ts";

/** The contents of a lease file, `workers/<worker>.json`. Its mtime is the last renewal, by the file system's clock. */
export interface LeaseRecord {
  /** The worker id, also the file name. */
  worker: string;
  /** The host id the worker runs on. */
  host: string;
  /** Its process id on that host. */
  pid: number;
  /** When it started, ISO-8601. */
  started: string;
  /** How long the lease lasts after a renewal, in milliseconds. */
  lease_ms: number;
}

/** How a lease is held. */
export interface LeaseOptions {
  /**
   * How often the lease file is renewed, in milliseconds.
   *
   * @default a third of `record.lease_ms`
   */
  renewIntervalMs?: number;
}

/** The answer of the lease thread to one request. */
type ThreadReply = { id: number; ok: true; mtime: number | null } | {
  id: number;
  ok: false;
  name: string;
  message: string;
};

/**
 * A parallel worker's lease on a listener: a file in `workers/` that the
 * worker holds a flock on for its lifetime and renews every third of its
 * length. A thread of its own (a `Worker`) owns the file: it creates it
 * locked, renews it by writing it (so that its mtime is the file system's
 * clock, not this host's), creates it anew when another worker removed it,
 * and removes it on release. A handler that keeps the main thread busy cannot
 * stall the renewal. Other workers take over its claims when the file is
 * gone, when (on the same host) its flock is free because the process died,
 * or (on other hosts) when the file system's clock says it was not renewed
 * within its length: see {@linkcode leaseLapse}.
 */
export class Lease {
  readonly #thread: Worker;
  readonly #waiting = new Map<number, { resolve: (mtime: number | null) => void; reject: (error: Error) => void }>();
  #nextId = 0;
  #failed: Error | undefined;

  private constructor(readonly listener: ListenerRef, readonly record: LeaseRecord) {
    const url = `data:text/javascript;base64,${btoa(LEASE_THREAD_SOURCE)}`;
    this.#thread = new Worker(url, { type: "module", name: `hurah lease ${record.worker}` });
    this.#thread.onmessage = (event: MessageEvent<ThreadReply>) => {
      const reply = event.data;
      const waiting = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      if (reply.ok) waiting?.resolve(reply.mtime);
      else waiting?.reject(threadError(reply.name, `lease ${this.path}: ${reply.message}`));
    };
    this.#thread.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#failed = new Error(`the thread of lease ${this.path} failed: ${event.message}`);
      for (const { reject } of this.#waiting.values()) reject(this.#failed);
      this.#waiting.clear();
    };
  }

  /** The lease file's path. */
  get path(): string {
    return join(this.listener.dir, Layout.WORKERS, `${this.record.worker}.json`);
  }

  /**
   * Creates the lease file, locked before it becomes visible (staged in
   * `tmp/`, locked, then renamed), so nobody sees it unlocked, and starts
   * renewing it.
   */
  static async acquire(
    store: FileStore,
    listener: ListenerRef,
    record: LeaseRecord,
    options: LeaseOptions = {},
  ): Promise<Lease> {
    store.ensureStateDir(listener, Layout.WORKERS);
    const lease = new Lease(listener, record);
    const intervalMs = Math.max(10, Math.floor(options.renewIntervalMs ?? record.lease_ms / 3));
    try {
      await lease.#ask({
        op: "start",
        path: lease.path,
        tmp: join(listener.dir, Layout.TMP),
        text: JSON.stringify(record),
        intervalMs,
      });
    } catch (error) {
      lease.#thread.terminate();
      throw error;
    }
    return lease;
  }

  /**
   * Renews the lease now and returns its new mtime: the file system's
   * current time, to judge other leases on the same file system by
   * (see {@linkcode leaseLapse}). Creates the file anew if another worker
   * removed it.
   */
  async stamp(): Promise<Date> {
    const mtime = await this.#ask({ op: "stamp" });
    if (mtime === null) throw new Error(`lease ${this.path}: the file system reports no mtime`);
    return new Date(mtime);
  }

  /** Stops renewing, removes the lease file, releases the lock and ends the thread. */
  async release(): Promise<void> {
    try {
      await this.#ask({ op: "stop" });
    } finally {
      this.#thread.terminate();
    }
  }

  #ask(message: Record<string, unknown>): Promise<number | null> {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#thread.postMessage({ ...message, id });
    });
  }
}

/** An error of the lease thread as the class it had there (`Deno.errors.NotFound`...). */
function threadError(name: string, message: string): Error {
  const known = (Deno.errors as unknown as Record<string, (new (message: string) => Error) | undefined>)[name];
  if (known) return new known(message);
  const error = new Error(message);
  error.name = name;
  return error;
}

/**
 * Why a worker's claims may be taken over, or `undefined` while it is alive:
 *
 * - no lease file, or one that is not a lease: gone;
 * - a lease of the same host: alive while its flock is held, whatever its
 *   mtime (a busy or frozen process still holds it), gone once it is free;
 * - a lease of another host: gone when the file system's clock says it was
 *   last renewed more than its `lease_ms` ago, `fsNow - mtime > lease_ms`.
 *   `fsNow` must be the mtime of a file just written on the same file system
 *   ({@linkcode Lease.stamp}), never this host's clock: two hosts' clocks
 *   may disagree by far more than a lease. Without `fsNow`, leases of other
 *   hosts are taken as alive.
 *
 * @param listener The listener whose `workers/` holds the lease.
 * @param owner The worker id.
 * @param host This process's host id: a lease of the same host is checked by its flock.
 * @param fsNow The file system's current time (the mtime of a file just written there).
 */
export async function leaseLapse(
  listener: ListenerRef,
  owner: string,
  host: string,
  fsNow: Date | undefined,
): Promise<string | undefined> {
  return (await judgeLease(listener, owner, host, fsNow)).lapse;
}

/** What a judge saw of a lease file, so that {@linkcode removeLease} removes that file only, as it was seen. */
export interface LeaseSighting {
  /** Its inode number (null where the platform has none). */
  ino: number | null;
  /** Its mtime in ms since the epoch. */
  mtimeMs: number | null;
}

/** A verdict on a lease: why its worker is gone (`undefined`: alive), and what was seen of its file. */
export interface LeaseVerdict {
  /** Why the worker's claims may be taken over, or `undefined` while it is alive. */
  lapse: string | undefined;
  /** The lease file as judged; absent when there was none. */
  seen?: LeaseSighting;
}

/** {@linkcode leaseLapse}, with what was seen of the lease file. */
export async function judgeLease(
  listener: ListenerRef,
  owner: string,
  host: string,
  fsNow: Date | undefined,
): Promise<LeaseVerdict> {
  // One descriptor for every check: the file may be removed at any moment
  // (by the worker on release, or by another worker reaping it), and a
  // second lookup by path would then fail half-way.
  let file: Deno.FsFile;
  try {
    file = await Deno.open(join(listener.dir, Layout.WORKERS, `${owner}.json`), { read: true, write: true });
  } catch (error) {
    if (isNotFound(error)) return { lapse: "has no lease file" };
    throw error;
  }
  try {
    const info = await file.stat();
    const seen = { ino: info.ino, mtimeMs: info.mtime?.getTime() ?? null };
    let record: Partial<LeaseRecord>;
    try {
      record = JSON.parse(await readAllText(file));
    } catch (error) {
      if (error instanceof SyntaxError) return { lapse: "has an unreadable lease file", seen };
      throw error;
    }
    if (record.host === host) {
      return { lapse: await file.tryLock(true) ? "is no longer running (its lease lock is free)" : undefined, seen };
    }
    if (fsNow === undefined) return { lapse: undefined, seen };
    const age = fsNow.getTime() - (info.mtime?.getTime() ?? 0);
    const leaseMs = typeof record.lease_ms === "number" ? record.lease_ms : 30_000;
    if (age <= leaseMs) return { lapse: undefined, seen };
    return { lapse: `let its lease expire (last renewed ${Math.round(age)} ms ago, lease ${leaseMs} ms)`, seen };
  } finally {
    file.close();
  }
}

/** The worker ids of every lease file of a listener. */
export function leaseOwners(listener: ListenerRef): string[] {
  try {
    return [...Deno.readDirSync(join(listener.dir, Layout.WORKERS))]
      .filter((entry) => entry.isFile && entry.name.endsWith(".json"))
      .map((entry) => entry.name.slice(0, -".json".length));
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

/**
 * Removes a dead worker's lease file. Given what the judge saw of it
 * (`seen`), it removes that file only if it is unchanged: the file is first
 * renamed aside into `tmp/`, and put back if it was renewed or replaced
 * since (its worker was frozen and resumed), unless its worker has made a new
 * one meanwhile. Should the worker be alive after all and find the file gone,
 * it creates it again at its next renewal.
 */
export async function removeLease(listener: ListenerRef, owner: string, seen?: LeaseSighting): Promise<void> {
  const path = join(listener.dir, Layout.WORKERS, `${owner}.json`);
  if (seen === undefined) {
    await Deno.remove(path).catch((error) => {
      if (!isNotFound(error)) throw error;
    });
    return;
  }
  const aside = join(listener.dir, Layout.TMP, `reaped.${owner}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  try {
    await Deno.rename(path, aside);
  } catch (error) {
    if (isNotFound(error)) return;
    throw error;
  }
  // A sweep of tmp/ may remove the file aside at any moment (its mtime is old): then it is gone, as intended.
  try {
    const info = await Deno.stat(aside);
    const unchanged = info.ino === seen.ino && (info.mtime?.getTime() ?? null) === seen.mtimeMs;
    if (!unchanged) {
      try {
        await Deno.link(aside, path);
      } catch (error) {
        if (!isAlreadyExists(error)) throw error; // its worker has made a new one
      }
    }
    await Deno.remove(aside);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

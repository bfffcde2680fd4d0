import { join } from "node:path";
import { Layout } from "../protocol/layout.ts";
import { isNotFound, readAllText, writeFileSynced } from "./_fs.ts";
import type { FileStore, ListenerRef } from "./file_store.ts";

/** The contents of a lease file, `workers/<worker>.json`. Its mtime is the last renewal. */
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

/**
 * A parallel worker's lease on a listener: a file in `workers/` that the
 * worker holds a flock on for its lifetime and whose mtime it renews. Other
 * workers take over its claims when the file is gone, when (on the same host)
 * its flock is free because the process died, or when the lease expired
 * (frozen, or on a host that lost the file system).
 */
export class Lease {
  #file: Deno.FsFile;

  private constructor(
    readonly store: FileStore,
    readonly listener: ListenerRef,
    readonly record: LeaseRecord,
    file: Deno.FsFile,
  ) {
    this.#file = file;
  }

  /** The lease file's path. */
  get path(): string {
    return join(this.listener.dir, Layout.WORKERS, `${this.record.worker}.json`);
  }

  /**
   * Creates the lease file, locked before it becomes visible (staged in
   * `tmp/`, locked, then renamed), so nobody sees it unlocked.
   */
  static async acquire(store: FileStore, listener: ListenerRef, record: LeaseRecord): Promise<Lease> {
    await store.ensureStateDir(listener, Layout.WORKERS);
    const staged = store.stagingPath(listener, "lease");
    await writeFileSynced(staged, JSON.stringify(record), false);
    const file = await Deno.open(staged, { read: true, write: true });
    try {
      await file.lock(true);
      await Deno.rename(staged, join(listener.dir, Layout.WORKERS, `${record.worker}.json`));
    } catch (error) {
      file.close();
      await Deno.remove(staged).catch(() => {});
      throw error;
    }
    return new Lease(store, listener, record, file);
  }

  /**
   * Renews the lease (sets its mtime to now). Returns false when the file is
   * gone: another worker decided this one was dead and took its claims over.
   * The lease is then created anew.
   */
  async renew(now: Date): Promise<boolean> {
    try {
      await Deno.utime(this.path, now, now);
      return true;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const fresh = await Lease.acquire(this.store, this.listener, this.record);
    this.#file.close();
    this.#file = fresh.#file;
    return false;
  }

  /** Removes the lease file and releases the lock. */
  async release(): Promise<void> {
    await Deno.remove(this.path).catch((error) => {
      if (!isNotFound(error)) throw error;
    });
    this.#file.close();
  }
}

/**
 * Why a worker's claims may be taken over, or `undefined` while it is alive.
 *
 * @param listener The listener whose `workers/` holds the lease.
 * @param owner The worker id.
 * @param host This process's host id: a lease of the same host is checked by its flock.
 * @param now The current time.
 */
export async function leaseLapse(
  listener: ListenerRef,
  owner: string,
  host: string,
  now: Date,
): Promise<string | undefined> {
  // One descriptor for every check: the file may be removed at any moment
  // (by the worker on release, or by another worker reaping it), and a
  // second lookup by path would then fail half-way.
  let file: Deno.FsFile;
  try {
    file = await Deno.open(join(listener.dir, Layout.WORKERS, `${owner}.json`), { read: true, write: true });
  } catch (error) {
    if (isNotFound(error)) return "has no lease file";
    throw error;
  }
  try {
    const info = await file.stat();
    let record: Partial<LeaseRecord>;
    try {
      record = JSON.parse(await readAllText(file));
    } catch (error) {
      if (error instanceof SyntaxError) return "has an unreadable lease file";
      throw error;
    }
    if (record.host === host && await file.tryLock(true)) return "is no longer running (its lease lock is free)";
    const age = now.getTime() - (info.mtime?.getTime() ?? 0);
    const leaseMs = typeof record.lease_ms === "number" ? record.lease_ms : 30_000;
    if (age > leaseMs) return `let its lease expire (last renewed ${Math.round(age)} ms ago, lease ${leaseMs} ms)`;
    return undefined;
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
 * Removes a dead worker's lease file. Should the worker be alive after all
 * (frozen, then resumed), it finds the file gone at its next renewal and
 * creates it again.
 */
export async function removeLease(listener: ListenerRef, owner: string): Promise<void> {
  await Deno.remove(join(listener.dir, Layout.WORKERS, `${owner}.json`)).catch((error) => {
    if (!isNotFound(error)) throw error;
  });
}

import { join, resolve } from "node:path";
import { CorruptFileError } from "../../errors.ts";
import { Layout } from "../../protocol/layout.ts";
import { listenerId } from "../../protocol/listener_id.ts";
import {
  type InFlightTask,
  type LeaseState,
  type ListenerPause,
  type ListenerStatus,
  type StatusReport,
  summarizePending,
} from "../../protocol/listener_status.ts";
import {
  decodeTask,
  decodeTracking,
  DEFAULT_MAX_TASK_SIZE,
  sequenceOf,
  type TaskRecord,
} from "../../protocol/task_file.ts";
import { FileStore, type ListenerRef } from "./file_store.ts";
import { delayedStatus } from "./delayed_store.ts";
import { findListener, listListeners } from "./listeners.ts";
import { readPause } from "./pause.ts";
import { arrivedAt, isReasonNote, listClaims, lstatIfExists, readStateDir } from "./_dir.ts";
import { Listings } from "./_listings.ts";
import { isNotFound, readRegularFile, readTextIfExists, type RegularFileRead } from "./_fs.ts";
import type { StatusOptions } from "../operations.ts";

export type { StatusOptions } from "../operations.ts";

/**
 * Reports on every listener of an event root: pending tasks and how old the
 * oldest is, tasks in flight with their owners' leases, errors, archived
 * tasks, the last delivery, whether the listener is stopped on FAILURE
 * or retrying, and whether an operator paused it (`paused`). Reads only: nothing is written, locked or moved.
 *
 * Requires `--allow-read` on the event root.
 *
 * @param root The event root.
 * @param options Which listeners, how many pending tasks to read, the clock.
 * @returns One status per listener, ordered by listener id.
 * @throws {UnsafePathError} When the root is missing, or a link or a file
 * stands where a listener's state directory should be.
 * @throws {ListenerNotFoundError} When a listener named in `listeners` does
 * not exist.
 * @throws {InvalidNameError} When a listener id in `listeners` is invalid.
 *
 * @example Printing the backlog of every listener
 * ```ts ignore
 * import { status } from "jsr:@hurah/events";
 * const report = await status("/var/lib/hurah");
 * for (const listener of report.listeners) {
 *   console.log(listener.listener, listener.state, `${listener.pending} pending`, `${listener.errors} in error/`);
 * }
 * ```
 */
export function status(root: string, options: StatusOptions = {}): Promise<StatusReport> {
  return scanStatus(root, options, new Listings());
}

/**
 * {@linkcode status}, reusing what `listings` remembers of directories
 * unchanged since an earlier scan (the dashboard scans the same root again
 * and again).
 */
export async function scanStatus(root: string, options: StatusOptions, listings: Listings): Promise<StatusReport> {
  const now = (options.now ?? (() => new Date()))();
  const scanLimit = options.scanLimit ?? 1000;
  const refs = options.listeners === undefined
    ? await listListeners(root)
    : await Promise.all(options.listeners.map((id) => findListener(root, id)));
  const store = new FileStore(root);
  const listeners: ListenerStatus[] = [];
  for (const ref of refs) listeners.push(await listenerStatus(store, ref, now.getTime(), scanLimit, listings));
  listings.sweep();
  const delayed = await delayedStatus(root);
  return { root: resolve(root), time: now.toISOString(), listeners, ...(delayed && { delayed }) };
}

async function listenerStatus(
  store: FileStore,
  ref: ListenerRef,
  now: number,
  scanLimit: number,
  listings: Listings,
): Promise<ListenerStatus> {
  // The first tasks are read with the listing, and kept with it: a task file in inbox/ changes only by a rename
  // onto it (a RETRY), which changes the directory's mtime too.
  const { pending, scanned } = await listings.summary(ref.dir, Layout.INBOX, `pending ${scanLimit}`, (entries) => {
    const pending = entries
      .filter((entry) => entry.isFile)
      .map((entry) => ({ file: entry.name, sequence: sequenceOf(entry.name) }))
      .filter((task): task is { file: string; sequence: number } => task.sequence !== undefined)
      .sort((a, b) => a.sequence - b.sequence);
    const scanned: { sequence: number; task: TaskRecord | undefined }[] = [];
    for (const { file, sequence } of pending.slice(0, scanLimit)) {
      const task = readTask(join(ref.dir, Layout.INBOX, file), sequence);
      if (task !== "gone") scanned.push({ sequence, task });
    }
    return { pending, scanned };
  });
  const oldest = pending[0];
  let oldestPendingAgeMs: number | null = null;
  if (oldest !== undefined) {
    const first = scanned.find((task) => task.sequence === oldest.sequence)?.task;
    let since = typeof first?.delivery === "string" ? Date.parse(first.delivery) : NaN;
    if (Number.isNaN(since)) {
      since = (await lstatIfExists(join(ref.dir, Layout.INBOX, oldest.file)))?.mtime?.getTime() ?? NaN;
    }
    oldestPendingAgeMs = Number.isNaN(since) ? null : now - since;
  }
  const { errors, quarantined } = await listings.summary(ref.dir, Layout.ERROR, "errors", (entries) => {
    let errors = 0;
    let quarantined = 0;
    for (const entry of entries) {
      if (isReasonNote(entry.name)) continue;
      if (entry.isFile && sequenceOf(entry.name) !== undefined) errors++;
      else quarantined++;
    }
    return { errors, quarantined };
  });
  const archived = await listings.summary(
    ref.dir,
    Layout.ARCHIVE,
    "archived",
    (entries) => entries.filter((entry) => entry.isFile && sequenceOf(entry.name) !== undefined).length,
  );
  const tracking = await readTracking(ref.dir);
  const summary = summarizePending(scanned, now);
  return {
    listener: listenerId(ref.name, ref.eventType),
    name: ref.name,
    eventType: ref.eventType,
    dir: ref.dir,
    state: summary.state,
    failingAt: summary.failingAt,
    pending: pending.length,
    scanned: scanned.length,
    retrying: summary.retrying,
    waiting: summary.waiting,
    nextDueAt: summary.nextDueAt,
    oldestPending: oldest?.sequence ?? null,
    oldestPendingAgeMs,
    inFlight: await inFlight(store, ref, now),
    errors,
    quarantined,
    archived,
    lastDelivery: typeof tracking?.last === "string" ? tracking.last : null,
    lastSequence: tracking?.sequence ?? null,
    ...pausedField(ref.dir),
  };
}

/** `paused` when the listener is paused (`hurah pause`); nothing otherwise, as before pausing existed. */
function pausedField(dir: string): { paused?: ListenerPause } {
  const paused = readPause(dir);
  return paused === null ? {} : { paused };
}

/** A task file's record; `undefined` when it is not one; `"gone"` when it vanished meanwhile. */
function readTask(path: string, sequence: number): TaskRecord | undefined | "gone" {
  let read: RegularFileRead;
  try {
    read = readRegularFile(path, DEFAULT_MAX_TASK_SIZE); // no link followed, no FIFO waited on
  } catch (error) {
    if (isNotFound(error)) return "gone";
    throw error;
  }
  if (read.kind !== "file") return undefined;
  try {
    return decodeTask(read.bytes, sequence);
  } catch (error) {
    if (error instanceof CorruptFileError) return undefined;
    throw error;
  }
}

async function readTracking(dir: string) {
  const path = join(dir, Layout.TRACKING);
  if (!(await lstatIfExists(path))?.isFile) return undefined;
  const text = await readTextIfExists(path);
  try {
    return text === undefined ? undefined : decodeTracking(text);
  } catch (error) {
    if (error instanceof CorruptFileError) return undefined;
    throw error;
  }
}

async function inFlight(store: FileStore, ref: ListenerRef, now: number): Promise<InFlightTask[]> {
  const claims = await listClaims(store, ref);
  if (claims.length > 0) await readStateDir(ref.dir, Layout.WORKERS); // refuses a linked workers/
  const leases = new Map<string, Promise<LeaseState>>();
  const tasks: InFlightTask[] = [];
  for (const claim of claims) {
    const info = await lstatIfExists(join(ref.dir, Layout.INFLIGHT, claim.file));
    if (info === undefined) continue; // finished meanwhile
    if (!leases.has(claim.owner)) leases.set(claim.owner, leaseState(ref.dir, claim.owner, now));
    const since = arrivedAt(info);
    tasks.push({
      sequence: claim.sequence,
      worker: claim.owner,
      since: since?.toISOString() ?? null,
      ageMs: since ? now - since.getTime() : null,
      lease: await leases.get(claim.owner)!,
    });
  }
  return tasks;
}

/** The state of a worker's lease file, `workers/<worker>.json`: its mtime is its last renewal. */
async function leaseState(dir: string, worker: string, now: number): Promise<LeaseState> {
  const path = join(dir, Layout.WORKERS, `${worker}.json`);
  const info = await lstatIfExists(path);
  if (info === undefined) return "missing";
  if (!info.isFile || info.mtime === null) return "invalid";
  const text = await readTextIfExists(path);
  if (text === undefined) return "missing";
  let leaseMs: unknown;
  try {
    leaseMs = (JSON.parse(text) as { lease_ms?: unknown })?.lease_ms;
  } catch {
    return "invalid";
  }
  if (typeof leaseMs !== "number" || !Number.isFinite(leaseMs) || leaseMs <= 0) return "invalid";
  return now - info.mtime.getTime() > leaseMs ? "expired" : "live";
}

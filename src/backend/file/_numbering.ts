/**
 * The numbers a dispatch gives its tasks: the limits, the margin kept beside a
 * dispatcher that takes no lock (PHP), the record hurah keeps in
 * `dispatch.lock`, what a delivery cut short reports, and where the numbers in
 * use are found (`tracking.json`, the task files of every state).
 */

import { join } from "node:path";
import { Layout } from "../../protocol/layout.ts";
import { decodeTracking, sequenceOf, type TrackingRecord } from "../../protocol/task_file.ts";
import { isNotFound, isTaken, readSmallTextIfExists } from "./_fs.ts";

/** The highest sequence number a task name (`<N>.json`, 1 to 15 digits) holds. */
export const MAX_SEQUENCE = 999_999_999_999_999;

/**
 * How far past `tracking.json` a dispatch numbers its tasks while a
 * dispatcher that takes no lock (PHP) is at work on the listener: PHP reads
 * `tracking.json`, writes its task, then writes `tracking.json` in place, so
 * a PHP write begun before hurah replaced the file, or a hurah dispatch
 * preempted between reading and replacing it, can carry a lower number over
 * hurah's. With the margin, hurah's number stays ahead of every number PHP
 * takes meanwhile (1,000 events: over a second at 700 events/s), and PHP
 * never goes back to numbers it used. The numbers skipped are PHP's to take.
 */
export const LOCK_FREE_MARGIN = 1_000;

/**
 * A `tracking.json` that another dispatcher wrote (it holds a number past
 * the one hurah recorded in `dispatch.lock`) within this many milliseconds
 * means that dispatcher is at work.
 */
export const LOCK_FREE_ACTIVE_MS = 10_000;

/**
 * How long a dispatch watches a recently written `tracking.json` that it
 * cannot tell from `dispatch.lock`'s record alone (no record yet, or a
 * number behind it) for a lock-free dispatcher moving it on: PHP at 700
 * events/s writes it every 1.4 ms.
 */
export const FIRST_LOOK_MS = 3;

/**
 * When a dispatch beside a dispatcher that takes no lock looks at
 * `tracking.json` again (after these pauses, in milliseconds): longer than
 * PHP takes from reading it to writing it back.
 */
export const KEEP_AHEAD_PAUSES_MS = [1, 2];

/** The record hurah keeps in `dispatch.lock`: the last number it wrote to `tracking.json`, padded. */
export const LOCK_RECORD_BYTES = 16;

/** The number recorded in a dispatch lock file (`undefined` if none: new, or written by an older hurah). */
export function readLockRecord(lock: Deno.FsFile): number | undefined {
  const buffer = new Uint8Array(LOCK_RECORD_BYTES);
  lock.seekSync(0, Deno.SeekMode.Start); // kept open: the last record's write left the offset past it
  const read = lock.readSync(buffer) ?? 0;
  const text = new TextDecoder().decode(buffer.subarray(0, read)).trim();
  return /^[0-9]{1,15}$/.test(text) ? Number(text) : undefined;
}

/** Records in the dispatch lock file (held) the last number written to `tracking.json`. */
export function writeLockRecord(lock: Deno.FsFile, sequence: number): void {
  lock.seekSync(0, Deno.SeekMode.Start);
  lock.writeSync(new TextEncoder().encode(String(sequence).padEnd(LOCK_RECORD_BYTES)));
}

/** Makes a task file's text for its sequence number. */
export type Build = (sequence: number) => string;

/** A task written into an inbox. */
export interface Delivered {
  /** Its sequence number. */
  sequence: number;
  /** The path of `inbox/<N>.json`. */
  path: string;
}

/**
 * `deliver()` failed after writing some of its tasks: `delivered` are in the
 * inbox, each one whole; `cause` is the error met.
 */
export class PartialDeliveryError extends Error {
  /** The tasks written before the error, in order. */
  readonly delivered: Delivered[];

  constructor(delivered: Delivered[], cause: unknown) {
    super(`failed after ${delivered.length} tasks: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = "PartialDeliveryError";
    this.delivered = delivered;
  }
}

/** The tasks an error of `deliver()` says were written before it. */
export function deliveredBefore(error: unknown): Delivered[] {
  return error instanceof PartialDeliveryError ? error.delivered : [];
}

/** The error a `deliver()` error stands for. */
export function causeOf(error: unknown): unknown {
  return error instanceof PartialDeliveryError ? error.cause : error;
}

/**
 * The first of `count` numbers from `first` that a task file holds, in the
 * inbox, in flight or handled. Checked in this order, the inbox first and
 * `inflight/` listed once after it, so that a task moving from one to the
 * next between the checks is seen in one of them; a task put back into the
 * inbox meanwhile is caught by the link, which refuses an existing name.
 */
export function firstUsed(dir: string, first: number, count: number): number | undefined {
  const end = first + count;
  for (let sequence = first; sequence < end; sequence++) {
    if (isTaken(`${dir}/${Layout.INBOX}/${sequence}.json`)) return sequence;
  }
  let claimed = Infinity;
  try {
    for (const entry of Deno.readDirSync(`${dir}/${Layout.INFLIGHT}`)) {
      const sequence = sequenceOf(entry.name.split(Layout.CLAIM_SEPARATOR)[0]);
      if (sequence !== undefined && sequence >= first && sequence < end) claimed = Math.min(claimed, sequence);
    }
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  for (let sequence = first; sequence < Math.min(end, claimed); sequence++) {
    if (isTaken(`${dir}/${Layout.ARCHIVE}/${sequence}.json`) || isTaken(`${dir}/${Layout.ERROR}/${sequence}.json`)) {
      return sequence;
    }
  }
  return claimed === Infinity ? undefined : claimed;
}

/** `tracking.json` as decoded; `undefined` when missing or unreadable (the caller recovers from the files). */
export function readTracking(dir: string): TrackingRecord | undefined {
  const text = readSmallTextIfExists(join(dir, Layout.TRACKING));
  if (text === undefined) return undefined;
  try {
    return decodeTracking(text);
  } catch {
    return undefined; // recovered from the files by the caller
  }
}

/**
 * The highest number in use, at least `used`: the highest of any state
 * directory, then past every inbox file after it. A dispatcher that takes
 * no lock (PHP) may go on while the directories are listed (milliseconds
 * in a large listener); without the cheap steps past what it wrote
 * meanwhile, the next look finds its next file, again and again, for as
 * long as it keeps dispatching.
 */
export async function pastUsed(dir: string, used: number): Promise<number> {
  let last = Math.max(used, await maxSequence(dir));
  while (isTaken(`${dir}/${Layout.INBOX}/${last + 1}.json`)) last++;
  return last;
}

/** The highest sequence number of any file in any state directory of a listener, or 0. */
export async function maxSequence(dir: string): Promise<number> {
  let max = 0;
  for (const state of Deno.readDirSync(dir)) {
    if (!state.isDirectory || state.name === Layout.TMP) continue;
    for await (const entry of Deno.readDir(join(dir, state.name))) {
      const match = /^([0-9]{1,15})\.json/.exec(entry.name);
      if (match) max = Math.max(max, Number(match[1]));
    }
  }
  return max;
}

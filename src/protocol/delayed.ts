/**
 * Delayed events (pure): when a delayed dispatch is due, the name and text of
 * the file it waits in under `<root>/.hurah/delayed/`, and the journal of a
 * delivery pass. See docs/protocol.md, "Delayed events".
 */
import { parseDuration } from "./_duration.ts";
import { encodePhpJson } from "./php_json.ts";

/** The directory of shared hurah state under an event root: never an event type segment (it starts with `.`). */
export const HURAH_DIR = ".hurah";

/** The names under `<root>/.hurah/delayed/`. */
export const DelayedLayout = {
  /** The directory, relative to the root. */
  DIR: `${HURAH_DIR}/delayed`,
  /** Staging area for the files being written (names end in `.tmp`). */
  TMP: "tmp",
  /** Delayed files that cannot be read, set aside. */
  ERROR: "error",
  /** Flocked by the process delivering due events: one delivers at a time. */
  LOCK: "deliver.lock",
  /** The journal of the delivery pass in progress (removed when the pass is done). */
  JOURNAL: "journal.jsonl",
} as const;

/** The latest due time a delayed file name holds (15 digits of epoch milliseconds): year 33658. */
const MAX_DUE_MS = 999_999_999_999_999;
/** The latest due time accepted: the end of year 9999 UTC, as ISO 8601 has four-digit years. */
const LATEST_DUE_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** A delay, as `DispatchOptions.delay` takes it: milliseconds, or a duration text (`"10m"`, `"90s"`, `"1h"`). */
export type Delay = number | string;

/**
 * When a delayed dispatch is due: `now` plus `delay`, or `notBefore`; `undefined` when neither is given.
 *
 * @throws {RangeError} When both are given, the delay is negative or not a
 * duration, or the time is not a valid date before the year 10000.
 */
export function dueTime(delay: Delay | undefined, notBefore: Date | undefined, now: Date): Date | undefined {
  if (delay !== undefined && notBefore !== undefined) {
    throw new RangeError("give delay or notBefore, not both");
  }
  let due: number;
  if (delay !== undefined) {
    let ms: number;
    if (typeof delay === "number") ms = delay;
    else {
      try {
        ms = parseDuration(delay, "delay");
      } catch (error) {
        throw new RangeError((error as Error).message);
      }
    }
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`delay must be 0 or more milliseconds, found ${JSON.stringify(delay)}`);
    }
    due = now.getTime() + Math.round(ms);
  } else if (notBefore !== undefined) {
    due = notBefore instanceof Date ? notBefore.getTime() : NaN;
    if (Number.isNaN(due)) throw new RangeError(`notBefore must be a valid Date, found ${String(notBefore)}`);
  } else {
    return undefined;
  }
  if (due > LATEST_DUE_MS) {
    throw new RangeError(`a delayed event must be due before the year 10000, found ${due} ms since the epoch`);
  }
  return new Date(due);
}

/** What a delayed file holds: the event, checked and encoded, and when it is due. */
export interface DelayedRecord {
  /** The event type. */
  eventType: string;
  /** The event id, the same in every task it becomes. */
  eventId: string;
  /** When it is due. */
  notBefore: Date;
  /** When it was dispatched. */
  scheduledAt: Date;
  /** The payload as PHP's JSON, as a task file holds it. */
  payloadJson: string;
}

/** The name of a delayed file: `<due epoch ms, 15 digits>-<event id>.json`, so that names sort by due time. */
export function delayedFileName(notBefore: Date, eventId: string): string {
  return `${String(notBefore.getTime()).padStart(15, "0")}-${eventId}.json`;
}

/** The due time (epoch ms) of a delayed file's name, or `undefined` for a name that is not one. */
export function dueOfFileName(name: string): number | undefined {
  const match = /^([0-9]{15})-[0-9a-f-]{36}\.json$/.exec(name);
  if (!match) return undefined;
  const due = Number(match[1]);
  return due <= MAX_DUE_MS ? due : undefined;
}

/** The text of a delayed file: one JSON object, the payload last (as PHP's JSON). */
export function encodeDelayed(record: DelayedRecord): string {
  const fields = encodePhpJson({
    event_type: record.eventType,
    event_id: record.eventId,
    not_before: record.notBefore.toISOString(),
    scheduled_at: record.scheduledAt.toISOString(),
  });
  return `${fields.slice(0, -1)},"payload":${record.payloadJson}}`;
}

/**
 * Reads a delayed file's text.
 *
 * @throws {Error} Saying what is wrong, when it is not a delayed record.
 */
export function decodeDelayed(text: string): DelayedRecord {
  const value = JSON.parse(text);
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("not a JSON object");
  const { event_type, event_id, not_before, scheduled_at } = value;
  if (typeof event_type !== "string") throw new Error('"event_type" must be a string');
  if (typeof event_id !== "string") throw new Error('"event_id" must be a string');
  const notBefore = new Date(typeof not_before === "string" ? not_before : NaN);
  if (Number.isNaN(notBefore.getTime())) throw new Error('"not_before" must be an ISO 8601 time');
  const scheduledAt = new Date(typeof scheduled_at === "string" ? scheduled_at : NaN);
  if (!("payload" in value)) throw new Error('"payload" is missing');
  return {
    eventType: event_type,
    eventId: event_id,
    notBefore,
    scheduledAt: Number.isNaN(scheduledAt.getTime()) ? notBefore : scheduledAt,
    payloadJson: encodePhpJson(value.payload),
  };
}

/**
 * One line of a delivery pass's journal: the pass's events (its first
 * line), a listener begun (with the last sequence number `tracking.json`
 * held before), or a listener done.
 */
export type JournalLine =
  | { events: string[] }
  | { began: string; after: number }
  | { done: string };

/** What a journal says: the pass's events, and per listener directory (relative to the root) how far it got. */
export interface Journal {
  /** The delayed files of the pass. */
  events: string[];
  /** Per listener directory: `done`, or the sequence number its tasks of this pass are past. */
  listeners: Map<string, "done" | number>;
}

/** One journal line as written: JSON and a newline. */
export function encodeJournalLine(line: JournalLine): string {
  return JSON.stringify(line) + "\n";
}

/**
 * Reads a journal. A line cut short by a crash (the last) is left out: it
 * was not synced, and what it was to record had not started. `undefined`
 * when even the first line (the events) is missing: the pass delivered
 * nothing.
 */
export function decodeJournal(text: string): Journal | undefined {
  const lines: JournalLine[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    try {
      lines.push(JSON.parse(line));
    } catch {
      break; // cut short by a crash
    }
  }
  const [first, ...rest] = lines;
  if (first === undefined || !("events" in first) || !Array.isArray(first.events)) return undefined;
  const listeners = new Map<string, "done" | number>();
  for (const line of rest) {
    if ("done" in line) listeners.set(line.done, "done");
    else if ("began" in line && listeners.get(line.began) !== "done") listeners.set(line.began, line.after);
  }
  return { events: first.events.filter((name) => typeof name === "string"), listeners };
}

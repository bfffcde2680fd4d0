import { CorruptFileError } from "../errors.ts";
import { encodePhpJson } from "./php_json.ts";

/**
 * Why a task left the inbox for `error/`, or why an attempt did not succeed.
 * hurah appends one to the task's `failures` list; PHP carries the list along
 * untouched.
 */
export interface FailureRecord {
  /**
   * What happened: `INVALID`, `RETRY` (retries used up), `FAILURE`, `ERROR`
   * (a thrown error or a bad return value), `TIMEOUT`, `LOST` (its worker died
   * or lost its lease) or `REQUEUED` (put back by an operator).
   */
  result: string;
  /** Human-readable reason. */
  message: string;
  /** Stack trace of a thrown error, when there was one. */
  stack?: string;
  /** When it happened, ISO-8601 with milliseconds. */
  time: string;
  /** Which attempt this was, counting from 1. */
  attempt: number;
  /** Who handled it: `host:pid`. */
  worker?: string;
  /**
   * The fate decided for the task, recorded before the move that carries it
   * out: `"error"` once the task is being sent to `error/`; `"archive"` when
   * its handler succeeded but the move to `archive/` failed. A runner that
   * finds either as the last record completes the move without running the
   * handler again.
   */
  fate?: "error" | "archive";
  /**
   * The tail of what the handler logged during this attempt
   * (`TaskContext.log()`; an exec handler's standard error), when it logged
   * anything.
   */
  output?: string;
}

/**
 * One task file, as stored in `inbox/`, `archive/` or `error/`. The first
 * four fields, and `retry_count`, are the PHP library's; the others are
 * hurah's additions, which PHP reads past and keeps. Unknown fields are kept
 * in place when hurah rewrites a file.
 */
export interface TaskRecord {
  /** Whatever was dispatched. */
  payload: unknown;
  /** The listener's sequence number; equals the file name's number. */
  sequence: number;
  /** Always equal to `sequence` (PHP's counter). */
  count: number;
  /** Dispatch time, `2026-11-29T03:39:28+00:00`. */
  delivery: string;
  /** How many times the handler returned RETRY so far (or threw, or timed out, with `maxAttempts()` above 0). */
  retry_count?: number;
  /** How many attempts were lost because their worker died or lost its lease (hurah only). */
  lost_count?: number;
  /** The dispatched event type (hurah only). */
  event_type?: string;
  /** One id shared by every task of one dispatch (hurah only). */
  event_id?: string;
  /** A unique id of this task (hurah only). */
  task_id?: string;
  /** Why attempts failed (hurah only). */
  failures?: FailureRecord[];
  /** Tasks with the same ordering key run one at a time, in sequence order, in parallel mode too (hurah only). */
  ordering_key?: string;
  /** Any other field, kept as it was. */
  [field: string]: unknown;
}

/** How many failure records a task keeps; older ones are dropped first. */
export const MAX_FAILURE_RECORDS = 20;

/**
 * The deepest nesting of arrays and objects a task file may have: PHP's
 * `json_decode`, at its default depth of 512, reads no deeper (it counts the
 * values inside the innermost array as a level), and V8's `JSON.stringify`
 * overflows its stack far deeper (a file that parses but cannot be written
 * again). A payload may nest one level less, as the task record holds it.
 */
export const MAX_TASK_NESTING = 511;

/** The default of the task size limit (`maxTaskSize`): 16 MiB. */
export const DEFAULT_MAX_TASK_SIZE = 16 * 1024 * 1024;

/** Refuses invalid UTF-8 rather than replacing it with U+FFFD (a rewrite would lose the original bytes). */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

function pad(value: number, width = 2): string {
  return String(value).padStart(width, "0");
}

/**
 * Formats a time as PHP's `DateTime::format('c')` does, with the local UTC
 * offset: `2026-11-29T03:39:28+00:00`.
 *
 * @param date The time to format.
 * @param offsetMinutes Minutes east of UTC.
 * @default {offsetMinutes} the machine's local offset at `date`
 * @returns The formatted time.
 *
 * @example Formatting a delivery time
 * ```ts
 * import { formatDelivery } from "jsr:@hurah/events";
 * import { deepEqual } from "node:assert/strict";
 * const date = new Date(Date.UTC(2026, 10, 29, 3, 39, 28));
 * deepEqual(formatDelivery(date, 0), "2026-11-29T03:39:28+00:00");
 * deepEqual(formatDelivery(date, 60), "2026-11-29T04:39:28+01:00");
 * ```
 */
export function formatDelivery(date: Date, offsetMinutes: number = -date.getTimezoneOffset()): string {
  const local = new Date(date.getTime() + offsetMinutes * 60_000);
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}` +
    `T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/**
 * Encodes a task record as PHP writes it: one compact line, no trailing
 * newline, fields in the record's order.
 *
 * @param task The task record; its payload must be JSON-safe.
 * @returns The file's text.
 *
 * @example Encoding a task
 * ```ts
 * import { encodeTask } from "jsr:@hurah/events";
 * import { deepEqual } from "node:assert/strict";
 * const text = encodeTask({ payload: { product_id: 1 }, sequence: 1, count: 1, delivery: "2026-11-29T03:39:28+00:00" });
 * deepEqual(text, '{"payload":{"product_id":1},"sequence":1,"count":1,"delivery":"2026-11-29T03:39:28+00:00"}');
 * ```
 */
export function encodeTask(task: TaskRecord): string {
  return encodePhpJson(task);
}

function isNonNegativeInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/**
 * A new task file's text, as `encodeTask()` writes it (PHP's field order and
 * escaping), around a payload already encoded (`encodePhpJson`), with a
 * fresh `task_id`, and `extra` fields after it (an `ordering_key`).
 */
export function encodeNewTask(
  payloadJson: string,
  sequence: number,
  delivery: string,
  eventType: string,
  eventId: string,
  extra: { ordering_key?: string } = {},
): string {
  const fields = encodePhpJson({
    sequence,
    count: sequence,
    delivery,
    event_type: eventType,
    event_id: eventId,
    task_id: crypto.randomUUID(),
    ...extra,
  });
  return `{"payload":${payloadJson},${fields.slice(1)}`;
}

/**
 * Parses and checks a task file's text: valid UTF-8 (when given bytes),
 * JSON, an object with the fields the protocol needs, nested no deeper than
 * PHP reads (511 levels of arrays and objects).
 *
 * @param text The file's text, or its bytes (decoded as strict UTF-8).
 * @param sequence The number in the file's name; the record must agree.
 * @returns The task record, fields in file order.
 * @throws {CorruptFileError} When the text is not a task record, saying what
 * is wrong (invalid UTF-8, not JSON, nested too deep, a field missing or of
 * the wrong kind).
 *
 * @example Decoding a task
 * ```ts
 * import { decodeTask } from "jsr:@hurah/events";
 * import { deepEqual } from "node:assert/strict";
 * const task = decodeTask('{"payload":null,"sequence":7,"count":7,"delivery":"2026-11-29T03:39:28+00:00"}', 7);
 * deepEqual(task.sequence, 7);
 * ```
 */
export function decodeTask(text: string | Uint8Array, sequence: number): TaskRecord {
  if (typeof text !== "string") text = decodeUtf8(text);
  if (text.length === 0) throw new CorruptFileError("empty file; expected a JSON task record");
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (error) {
    throw new CorruptFileError(`not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const depth = nestingBeyond(text, MAX_TASK_NESTING);
  if (depth !== undefined) {
    throw new CorruptFileError(
      `arrays and objects nested deeper than ${MAX_TASK_NESTING} levels (${depth} or more); ` +
        "PHP cannot read it and hurah could not write it again",
    );
  }
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    throw new CorruptFileError(`expected a JSON object, found ${Array.isArray(record) ? "an array" : String(record)}`);
  }
  const task = record as TaskRecord;
  if (!("payload" in task)) throw new CorruptFileError("no 'payload' field");
  if (!Number.isSafeInteger(task.sequence) || task.sequence < 1) {
    throw new CorruptFileError(`'sequence' must be a positive integer, found ${JSON.stringify(task.sequence)}`);
  }
  if (task.sequence !== sequence) {
    throw new CorruptFileError(`'sequence' is ${task.sequence} but the file is named ${sequence}.json`);
  }
  if ("retry_count" in task && !isNonNegativeInteger(task.retry_count)) {
    throw new CorruptFileError(
      `'retry_count' must be a non-negative integer, found ${JSON.stringify(task.retry_count)}`,
    );
  }
  if ("failures" in task && !Array.isArray(task.failures)) {
    throw new CorruptFileError("'failures' must be an array");
  }
  return task;
}

/** Strict UTF-8 decoding; the error names the first bad byte. */
function decodeUtf8(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    const at = firstInvalidUtf8(bytes);
    throw new CorruptFileError(
      `not valid UTF-8: byte 0x${bytes[at]?.toString(16).padStart(2, "0")} at offset ${at} ` +
        "does not begin a valid UTF-8 character (U+FFFD would replace it, and a rewrite would lose it)",
      { cause: error },
    );
  }
}

/** The offset of the first UTF-8 sequence that is not valid (the error path only: it decodes each one). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let k = 0; k < bytes.length;) {
    const lead = bytes[k];
    const length = lead < 0x80 ? 1 : lead < 0xc2 ? 0 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : lead < 0xf5 ? 4 : 0;
    if (length === 0 || k + length > bytes.length || !isUtf8(bytes.subarray(k, k + length))) return k;
    k += length;
  }
  return bytes.length;
}

function isUtf8(sequence: Uint8Array): boolean {
  try {
    UTF8.decode(sequence);
    return true;
  } catch {
    return false;
  }
}

/**
 * When the JSON `text` nests arrays and objects deeper than `limit`, the
 * depth at which that was found; otherwise `undefined`. Iterative (the text
 * may nest far deeper than any stack); `text` must be valid JSON.
 */
function nestingBeyond(text: string, limit: number): number | undefined {
  if (text.length <= 2 * limit) return undefined; // each level takes an opening and a closing character
  let depth = 0;
  for (let k = 0; k < text.length; k++) {
    const char = text.charCodeAt(k);
    if (char === 0x22) { // a string: skip to its closing quote
      for (k++; text.charCodeAt(k) !== 0x22; k++) if (text.charCodeAt(k) === 0x5c) k++;
    } else if (char === 0x5b || char === 0x7b) {
      if (++depth > limit) return depth;
    } else if (char === 0x5d || char === 0x7d) depth--;
  }
  return undefined;
}

/**
 * A copy of the task with a failure record appended, keeping at most the
 * last {@linkcode MAX_FAILURE_RECORDS}.
 */
export function withFailure(task: TaskRecord, failure: FailureRecord): TaskRecord {
  const failures = [...(task.failures ?? []), failure].slice(-MAX_FAILURE_RECORDS);
  return { ...task, failures };
}

/**
 * A task put back from error for another try: its retry and lost budgets and
 * its `not_before` reset, and a `REQUEUED` record saying from where, by whom
 * and what was reset (`hurah requeue`, on any backend).
 */
export function requeuedTask(
  task: TaskRecord,
  requeue: { from: string; by: string; worker: string; time: Date },
): TaskRecord {
  const time = requeue.time.toISOString();
  const updated: TaskRecord = { ...task };
  delete updated.retry_count;
  delete updated.lost_count;
  delete updated.not_before;
  const retries = (task.retry_count ? `; retry_count ${task.retry_count} reset` : "") +
    (task.lost_count ? `; lost_count ${task.lost_count} reset` : "");
  return withFailure(updated, {
    result: "REQUEUED",
    message: `put back ${requeue.from} by ${requeue.by} at ${time}${retries}`,
    time,
    attempt: (task.retry_count ?? 0) + 1,
    worker: requeue.worker,
  });
}

/** The contents of a listener's `tracking.json`. */
export interface TrackingRecord {
  /** The last sequence number issued. */
  sequence: number;
  /** Equal to `sequence`. */
  count: number;
  /** When tracking.json was created. */
  first: string;
  /** The time of the last delivery. */
  last: string;
}

/**
 * Parses `tracking.json`.
 *
 * @throws {CorruptFileError} When it is not a tracking record.
 */
export function decodeTracking(text: string): TrackingRecord {
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (error) {
    throw new CorruptFileError(`tracking.json is not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const tracking = record as TrackingRecord;
  if (tracking === null || typeof tracking !== "object" || !isNonNegativeInteger(tracking.sequence)) {
    throw new CorruptFileError(`tracking.json has no valid 'sequence': ${text.slice(0, 200)}`);
  }
  return tracking;
}

/** Encodes `tracking.json` as PHP does. */
export function encodeTracking(tracking: TrackingRecord): string {
  return encodePhpJson({
    sequence: tracking.sequence,
    count: tracking.count,
    first: tracking.first,
    last: tracking.last,
  });
}

const TASK_FILE = /^([1-9][0-9]{0,14})\.json$/;

/**
 * The sequence number in a task file name, or `undefined` when the name is
 * not `<N>.json` with N ≥ 1 written without leading zeros (so that one
 * number has one name).
 *
 * @example Reading a task file name
 * ```ts
 * import { sequenceOf } from "jsr:@hurah/events";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(sequenceOf("12.json"), 12);
 * deepEqual(sequenceOf("12.json.tmp"), undefined);
 * ```
 */
export function sequenceOf(fileName: string): number | undefined {
  const match = TASK_FILE.exec(fileName);
  return match ? Number(match[1]) : undefined;
}

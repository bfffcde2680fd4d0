/**
 * The NATS names of hurah's things, as pure functions: the subject an event
 * is published on, the filter of a listener's consumer, the names of the
 * streams, and the consumer name of a listener. See docs/scale-out.md.
 *
 * - An event `product/created` is published on `hurah.ev.product.created._`:
 *   one token per segment, then `_`, so that a listener on `product` (filter
 *   `hurah.ev.product.>`) gets it and a listener on `products` does not.
 * - The root listener filters `hurah.ev.>`; the root event type is `hurah.ev._`.
 * - A `.` in a segment is `~` in its token (hurah's names never hold `~`).
 *
 * @module
 */
import { parseEventType } from "../../protocol/names.ts";

/** The first tokens of every event subject. */
export const EVENT_PREFIX = "hurah.ev";

/**
 * The stream of events (interest retention), versioned: a stream is never deleted and made again.
 *
 * @example The stream's name
 * ```ts
 * import { EVENT_STREAM } from "./subjects.ts";
 * import { equal } from "node:assert/strict";
 * equal(EVENT_STREAM, "HURAH_EV_1");
 * ```
 */
export const EVENT_STREAM = "HURAH_EV_1";

/**
 * The stream of error records (limits retention): one subject per listener's task.
 *
 * @example The stream's name
 * ```ts
 * import { ERROR_STREAM } from "./subjects.ts";
 * import { equal } from "node:assert/strict";
 * equal(ERROR_STREAM, "HURAH_ERR_1");
 * ```
 */
export const ERROR_STREAM = "HURAH_ERR_1";

/** The first tokens of error record subjects. */
export const ERROR_PREFIX = "hurah.err";

/**
 * The stream of retry state (the task record as hurah last wrote it), one message per subject.
 *
 * @example The stream's name
 * ```ts
 * import { STATE_STREAM } from "./subjects.ts";
 * import { equal } from "node:assert/strict";
 * equal(STATE_STREAM, "HURAH_STATE_1");
 * ```
 */
export const STATE_STREAM = "HURAH_STATE_1";

/**
 * The stream of requeued tasks (work-queue retention): `hurah.rq.<consumer>.<sequence>`, read by a second
 * consumer of each listener.
 *
 * @example The stream's name
 * ```ts
 * import { REQUEUE_STREAM } from "./subjects.ts";
 * import { equal } from "node:assert/strict";
 * equal(REQUEUE_STREAM, "HURAH_RQ_1");
 * ```
 */
export const REQUEUE_STREAM = "HURAH_RQ_1";

/** The first tokens of requeued task subjects. */
export const REQUEUE_PREFIX = "hurah.rq";

/** The first tokens of retry state subjects. */
export const STATE_PREFIX = "hurah.state";

/** The longest consumer name made; longer ones are cut and carry a hash of the listener id. */
export const MAX_CONSUMER_NAME = 200;

/**
 * The subject tokens of an event type's segments: `.` becomes `~`.
 *
 * @param segments The event type's segments, as `parseEventType()` gives them.
 * @returns One token per segment.
 */
function tokens(segments: readonly string[]): string[] {
  return segments.map((segment) => segment.replaceAll(".", "~"));
}

/**
 * The subject an event of a type is published on.
 *
 * @param eventType The event type, as `product/created` (`""` for the root type).
 * @returns The subject, as `hurah.ev.product.created._`.
 * @throws {InvalidNameError} When the event type is invalid.
 *
 * @example Subjects of event types
 * ```ts
 * import { eventSubject } from "./subjects.ts";
 * import { equal } from "node:assert/strict";
 * equal(eventSubject("product/created"), "hurah.ev.product.created._");
 * equal(eventSubject("v1.2/x"), "hurah.ev.v1~2.x._");
 * equal(eventSubject(""), "hurah.ev._");
 * ```
 */
export function eventSubject(eventType: string): string {
  return subjectOfSegments(parseEventType(eventType));
}

/**
 * The subject of an event type already split into checked segments (as a
 * `PublishEvent` carries them): {@linkcode eventSubject} without the check.
 *
 * @param segments The event type's segments.
 * @returns The subject, as `hurah.ev.product.created._`.
 *
 * @example A subject of segments
 * ```ts
 * import { subjectOfSegments } from "./subjects.ts";
 * import { equal } from "node:assert/strict";
 * equal(subjectOfSegments(["v1.2", "x"]), "hurah.ev.v1~2.x._");
 * ```
 */
export function subjectOfSegments(segments: readonly string[]): string {
  return [EVENT_PREFIX, ...tokens(segments), "_"].join(".");
}

/**
 * The filter subject of the consumer of a listener on an event type: every
 * event of that type and of its child types.
 *
 * @param eventType The event type the listener listens to (`""` for the root).
 * @returns The filter, as `hurah.ev.product.>`.
 * @throws {InvalidNameError} When the event type is invalid.
 *
 * @example Filters
 * ```ts
 * import { listenerFilter } from "./subjects.ts";
 * import { equal } from "node:assert/strict";
 * equal(listenerFilter("product"), "hurah.ev.product.>");
 * equal(listenerFilter(""), "hurah.ev.>");
 * ```
 */
export function listenerFilter(eventType: string): string {
  return [EVENT_PREFIX, ...tokens(parseEventType(eventType)), ">"].join(".");
}

/**
 * The event type an event subject carries (the inverse of {@linkcode eventSubject}).
 *
 * @param subject The subject, as `hurah.ev.product.created._`.
 * @returns The event type, as `product/created`.
 * @throws {RangeError} When the subject is not an event subject.
 *
 * @example Back to the event type
 * ```ts
 * import { eventTypeOfSubject } from "./subjects.ts";
 * import { equal } from "node:assert/strict";
 * equal(eventTypeOfSubject("hurah.ev.v1~2.x._"), "v1.2/x");
 * ```
 */
export function eventTypeOfSubject(subject: string): string {
  const parts = subject.split(".");
  if (parts.length < 3 || `${parts[0]}.${parts[1]}` !== EVENT_PREFIX || parts.at(-1) !== "_") {
    throw new RangeError(`not a hurah event subject: ${JSON.stringify(subject)}; expected hurah.ev.<tokens>._`);
  }
  return parts.slice(2, -1).map((token) => token.replaceAll("~", ".")).join("/");
}

/**
 * Whether a listener on `listenerEventType` gets events of `eventType`
 * (the same type, a child type, or the root listener).
 *
 * @param listenerEventType The listener's event type (`""` for the root).
 * @param eventType The event's type.
 * @returns Whether the listener's filter matches the event's subject.
 *
 * @example Product and products
 * ```ts
 * import { reaches } from "./subjects.ts";
 * import { equal } from "node:assert/strict";
 * equal(reaches("product", "product/created"), true);
 * equal(reaches("product", "products/created"), false);
 * ```
 */
export function reaches(listenerEventType: string, eventType: string): boolean {
  return listenerEventType === "" || eventType === listenerEventType || eventType.startsWith(listenerEventType + "/");
}

/**
 * The durable consumer name of a listener: its id with `_` as `__`, `.` as
 * `_d` and `/` as `_s` (a code no two ids share: two ids never map to one
 * name), so only letters, digits, `_` and `-` remain, as NATS and its file
 * store allow. A name longer than {@linkcode MAX_CONSUMER_NAME} is cut at a
 * code boundary and ends in `_x` and 32 hex digits of the id's SHA-256.
 *
 * @param listenerId The listener id, as `product/created/image_scaler`.
 * @returns The consumer name, as `product_screated_simage__scaler`.
 *
 * @example Consumer names
 * ```ts
 * import { consumerName } from "./subjects.ts";
 * import { equal } from "node:assert/strict";
 * equal(await consumerName("product/created/image_scaler"), "product_screated_simage__scaler");
 * equal(await consumerName("v1.2/mailer"), "v1_d2_smailer");
 * ```
 */
export async function consumerName(listenerId: string): Promise<string> {
  const codes = [...listenerId].map((char) => char === "_" ? "__" : char === "." ? "_d" : char === "/" ? "_s" : char);
  const plain = codes.join("");
  if (plain.length <= MAX_CONSUMER_NAME) return plain;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(listenerId)));
  const hash = [...digest.slice(0, 16)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  let cut = "";
  for (const code of codes) {
    if (cut.length + code.length > MAX_CONSUMER_NAME - 34) break;
    cut += code;
  }
  return `${cut}_x${hash}`;
}

/**
 * The subject of a listener's task's retry state (or error record), under `prefix`.
 *
 * @param prefix {@linkcode STATE_PREFIX}, {@linkcode ERROR_PREFIX} or {@linkcode REQUEUE_PREFIX}.
 * @param consumer The listener's consumer name.
 * @param sequence The task's stream sequence (a state key: `rq<n>` for a requeued delivery).
 * @returns The subject, as `hurah.state.mailer.42`.
 *
 * @example A state subject
 * ```ts
 * import { STATE_PREFIX, taskSubject } from "./subjects.ts";
 * import { equal } from "node:assert/strict";
 * equal(taskSubject(STATE_PREFIX, "mailer", 42), "hurah.state.mailer.42");
 * ```
 */
export function taskSubject(prefix: string, consumer: string, sequence: number | string): string {
  return `${prefix}.${consumer}.${sequence}`;
}

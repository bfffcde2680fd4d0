import { InvalidNameError } from "../errors.ts";

/** Longest event type segment, in characters. */
export const MAX_SEGMENT_LENGTH = 100;
/** Most segments an event type may have. */
export const MAX_SEGMENTS = 16;
/** Longest handler name, in characters. */
export const MAX_HANDLER_NAME_LENGTH = 64;
/** The suffix that marks a listener directory. */
export const LISTENER_SUFFIX = "_listener";

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const HANDLER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const SEGMENT_RULE = "letters, digits, '_', '-' and '.', not starting with '.' or '-'";
const HANDLER_RULE = "letters, digits, '_' and '-', starting with a letter or digit";

/**
 * Splits an event type into its segments after checking every one of them.
 * The root type `""` has no segments.
 *
 * Each segment holds letters, digits, `_`, `-` and `.`, starts with a letter,
 * digit or `_`, is at most 100 characters long and does not end in
 * `_listener`. At most 16 segments. So `..`, empty segments, absolute paths,
 * NUL and control characters are all rejected.
 *
 * @param eventType The event type, as `product/created`.
 * @returns The segments, as `["product", "created"]`.
 * @throws {InvalidNameError} When the event type breaks a rule; the message
 * says which and where.
 *
 * @example Parsing an event type
 * ```ts
 * import { parseEventType } from "jsr:@hurah/events";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(parseEventType("product/created"), ["product", "created"]);
 * deepEqual(parseEventType(""), []);
 * ```
 */
export function parseEventType(eventType: string): string[] {
  if (typeof eventType !== "string") {
    throw new InvalidNameError("event type", String(eventType), "expected a string");
  }
  if (eventType === "") return [];
  const fail = (reason: string) => {
    throw new InvalidNameError("event type", eventType, reason);
  };
  if (eventType.startsWith("/")) fail("must not start with '/' (event types are relative to the root)");
  const segments = eventType.split("/");
  if (segments.length > MAX_SEGMENTS) fail(`${segments.length} segments, at most ${MAX_SEGMENTS} allowed`);
  segments.forEach((segment, index) => {
    const where = `segment ${index + 1}`;
    if (segment === "") fail(`empty ${where}`);
    if (segment === "." || segment === "..") fail(`${where} is '${segment}'; path traversal is not allowed`);
    if (segment.length > MAX_SEGMENT_LENGTH) {
      fail(`${where} is ${segment.length} characters long, at most ${MAX_SEGMENT_LENGTH} allowed`);
    }
    if (!SEGMENT.test(segment)) {
      fail(`${where} ${JSON.stringify(segment)} has characters outside ${SEGMENT_RULE}`);
    }
    if (segment.endsWith(LISTENER_SUFFIX)) {
      fail(`${where} ends in '${LISTENER_SUFFIX}', which marks listener directories`);
    }
  });
  return segments;
}

/**
 * Checks a handler name: letters, digits, `_` and `-`, starting with a letter
 * or digit, at most 64 characters. The listener directory is the name plus
 * `_listener`.
 *
 * @param name The handler name, as `image_scaler`.
 * @returns The name, unchanged.
 * @throws {InvalidNameError} When the name breaks a rule.
 *
 * @example Checking a handler name
 * ```ts
 * import { checkHandlerName } from "jsr:@hurah/events";
 * checkHandlerName("image_scaler");
 * ```
 */
export function checkHandlerName(name: string): string {
  if (typeof name !== "string") {
    throw new InvalidNameError("handler name", String(name), "expected a string");
  }
  if (name === "") throw new InvalidNameError("handler name", name, "must not be empty");
  if (name.length > MAX_HANDLER_NAME_LENGTH) {
    throw new InvalidNameError(
      "handler name",
      name,
      `${name.length} characters long, at most ${MAX_HANDLER_NAME_LENGTH} allowed`,
    );
  }
  if (!HANDLER_NAME.test(name)) {
    throw new InvalidNameError("handler name", name, `allowed are ${HANDLER_RULE}`);
  }
  return name;
}

/**
 * The path of a listener directory relative to the root, `/`-separated:
 * `product/created/image_scaler_listener`, or `audit_listener` for the root
 * type.
 *
 * @param name The handler name.
 * @param eventType The event type it listens to.
 * @returns The relative path.
 * @throws {InvalidNameError} When the name or the event type is invalid.
 *
 * @example The directory of a listener
 * ```ts
 * import { listenerPath } from "jsr:@hurah/events";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(listenerPath("image_scaler", "product/created"), "product/created/image_scaler_listener");
 * deepEqual(listenerPath("audit", ""), "audit_listener");
 * ```
 */
export function listenerPath(name: string, eventType: string): string {
  return [...parseEventType(eventType), checkHandlerName(name) + LISTENER_SUFFIX].join("/");
}

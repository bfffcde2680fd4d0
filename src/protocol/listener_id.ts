import { InvalidNameError } from "../errors.ts";
import { checkHandlerName, parseEventType } from "./names.ts";

/**
 * A listener: its handler name, the event type it listens to, and its id,
 * which names it in logs, reports and commands. Two listeners may share a
 * name on different event types; their ids differ.
 */
export interface Listener {
  /** The handler name: its directory is `<name>_listener`. */
  name: string;
  /** The event type it listens to; `""` for the root type. */
  eventType: string;
  /** The listener id: `<event_type>/<name>`, or `<name>` for the root type (see `listenerId()`). */
  id: string;
}

/** @deprecated Use {@linkcode Listener}, which this is. */
export type ListenerName = Listener;

const FORM = "expected <event_type>/<handler_name>, as product/created/image_scaler, " +
  "or <handler_name> for a listener of the root type";

/**
 * How hurah names a listener on the command line and in reports:
 * `<event_type>/<name>`, or just `<name>` for the root type. Handler names
 * never contain `/`, so the last segment is always the name.
 *
 * @param name The handler name.
 * @param eventType The event type it listens to.
 * @returns The listener id, as `product/created/image_scaler`.
 *
 * @example Naming listeners
 * ```ts
 * import { listenerId } from "jsr:@hurah/events";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(listenerId("image_scaler", "product/created"), "product/created/image_scaler");
 * deepEqual(listenerId("audit", ""), "audit");
 * ```
 */
export function listenerId(name: string, eventType: string): string {
  return eventType === "" ? name : `${eventType}/${name}`;
}

/**
 * Checks a handler name and an event type and returns the listener they make,
 * with its id: the one place where both are checked on their way in (the
 * command line, a config file, `runOnce()`, `watch()`).
 *
 * @param name The handler name.
 * @param eventType The event type it listens to; `""` for the root type.
 * @returns The listener.
 * @throws {InvalidNameError} When the name or the event type breaks a naming rule.
 *
 * @example Two listeners of one name
 * ```ts
 * import { checkListener } from "./listener_id.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(checkListener("mailer", "user/signup"), { name: "mailer", eventType: "user/signup", id: "user/signup/mailer" });
 * deepEqual(checkListener("mailer", "").id, "mailer");
 * ```
 */
export function checkListener(name: string, eventType: string): Listener {
  parseEventType(eventType);
  checkHandlerName(name);
  return { name, eventType, id: listenerId(name, eventType) };
}

/**
 * Splits a listener id (`product/created/image_scaler`, or `audit` for the
 * root type) into its handler name and event type, checking both.
 *
 * @param id The listener id.
 * @returns The listener: its handler name, event type and id.
 * @throws {InvalidNameError} When the id is empty, starts or ends with `/`,
 * or its event type or handler name breaks a naming rule.
 *
 * @example Parsing listener ids
 * ```ts
 * import { parseListenerId } from "jsr:@hurah/events";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(parseListenerId("product/created/image_scaler"), {
 *   name: "image_scaler",
 *   eventType: "product/created",
 *   id: "product/created/image_scaler",
 * });
 * deepEqual(parseListenerId("audit"), { name: "audit", eventType: "", id: "audit" });
 * ```
 */
export function parseListenerId(id: string): Listener {
  if (typeof id !== "string" || id === "" || id.startsWith("/") || id.endsWith("/")) {
    throw new InvalidNameError("handler name", String(id), FORM);
  }
  const at = id.lastIndexOf("/");
  const name = id.slice(at + 1);
  const eventType = at < 0 ? "" : id.slice(0, at);
  parseEventType(eventType);
  checkHandlerName(name);
  return { name, eventType, id };
}

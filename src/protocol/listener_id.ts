import { InvalidNameError } from "../errors.ts";
import { checkHandlerName, parseEventType } from "./names.ts";

/** A listener, as its handler name and the event type it listens to. */
export interface ListenerName {
  /** The handler name: its directory is `<name>_listener`. */
  name: string;
  /** The event type it listens to; `""` for the root type. */
  eventType: string;
}

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
 * import { listenerId } from "../../mod.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(listenerId("image_scaler", "product/created"), "product/created/image_scaler");
 * deepEqual(listenerId("audit", ""), "audit");
 * ```
 */
export function listenerId(name: string, eventType: string): string {
  return eventType === "" ? name : `${eventType}/${name}`;
}

/**
 * Splits a listener id (`product/created/image_scaler`, or `audit` for the
 * root type) into its handler name and event type, checking both.
 *
 * @param id The listener id.
 * @returns The handler name and the event type.
 * @throws {InvalidNameError} When the id is empty, starts or ends with `/`,
 * or its event type or handler name breaks a naming rule.
 *
 * @example Parsing listener ids
 * ```ts
 * import { parseListenerId } from "../../mod.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(parseListenerId("product/created/image_scaler"), { name: "image_scaler", eventType: "product/created" });
 * deepEqual(parseListenerId("audit"), { name: "audit", eventType: "" });
 * ```
 */
export function parseListenerId(id: string): ListenerName {
  if (typeof id !== "string" || id === "" || id.startsWith("/") || id.endsWith("/")) {
    throw new InvalidNameError("handler name", String(id), FORM);
  }
  const at = id.lastIndexOf("/");
  const name = id.slice(at + 1);
  const eventType = at < 0 ? "" : id.slice(0, at);
  parseEventType(eventType);
  checkHandlerName(name);
  return { name, eventType };
}

import { deepEqual } from "node:assert/strict";
import * as mod from "../mod.ts";

// Changing the public API is a decision: this list changes with it (types are checked by `deno doc --lint`).
Deno.test("mod.ts exports exactly the public API", () => {
  deepEqual(Object.keys(mod).sort(), [
    "CorruptFileError",
    "Dispatcher",
    "ExecHandlerError",
    "Handler",
    "HandlerLoadError",
    "InvalidNameError",
    "Layout",
    "ListenerNotFoundError",
    "PayloadError",
    "Task",
    "UnsafePathError",
    "backoff",
    "checkHandlerName",
    "checkThresholds",
    "decideFate",
    "decodeTask",
    "encodePayload",
    "encodePhpJson",
    "encodeTask",
    "execHandler",
    "findListener",
    "formatDelivery",
    "inspectTask",
    "listListeners",
    "listenerId",
    "listenerPath",
    "loadHandler",
    "parseEventType",
    "parseListenerId",
    "prune",
    "requeue",
    "runOnce",
    "sequenceOf",
    "status",
    "toHandler",
    "watch",
  ]);
});

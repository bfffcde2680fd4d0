import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { InvalidNameError } from "../../src/errors.ts";
import {
  checkHandlerName,
  listenerPath,
  MAX_HANDLER_NAME_LENGTH,
  MAX_SEGMENT_LENGTH,
  MAX_SEGMENTS,
  parseEventType,
} from "../../src/protocol/names.ts";

/** Asserts that `fn` throws an InvalidNameError for `value` whose message quotes it and matches `reason`. */
function assertInvalid(fn: () => unknown, kind: "event type" | "handler name", value: string, reason: RegExp) {
  throws(fn, (error: unknown) => {
    ok(error instanceof InvalidNameError, `expected InvalidNameError, got ${error}`);
    equal(error.kind, kind);
    equal(error.value, value);
    ok(
      error.message.startsWith(`Invalid ${kind} ${JSON.stringify(value)}: `),
      `message does not quote the value: ${error.message}`,
    );
    ok(reason.test(error.message), `message ${JSON.stringify(error.message)} does not match ${reason}`);
    ok(!error.message.includes("\n"), "message must be one line");
    return true;
  });
}

const VALID_EVENT_TYPES: [string, string[]][] = [
  ["", []],
  ["product", ["product"]],
  ["product/created", ["product", "created"]],
  ["Product/Created-2", ["Product", "Created-2"]],
  ["_internal/x", ["_internal", "x"]],
  ["v1.2/order.paid", ["v1.2", "order.paid"]],
  ["a..b", ["a..b"]],
  ["9", ["9"]],
  ["listener", ["listener"]],
  ["a_listener_x", ["a_listener_x"]],
  ["x".repeat(MAX_SEGMENT_LENGTH), ["x".repeat(MAX_SEGMENT_LENGTH)]],
  [Array(MAX_SEGMENTS).fill("s").join("/"), Array(MAX_SEGMENTS).fill("s")],
];

Deno.test("parseEventType() splits valid event types into segments", async (t) => {
  for (const [eventType, segments] of VALID_EVENT_TYPES) {
    await t.step(JSON.stringify(eventType.length > 40 ? eventType.slice(0, 40) + "…" : eventType), () => {
      deepEqual(parseEventType(eventType), segments);
    });
  }
});

const INVALID_EVENT_TYPES: [string, RegExp][] = [
  ["/abs", /must not start with '\/'/],
  ["/", /must not start with '\/'/],
  ["../x", /segment 1 is '\.\.'; path traversal is not allowed/],
  ["a/../../b", /segment 2 is '\.\.'; path traversal is not allowed/],
  ["..", /segment 1 is '\.\.'/],
  [".", /segment 1 is '\.'; path traversal/],
  ["a/./b", /segment 2 is '\.'/],
  ["a//b", /empty segment 2/],
  ["a/", /empty segment 2/],
  [".hidden", /segment 1 "\.hidden" has characters outside letters, digits.*not starting with '\.' or '-'/],
  ["-x", /segment 1 "-x" has characters outside/],
  ["a b", /segment 1 "a b" has characters outside letters, digits, '_', '-' and '\.'/],
  ["a\0b", /segment 1 "a\\u0000b" has characters outside/],
  ["a\nb", /segment 1 "a\\nb" has characters outside/],
  ["a\tb", /segment 1 "a\\tb" has characters outside/],
  ["a\x1bb", /segment 1 "a\\u001bb" has characters outside/],
  ["a\\b", /segment 1 "a\\\\b" has characters outside/],
  ["café", /segment 1 "café" has characters outside/],
  ["a:b", /has characters outside/],
  ["product/foo_listener", /segment 2 ends in '_listener', which marks listener directories/],
  ["_listener", /segment 1 ends in '_listener'/],
  ["a/" + "x".repeat(MAX_SEGMENT_LENGTH + 1), /segment 2 is 101 characters long, at most 100 allowed/],
  [Array(MAX_SEGMENTS + 1).fill("s").join("/"), /17 segments, at most 16 allowed/],
];

Deno.test("parseEventType() rejects invalid event types, saying what was given and what is allowed", async (t) => {
  for (const [eventType, reason] of INVALID_EVENT_TYPES) {
    await t.step(JSON.stringify(eventType.length > 40 ? eventType.slice(0, 40) + "…" : eventType), () => {
      assertInvalid(() => parseEventType(eventType), "event type", eventType, reason);
    });
  }
});

Deno.test("parseEventType() rejects a value that is not a string", () => {
  assertInvalid(() => parseEventType(42 as unknown as string), "event type", "42", /expected a string/);
  assertInvalid(() => parseEventType(undefined as unknown as string), "event type", "undefined", /expected a string/);
});

const VALID_HANDLER_NAMES = [
  "image_scaler",
  "audit",
  "A",
  "9lives",
  "price-calculator",
  "a_",
  "x".repeat(MAX_HANDLER_NAME_LENGTH),
];

Deno.test("checkHandlerName() returns valid names unchanged", async (t) => {
  for (const name of VALID_HANDLER_NAMES) {
    await t.step(JSON.stringify(name), () => equal(checkHandlerName(name), name));
  }
});

const INVALID_HANDLER_NAMES: [string, RegExp][] = [
  ["", /must not be empty/],
  ["a/b", /allowed are letters, digits, '_' and '-', starting with a letter or digit/],
  ["..", /allowed are letters, digits/],
  ["../../etc", /allowed are/],
  [".hidden", /allowed are/],
  ["_private", /starting with a letter or digit/],
  ["-x", /starting with a letter or digit/],
  ["has space", /allowed are/],
  ["a.b", /allowed are/],
  ["a\0", /allowed are/],
  ["a\n", /allowed are/],
  ["naïve", /allowed are/],
  ["x".repeat(MAX_HANDLER_NAME_LENGTH + 1), /65 characters long, at most 64 allowed/],
];

Deno.test("checkHandlerName() rejects invalid names, saying what was given and what is allowed", async (t) => {
  for (const [name, reason] of INVALID_HANDLER_NAMES) {
    await t.step(JSON.stringify(name.length > 40 ? name.slice(0, 40) + "…" : name), () => {
      assertInvalid(() => checkHandlerName(name), "handler name", name, reason);
    });
  }
});

Deno.test("checkHandlerName() rejects a value that is not a string", () => {
  assertInvalid(() => checkHandlerName(null as unknown as string), "handler name", "null", /expected a string/);
});

Deno.test("listenerPath() joins the event type and <name>_listener", async (t) => {
  const cases: [string, string, string][] = [
    ["audit", "", "audit_listener"],
    ["price_calculator", "product", "product/price_calculator_listener"],
    ["image_scaler", "product/created", "product/created/image_scaler_listener"],
  ];
  for (const [name, eventType, path] of cases) {
    await t.step(`${name} on ${JSON.stringify(eventType)}`, () => equal(listenerPath(name, eventType), path));
  }
});

Deno.test("listenerPath() rejects an invalid event type or handler name", async (t) => {
  await t.step("event type", () => {
    assertInvalid(() => listenerPath("audit", "a/../b"), "event type", "a/../b", /segment 2 is '\.\.'/);
  });
  await t.step("handler name", () => {
    assertInvalid(() => listenerPath("../audit", "product"), "handler name", "../audit", /allowed are/);
  });
});

import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { InvalidNameError } from "../../src/errors.ts";
import { checkListener, listenerId, parseListenerId } from "../../src/protocol/listener_id.ts";

const IDS: [string, { name: string; eventType: string }][] = [
  ["product/created/image_scaler", { name: "image_scaler", eventType: "product/created" }],
  ["product/image_scaler", { name: "image_scaler", eventType: "product" }],
  ["audit", { name: "audit", eventType: "" }],
  ["v1.2/order.paid/mail-er", { name: "mail-er", eventType: "v1.2/order.paid" }],
];

Deno.test("parseListenerId() splits off the last segment as the handler name", () => {
  for (const [id, expected] of IDS) {
    deepEqual(parseListenerId(id), { ...expected, id }, id);
    deepEqual(checkListener(expected.name, expected.eventType), { ...expected, id }, "checkListener() makes the same");
    equal(listenerId(expected.name, expected.eventType), id, "listenerId() is its inverse");
  }
});

Deno.test("parseListenerId() rejects what is not a listener id", () => {
  const cases: [string, RegExp][] = [
    ["", /expected <event_type>\/<handler_name>/],
    ["/audit", /expected <event_type>\/<handler_name>/],
    ["product/", /expected <event_type>\/<handler_name>/],
    ["a//b/c", /empty segment 2/],
    ["../x/name", /path traversal/],
    ["product/image.scaler", /Invalid handler name "image\.scaler"/],
    ["product/image_scaler_listener/x", /ends in '_listener'/],
  ];
  for (const [id, message] of cases) {
    throws(() => parseListenerId(id), (error: unknown) => {
      ok(error instanceof InvalidNameError, `${id}: ${error}`);
      ok(message.test(error.message), `${id}: ${error.message}`);
      return true;
    });
  }
});

Deno.test("checkListener() refuses a bad handler name or event type", () => {
  const cases: [string, string, RegExp][] = [
    ["mail/er", "user", /Invalid handler name "mail\/er"/],
    ["", "user", /Invalid handler name "": must not be empty/],
    ["mailer", "user//signup", /Invalid event type "user\/\/signup": empty segment 2/],
    ["mailer", "/user", /must not start with '\/'/],
  ];
  for (const [name, eventType, message] of cases) {
    throws(() => checkListener(name, eventType), (error: unknown) => {
      ok(error instanceof InvalidNameError, `${name} ${eventType}: ${error}`);
      ok(message.test(error.message), error.message);
      return true;
    });
  }
});

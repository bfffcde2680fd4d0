import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { PayloadError } from "../../src/errors.ts";
import { encodePayload, encodePhpJson } from "../../src/protocol/php_json.ts";

// What PHP's json_encode() with no flags prints for the same value.
const PHP_ENCODINGS: [string, unknown, string][] = [
  ["slash escaped", "a/b", '"a\\/b"'],
  ["slash in a key", { "a/b": 1 }, '{"a\\/b":1}'],
  ["quote and backslash", 'say "hi" \\', '"say \\"hi\\" \\\\"'],
  ["first non-ASCII char (0x80)", "\u0080", '"\\u0080"'],
  ["latin-1 as lowercase hex", "é ÿ", '"\\u00e9 \\u00ff"'],
  ["BMP char with hex letters in lowercase", "\uabcd€", '"\\uabcd\\u20ac"'],
  ["line and paragraph separators", "\u2028\u2029", '"\\u2028\\u2029"'],
  ["BOM and U+FFFF", "\ufeff\uffff", '"\\ufeff\\uffff"'],
  ["astral char as a surrogate pair", "😀", '"\\ud83d\\ude00"'],
  ["short control escapes", "\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'],
  ["other control chars as \\u00XX", "\u0000\u0001\u001f", '"\\u0000\\u0001\\u001f"'],
  ["DEL (0x7f) left raw", "a\u007fb", '"a\u007fb"'],
  ["printable ASCII left raw", " ~<>&'", '" ~<>&\'"'],
  ["compact: no spaces or newlines", { a: [1, 2], b: { c: null, d: true } }, '{"a":[1,2],"b":{"c":null,"d":true}}'],
  ["key order kept", { z: 1, a: 2 }, '{"z":1,"a":2}'],
  ["empty object and array", { o: {}, a: [] }, '{"o":{},"a":[]}'],
  ["numbers", [0, -1, 1.5, 1e21], "[0,-1,1.5,1e+21]"],
  ["null", null, "null"],
];

Deno.test("encodePhpJson() escapes as PHP's json_encode() does", async (t) => {
  for (const [name, value, expected] of PHP_ENCODINGS) {
    await t.step(name, () => equal(encodePhpJson(value), expected));
  }
});

Deno.test("encodePhpJson() output is pure ASCII and decodes back to the same value", () => {
  const value = { url: "https://example.com/a?b=c", text: "naïve 😀 日本 \u2028", nested: [{ "k/é": "v" }] };
  const text = encodePhpJson(value);
  ok(/^[\x20-\x7e]*$/.test(text), text);
  deepEqual(JSON.parse(text), value);
});

// Payloads that survive JSON unchanged, and the JSON-safe form encodePayload() returns.
const ACCEPTED_PAYLOADS: [string, unknown, unknown][] = [
  ["null", null, null],
  ["string", "text", "text"],
  ["zero", 0, 0],
  ["false", false, false],
  ["nested object", { product: { id: 1, tags: ["a", "b"] } }, { product: { id: 1, tags: ["a", "b"] } }],
  ["undefined property dropped, as JSON does", { a: 1, b: undefined }, { a: 1 }],
  ["Date through toJSON()", { at: new Date(Date.UTC(2026, 10, 29, 3, 39, 28)) }, { at: "2026-11-29T03:39:28.000Z" }],
  ["invalid Date becomes null through toJSON()", { at: new Date(NaN) }, { at: null }],
  ["custom toJSON()", { money: { toJSON: () => "12.50 EUR" } }, { money: "12.50 EUR" }],
  [
    "class instance as its own fields",
    new (class Point {
      x = 1;
      y = 2;
    })(),
    { x: 1, y: 2 },
  ],
  ["surrogate pair", "😀", "😀"],
  ["boxed primitives unwrapped, as JSON does", [new Number(5), new String("x"), new Boolean(false)], [5, "x", false]],
];

Deno.test("encodePayload() returns the JSON-safe form of a storable payload", async (t) => {
  for (const [name, payload, expected] of ACCEPTED_PAYLOADS) {
    await t.step(name, () => {
      const safe = encodePayload(payload);
      deepEqual(safe, expected);
      deepEqual(JSON.parse(JSON.stringify(safe)), expected);
    });
  }
});

Deno.test("encodePayload() accepts the same object twice when it is not a cycle", () => {
  const shared = { id: 1 };
  deepEqual(encodePayload({ a: shared, b: [shared, shared] }), { a: { id: 1 }, b: [{ id: 1 }, { id: 1 }] });
});

function cycle(): unknown {
  const node: Record<string, unknown> = { id: 1 };
  node.children = [{ id: 2, parent: node }];
  return { tree: node };
}

// Payloads that would change on the way through JSON: the path of the first bad value and the reason.
const REJECTED_PAYLOADS: [string, () => unknown, string, RegExp][] = [
  ["top-level undefined", () => undefined, "payload", /is undefined; use null for no data/],
  ["top-level BigInt", () => 10n, "payload", /is a bigint; expected JSON data/],
  ["nested BigInt", () => ({ items: [{ id: 1 }, { id: 2 }, { id: 3n }] }), "payload.items[2].id", /is a bigint/],
  ["boxed BigInt", () => ({ id: Object(3n) }), "payload.id", /is a bigint/],
  ["function", () => ({ callback() {} }), "payload.callback", /is a function; expected JSON data/],
  ["symbol", () => ({ tag: Symbol("t") }), "payload.tag", /is a symbol/],
  ["undefined in an array", () => [1, undefined, 3], "payload[1]", /is undefined inside an array/],
  // deno-lint-ignore no-sparse-arrays
  ["hole in a sparse array", () => [1, , 3], "payload[1]", /is undefined inside an array/],
  ["NaN", () => ({ price: NaN }), "payload.price", /is NaN; JSON has only finite numbers/],
  ["Infinity", () => [Infinity], "payload[0]", /is Infinity/],
  ["-Infinity", () => ({ min: -Infinity }), "payload.min", /is -Infinity/],
  ["Map", () => ({ lookup: new Map([["a", 1]]) }), "payload.lookup", /is a Map; convert it to an object or array/],
  ["Set", () => new Set([1]), "payload", /is a Set/],
  ["WeakMap", () => ({ w: new WeakMap() }), "payload.w", /is a WeakMap/],
  ["cycle", cycle, "payload.tree.children[0].parent", /refers back to itself \(a cycle\)/],
  ["lone high surrogate", () => ({ name: "a\ud800" }), "payload.name", /lone UTF-16 surrogate/],
  ["lone low surrogate", () => ["\udc00b"], "payload[0]", /lone UTF-16 surrogate/],
  ["key that is not an identifier", () => ({ "product-id": [1n] }), 'payload["product-id"][0]', /is a bigint/],
  ["toJSON() returning a BigInt", () => ({ v: { toJSON: () => 1n } }), "payload.v", /is a bigint/],
];

Deno.test("encodePayload() rejects what JSON cannot hold, naming where it is", async (t) => {
  for (const [name, make, path, reason] of REJECTED_PAYLOADS) {
    await t.step(name, () => {
      throws(() => encodePayload(make()), (error: unknown) => {
        ok(error instanceof PayloadError, `expected PayloadError, got ${error}`);
        equal(error.path, path);
        ok(error.message.startsWith(`Payload cannot be stored as JSON: ${path} `), error.message);
        ok(reason.test(error.message), `${JSON.stringify(error.message)} does not match ${reason}`);
        return true;
      });
    });
  }
});

Deno.test("encodePayload() refuses payloads nested deeper than 510 levels, without a stack overflow", async (t) => {
  const nested = (depth: number, make: (inner: unknown) => unknown) => {
    let value: unknown = 1;
    for (let k = 0; k < depth; k++) value = make(value);
    return value;
  };
  await t.step("510 levels are stored", () => {
    equal(encodePhpJson(encodePayload(nested(510, (inner) => [inner]))).length, 2 * 510 + 1);
  });
  for (const depth of [511, 4000, 100_000]) {
    await t.step(`${depth} levels of arrays`, () => {
      throws(() => encodePayload(nested(depth, (inner) => [inner])), (error: unknown) => {
        ok(error instanceof PayloadError);
        equal(error.path, `payload${"[0]".repeat(510)}`);
        ok(
          error.message.endsWith(
            "is nested deeper than 510 levels of arrays and objects; PHP could not read the task file",
          ),
        );
        return true;
      });
    });
  }
  await t.step("objects count as arrays do", () => {
    throws(() => encodePayload(nested(511, (inner) => ({ a: inner }))), /payload(\.a){510} is nested deeper/);
  });
});

import { PayloadError } from "../errors.ts";

/**
 * The deepest nesting of arrays and objects a payload may have: one level
 * less than a task file (`MAX_TASK_NESTING` in task_file.ts), which holds
 * the payload in its record, and PHP reads no deeper than that.
 */
export const MAX_PAYLOAD_NESTING = 510;

const PHP_ESCAPED = /[\/\u0080-\uffff]/g;

function escapePhp(char: string): string {
  if (char === "/") return "\\/";
  return "\\u" + char.charCodeAt(0).toString(16).padStart(4, "0");
}

/**
 * Encodes JSON the way PHP's `json_encode` does by default: compact, `/`
 * escaped as `\/` and every non-ASCII character as `\uXXXX` (astral ones as
 * surrogate pairs). The value must already be JSON-safe; see
 * {@linkcode encodePayload} for the checks.
 *
 * @param value A JSON-safe value.
 * @returns The encoded text, without a trailing newline.
 *
 * @example PHP's escaping
 * ```ts
 * import { encodePhpJson } from "jsr:@hurah/events";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(encodePhpJson({ url: "a/b", name: "é" }), '{"url":"a\\/b","name":"\\u00e9"}');
 * ```
 */
export function encodePhpJson(value: unknown): string {
  return JSON.stringify(value).replace(PHP_ESCAPED, escapePhp);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return (value as object).constructor?.name ?? "object";
  return typeof value;
}

/**
 * Checks that a payload survives a trip through JSON unchanged, and returns
 * the JSON-safe form (`toJSON` applied, as `JSON.stringify` does). Rejected:
 * `undefined` at the top level or in an array, functions, symbols, BigInts,
 * `NaN` and infinities, cycles, `Map`, `Set`, strings with lone UTF-16
 * surrogates (PHP cannot decode them), and arrays and objects nested deeper
 * than 510 levels (PHP could not read the task file). `undefined` object
 * properties are dropped, as JSON does.
 *
 * @param payload The payload to check.
 * @returns The payload's JSON-safe form.
 * @throws {PayloadError} Naming the path of the first bad value.
 *
 * @example Checking a payload
 * ```ts
 * import { encodePayload } from "jsr:@hurah/events";
 * import { deepEqual, throws } from "node:assert/strict";
 * deepEqual(encodePayload({ product_id: 123 }), { product_id: 123 });
 * throws(() => encodePayload({ id: 10n }), /payload\.id is a bigint/);
 * ```
 */
export function encodePayload(payload: unknown): unknown {
  const ancestors = new Set<object>();
  const walk = (value: unknown, path: string, inArray: boolean, depth: number): unknown => {
    if (value !== null && typeof value === "object" && typeof (value as { toJSON?: unknown }).toJSON === "function") {
      value = (value as { toJSON(key: string): unknown }).toJSON("");
    }
    // Boxed primitives are stored as their value, as JSON.stringify does.
    if (value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt) {
      value = value.valueOf();
    }
    switch (typeof value) {
      case "string":
        if (!value.isWellFormed()) throw new PayloadError(path, "is a string with a lone UTF-16 surrogate");
        return value;
      case "boolean":
        return value;
      case "number":
        if (!Number.isFinite(value)) throw new PayloadError(path, `is ${value}; JSON has only finite numbers`);
        return value;
      case "undefined":
        throw new PayloadError(path, inArray ? "is undefined inside an array" : "is undefined; use null for no data");
      case "object":
        break;
      default:
        throw new PayloadError(path, `is a ${typeof value}; expected JSON data`);
    }
    if (value === null) return null;
    if (value instanceof Map || value instanceof Set || value instanceof WeakMap || value instanceof WeakSet) {
      throw new PayloadError(path, `is a ${describe(value)}; convert it to an object or array first`);
    }
    if (ancestors.has(value)) throw new PayloadError(path, "refers back to itself (a cycle)");
    if (depth > MAX_PAYLOAD_NESTING) {
      throw new PayloadError(
        path,
        `is nested deeper than ${MAX_PAYLOAD_NESTING} levels of arrays and objects; PHP could not read the task file`,
      );
    }
    ancestors.add(value);
    try {
      if (Array.isArray(value)) {
        return Array.from(value, (item, index) => walk(item, `${path}[${index}]`, true, depth + 1));
      }
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        if (item === undefined) continue;
        const child = /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
        out[key] = walk(item, child, false, depth + 1);
      }
      return out;
    } finally {
      ancestors.delete(value);
    }
  };
  return walk(payload, "payload", false, 1);
}

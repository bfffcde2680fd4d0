import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { HandlerLoadError } from "../errors.ts";
import type { HandlerLike } from "./handler.ts";

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const STANDALONE_HINT =
  " (a standalone hurah binary can only load handler modules included at build time with --include; use --exec for others)";

/**
 * The URL a handler specifier names: `file:`, `https:` and other URLs as
 * they are; paths resolved against `cwd`.
 */
export function handlerUrl(specifier: string, cwd: string): string {
  if (SCHEME.test(specifier) && !/^[A-Za-z]:[\\/]/.test(specifier)) return specifier;
  return pathToFileURL(isAbsolute(specifier) ? specifier : resolve(cwd, specifier)).href;
}

/**
 * Imports a handler module and returns its default export as a handler. The
 * default export may be a `Handler` subclass (constructed with no
 * arguments), a `Handler` instance, an object with `handleTask`, or a
 * function taking the task context.
 *
 * Requires `--allow-read` on a local module (`--allow-net` for a remote one)
 * and whatever the handler itself needs.
 *
 * @param specifier A path (relative to the working directory), or a
 * `file:` or `https:` URL.
 * @param cwd The directory relative paths start from.
 * @default {cwd} Deno.cwd()
 * @returns The handler.
 * @throws {HandlerLoadError} When the module cannot be imported or has no
 * usable default export; the message names the specifier and what was
 * expected.
 *
 * @example Loading a handler module
 * ```ts ignore
 * import { loadHandler, runOnce } from "jsr:@hurah/events";
 * const handler = await loadHandler("./handlers/image_scaler.ts");
 * await runOnce("/var/lib/hurah", { name: "image_scaler", eventType: "product/created", handler });
 * ```
 */
export async function loadHandler(specifier: string, cwd: string = Deno.cwd()): Promise<HandlerLike> {
  const url = handlerUrl(specifier, cwd);
  let module: Record<string, unknown>;
  try {
    module = await import(url);
  } catch (error) {
    throw new HandlerLoadError(specifier, importFailure(error, url), { cause: error });
  }
  if (!("default" in module) || module.default === undefined) {
    const names = Object.keys(module);
    throw new HandlerLoadError(
      specifier,
      `the module has no default export${names.length ? ` (it exports ${names.join(", ")})` : ""}; ` +
        "expected `export default` of a Handler subclass, a handler object or a function",
    );
  }
  return fromExport(specifier, module.default);
}

function importFailure(error: unknown, url: string): string {
  const lines = (error instanceof Error ? error.message : String(error)).split("\n");
  const message = lines[0];
  const last = lines.length > 1 ? lines[lines.length - 1].trim() : "";
  if (error instanceof Deno.errors.NotFound || /Module not found|No such file/i.test(message)) {
    return `module not found at ${url}` + (Deno.build.standalone ? STANDALONE_HINT : "");
  }
  // A failed fetch reads "Import '<url>' failed." with its causes below, as "3: Connection refused"; the last is the root.
  if (/^\d+: /.test(last) && /Import '[^']*' failed\.$/.test(message)) {
    const cause = last.replace(/^\d+: /, "");
    const detail = message === `Import '${url}' failed.` ? cause : `${message} (${cause})`;
    return `cannot fetch ${url} (no network?): ${detail}`;
  }
  if (/error sending request|dns error|connect|network/i.test(message)) {
    return `cannot fetch ${url} (no network?): ${message}`;
  }
  // A syntax error's location is on its last line, as "at file:///h.ts:3:2".
  const at = /^at (\S+:\d+:\d+)$/.exec(last);
  return at ? `${message} at ${at[1]}` : message;
}

function fromExport(specifier: string, value: unknown): HandlerLike {
  if (typeof value === "function") {
    if (typeof value.prototype?.handleTask === "function") {
      let instance: unknown;
      try {
        instance = new (value as new () => unknown)();
      } catch (error) {
        throw new HandlerLoadError(specifier, `constructing ${value.name || "the default class"} failed: ${error}`, {
          cause: error,
        });
      }
      return fromExport(specifier, instance);
    }
    if (/^class\b/.test(Function.prototype.toString.call(value))) {
      throw new HandlerLoadError(specifier, `the default export class ${value.name} has no handleTask() method`);
    }
    return { handleTask: value as HandlerLike["handleTask"] };
  }
  if (value !== null && typeof value === "object" && typeof (value as HandlerLike).handleTask === "function") {
    const handler = value as HandlerLike;
    return handler;
  }
  const found = value === null
    ? "null"
    : typeof value === "object"
    ? "an object without handleTask()"
    : `a ${typeof value}`;
  throw new HandlerLoadError(
    specifier,
    `the default export is ${found}; expected a Handler subclass, a handler object or a function`,
  );
}

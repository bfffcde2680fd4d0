import { dirname, resolve } from "node:path";
import { HANDLER_FORMS, type HandlerFormKey } from "../worker/handler_forms/registry.ts";
import { formChoices } from "./_handler_help.ts";
import { UsageError } from "./_io.ts";
import { parseDuration } from "./_options.ts";
import { InvalidNameError } from "../errors.ts";
import { listenerId } from "../protocol/listener_id.ts";
import { checkHandlerName, parseEventType } from "../protocol/names.ts";
import { parseScheduleEntries } from "./_schedules.ts";
import type { ScheduleSpec } from "../schedule/schedule.ts";

/**
 * The handler of a spec: one field per handler form, exactly one of them set
 * (`module`: a module specifier, paths already resolved against the config
 * file's directory; `exec`: a shell command).
 */
export type HandlerFormValues = { [Key in HandlerFormKey]?: string };

/** One handler of a config file, or of the command line. */
export interface HandlerSpec extends HandlerFormValues {
  /** The handler name. */
  name: string;
  /** The event type. */
  eventType: string;
  /** Where the handler runs, when its form keeps one: a config file's directory (exec), else the current one. */
  cwd?: string;
  /** Overrides the handler's `maxAttempts()`; the retries of an exec handler. */
  maxAttempts?: number;
  /** Lost attempts a task may have before it goes to `error/` (default 3). */
  maxLost?: number;
  /** Per-task time limit in milliseconds; 0 for none. */
  timeoutMs: number;
  /** Tasks handled at once; more than 1 is parallel mode. */
  concurrency: number;
}

/** A config file's contents. */
export interface ConfigFile {
  /** The event root, resolved against the config file's directory. */
  root?: string;
  /** The handlers. */
  handlers: HandlerSpec[];
  /** The recurring schedules (`hurah watch` dispatches their ticks). */
  schedules: ScheduleSpec[];
}

const HANDLER_KEYS = [
  "name",
  "eventType",
  ...HANDLER_FORMS.map((form) => form.key),
  "maxAttempts",
  "maxLost",
  "timeout",
  "concurrency",
];

/**
 * Reads a config file: a JSON file `{ "root"?, "handlers": [...] }`, or a
 * `deno.json` whose `hurah` key holds that object.
 */
export async function readConfig(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new UsageError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(data, path);
}

/** Checks a parsed config; `path` locates relative paths and names the file in errors. */
export function parseConfig(data: unknown, path: string): ConfigFile {
  const fail = (reason: string): never => {
    throw new UsageError(`config file ${path}: ${reason}`);
  };
  if (isObject(data) && "hurah" in data) data = data.hurah;
  if (!isObject(data)) return fail("expected an object with a 'handlers' array");
  const base = dirname(resolve(path));
  for (const key of Object.keys(data)) {
    if (key !== "root" && key !== "handlers" && key !== "schedules") {
      fail(`unknown key ${JSON.stringify(key)}; allowed: root, handlers, schedules`);
    }
  }
  if (data.root !== undefined && typeof data.root !== "string") fail("'root' must be a string");
  if (!Array.isArray(data.handlers) || data.handlers.length === 0) fail("'handlers' must be a non-empty array");
  const seen = new Map<string, string>();
  const handlers = (data.handlers as unknown[]).map((entry, index): HandlerSpec => {
    const where = `handlers[${index}]`;
    if (!isObject(entry)) return fail(`${where} must be an object`);
    for (const key of Object.keys(entry)) {
      if (!HANDLER_KEYS.includes(key)) {
        fail(`unknown key ${JSON.stringify(key)} in ${where}; allowed: ${HANDLER_KEYS.join(", ")}`);
      }
    }
    if (typeof entry.name !== "string") fail(`${where}.name must be a string`);
    if (typeof entry.eventType !== "string") fail(`${where}.eventType must be a string ('' for the root)`);
    const id = checkedListenerId(entry.name as string, entry.eventType as string, where, fail);
    const first = seen.get(id);
    if (first !== undefined) {
      fail(`${where} is listener ${JSON.stringify(id)} again (as ${first}); a listener may be listed once`);
    }
    seen.set(id, where);
    const forms = HANDLER_FORMS.filter((form) => entry[form.key] !== undefined);
    if (forms.length !== 1) fail(`${where} needs exactly one of ${formChoices()}`);
    const form = forms[0];
    if (typeof entry[form.key] !== "string") fail(`${where}.${form.key} must be a string`);
    const handler = form.fromConfig(entry[form.key] as string, base);
    if (
      entry.maxAttempts !== undefined && !(Number.isSafeInteger(entry.maxAttempts) && Number(entry.maxAttempts) >= 0)
    ) {
      fail(`${where}.maxAttempts must be a non-negative integer`);
    }
    if (entry.maxLost !== undefined && !(Number.isSafeInteger(entry.maxLost) && Number(entry.maxLost) >= 0)) {
      fail(`${where}.maxLost must be a non-negative integer`);
    }
    if (
      entry.concurrency !== undefined && !(Number.isSafeInteger(entry.concurrency) && Number(entry.concurrency) >= 1)
    ) {
      fail(`${where}.concurrency must be a whole number of at least 1`);
    }
    let timeoutMs = 0;
    if (entry.timeout !== undefined) {
      try {
        timeoutMs = parseDuration(entry.timeout as string | number, `${where}.timeout`);
      } catch (error) {
        fail((error as Error).message);
      }
    }
    return {
      name: entry.name as string,
      eventType: entry.eventType as string,
      [form.key]: handler.value,
      ...(handler.cwd !== undefined ? { cwd: handler.cwd } : {}),
      ...(entry.maxAttempts !== undefined ? { maxAttempts: entry.maxAttempts as number } : {}),
      ...(entry.maxLost !== undefined ? { maxLost: entry.maxLost as number } : {}),
      timeoutMs,
      concurrency: (entry.concurrency as number | undefined) ?? 1,
    };
  });
  const schedules = parseScheduleEntries(data.schedules, fail);
  return { ...(typeof data.root === "string" ? { root: resolve(base, data.root) } : {}), handlers, schedules };
}

/** The listener id of a handler entry, its name and event type checked (`where` names the entry in errors). */
function checkedListenerId(name: string, eventType: string, where: string, fail: (reason: string) => never): string {
  const check = (key: string, run: () => unknown) => {
    try {
      run();
    } catch (error) {
      if (!(error instanceof InvalidNameError)) throw error;
      fail(`${where}.${key}: ${error.message}`);
    }
  };
  check("name", () => checkHandlerName(name));
  check("eventType", () => parseEventType(eventType));
  return listenerId(name, eventType);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

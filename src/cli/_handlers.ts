import { HandlerLoadError } from "../errors.ts";
import { execHandler } from "../worker/exec_handler.ts";
import type { HandlerLike } from "../worker/handler.ts";
import { loadHandler } from "../worker/load_handler.ts";
import type { WatchListener } from "../worker/watch.ts";
import { type HandlerSpec, readConfig } from "./_config.ts";
import { type CliIo, UsageError } from "./_io.ts";
import { resolveRoot } from "./_root.ts";
import { concurrencyOption, countOption, duration } from "./_options.ts";

/** The options `run`, `watch` and `systemd` share, for `parseArgs`. */
export const HANDLER_OPTIONS = {
  root: { type: "string" },
  exec: { type: "string" },
  config: { type: "string" },
  "max-attempts": { type: "string" },
  "max-lost": { type: "string" },
  concurrency: { type: "string" },
  "host-id": { type: "string" },
  lease: { type: "string" },
  archive: { type: "string" },
  timeout: { type: "string" },
  "max-task-size": { type: "string" },
  "no-fsync": { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

/** The options of `hurah watch`, which `hurah systemd` passes on. */
export const WATCH_OPTIONS = {
  ...HANDLER_OPTIONS,
  grace: { type: "string", default: "10s" },
  "rescan-interval": { type: "string", default: "10s" },
  "log-format": { type: "string", default: "text" },
} as const;

/** The handler-related option values. */
export interface HandlerValues {
  root?: string;
  exec?: string;
  config?: string;
  "max-attempts"?: string;
  "max-lost"?: string;
  concurrency?: string;
  timeout?: string;
}

/**
 * Turns `<handler_name> <event_type> <handler> [event_root]`, its `--exec`
 * form, or `--config FILE [event_root]` into the event root and handler specs.
 */
export async function handlerSpecs(
  values: HandlerValues,
  positionals: string[],
  io: CliIo,
): Promise<{ root: string; specs: HandlerSpec[] }> {
  const timeoutMs = values.timeout === undefined ? 0 : duration(values.timeout, "--timeout");
  const maxAttempts = countOption(values["max-attempts"], "--max-attempts");
  const maxLost = countOption(values["max-lost"], "--max-lost");
  const concurrency = concurrencyOption(values.concurrency);
  if (values.config !== undefined) {
    for (const option of ["exec", "max-attempts", "max-lost", "timeout", "concurrency"] as const) {
      if (values[option] !== undefined) {
        throw new UsageError(`--${option} does not go with --config; set it per handler in the config file`);
      }
    }
    if (positionals.length > 1) {
      throw new UsageError(`with --config, the only argument is [event_root], found ${positionals.join(" ")}`);
    }
    const config = await readConfig(values.config);
    const root = resolveRoot(positionals[0], values.root ?? config.root, io);
    return { root, specs: config.handlers };
  }
  const wanted = values.exec === undefined ? 3 : 2;
  const form = values.exec === undefined
    ? "<handler_name> <event_type> <handler> [event_root]"
    : "<handler_name> <event_type> --exec <command> [event_root]";
  if (positionals.length < wanted || positionals.length > wanted + 1) {
    throw new UsageError(`expected ${form}, found ${positionals.length} arguments`);
  }
  const [name, eventType] = positionals;
  const spec: HandlerSpec = {
    name,
    eventType,
    ...(values.exec === undefined ? { module: positionals[2] } : { exec: values.exec }),
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
    ...(maxLost === undefined ? {} : { maxLost }),
    timeoutMs,
    concurrency,
  };
  return { root: resolveRoot(positionals[wanted], values.root, io), specs: [spec] };
}

/**
 * Loads every handler; when any fails, throws one error listing all of them,
 * so that nothing starts with a handler missing.
 */
export async function loadSpecs(specs: HandlerSpec[]): Promise<WatchListener[]> {
  const failures: string[] = [];
  const listeners: WatchListener[] = [];
  for (const spec of specs) {
    try {
      listeners.push({
        name: spec.name,
        eventType: spec.eventType,
        handler: await load(spec),
        timeoutMs: spec.timeoutMs,
        concurrency: spec.concurrency,
        ...(spec.maxLost === undefined ? {} : { maxLost: spec.maxLost }),
      });
    } catch (error) {
      if (!(error instanceof HandlerLoadError)) throw error;
      failures.push(`${spec.name}: ${error.message}`);
    }
  }
  if (failures.length === 1) throw new UsageError(failures[0]);
  if (failures.length > 1) {
    throw new UsageError(`${failures.length} handlers cannot be loaded:\n  ${failures.join("\n  ")}`);
  }
  return listeners;
}

async function load(spec: HandlerSpec): Promise<HandlerLike> {
  if (spec.exec !== undefined) return execHandler(spec.exec, { maxAttempts: spec.maxAttempts ?? 0, cwd: spec.cwd });
  const handler = await loadHandler(spec.module!);
  if (spec.maxAttempts === undefined) return handler;
  const maxAttempts = spec.maxAttempts;
  return {
    handleTask: (context) => handler.handleTask(context),
    maxAttempts: () => maxAttempts,
    ...(handler.retryDelay ? { retryDelay: (attempt: number) => handler.retryDelay!(attempt) } : {}),
  };
}

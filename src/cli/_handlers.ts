import { HandlerLoadError } from "../errors.ts";
import type { HandlerLike } from "../worker/handler.ts";
import {
  ARGUMENT_FORM,
  FLAG_FORMS,
  HANDLER_FORMS,
  type HandlerForm,
  type HandlerFormKey,
} from "../worker/handler_forms/registry.ts";
import type { WatchListener } from "../worker/watch.ts";
import { type HandlerSpec, readConfig } from "./_config.ts";
import { type CliIo, UsageError } from "./_io.ts";
import { BROKER_OPTIONS, resolvePlace, type TaskPlace } from "./_backend.ts";
import { concurrencyOption, countOption, duration } from "./_options.ts";
import { handlerUsage, listed } from "./_handler_help.ts";
import { LOG_OPTIONS } from "./_log.ts";
import type { ScheduleSpec } from "../schedule/schedule.ts";

/** The flag of each handler form named by one (`--exec`), for `parseArgs`. */
const FORM_OPTIONS: Readonly<Record<string, { readonly type: "string" }>> = Object.fromEntries(
  FLAG_FORMS.map((form) => [form.cli.flag, { type: "string" }]),
);

/** The options `run`, `watch` and `systemd` share, for `parseArgs`. */
export const HANDLER_OPTIONS = {
  root: { type: "string" },
  ...BROKER_OPTIONS,
  ...FORM_OPTIONS,
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
  "create-root": { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

/** The options of `hurah watch`, which `hurah systemd` passes on. */
export const WATCH_OPTIONS = {
  ...HANDLER_OPTIONS,
  ...LOG_OPTIONS,
  grace: { type: "string", default: "10s" },
  "rescan-interval": { type: "string", default: "10s" },
} as const;

/** The handler-related option values, with the flags of the handler forms (`exec`). */
export interface HandlerValues {
  root?: string;
  broker?: string;
  replicas?: string;
  config?: string;
  "max-attempts"?: string;
  "max-lost"?: string;
  concurrency?: string;
  timeout?: string;
  readonly [formFlag: string]: string | boolean | undefined;
}

/**
 * Turns `<handler_name> <event_type> <handler> [event_root]`, its form with
 * a handler flag (`--exec <command>`), or `--config FILE [event_root]` into
 * where the tasks are (an event root or a broker) and the handler specs.
 */
export async function handlerSpecs(
  values: HandlerValues,
  positionals: string[],
  io: CliIo,
): Promise<{ place: TaskPlace; specs: HandlerSpec[]; schedules: ScheduleSpec[] }> {
  const timeoutMs = values.timeout === undefined ? 0 : duration(values.timeout, "--timeout");
  const maxAttempts = countOption(values["max-attempts"], "--max-attempts");
  const maxLost = countOption(values["max-lost"], "--max-lost");
  const concurrency = concurrencyOption(values.concurrency);
  if (values.config !== undefined) {
    const perHandler = [
      ...FLAG_FORMS.map((form) => form.cli.flag),
      "max-attempts",
      "max-lost",
      "timeout",
      "concurrency",
    ];
    for (const option of perHandler) {
      if (values[option] !== undefined) {
        throw new UsageError(`--${option} does not go with --config; set it per handler in the config file`);
      }
    }
    if (positionals.length > 1) {
      throw new UsageError(`with --config, the only argument is [event_root], found ${positionals.join(" ")}`);
    }
    const config = await readConfig(values.config);
    // The config file's root is the default of --root; --broker goes past it.
    const root = values.root ?? (values.broker === undefined ? config.root : undefined);
    const place = resolvePlace(positionals[0], { ...values, root }, io);
    return { place, specs: config.handlers, schedules: config.schedules };
  }
  const flagged = FLAG_FORMS.filter((form) => values[form.cli.flag] !== undefined);
  if (flagged.length > 1) {
    throw new UsageError(`${listed(flagged.map((form) => `--${form.cli.flag}`))} exclude each other; give one`);
  }
  const form: HandlerForm<HandlerFormKey> = flagged[0] ?? ARGUMENT_FORM;
  const wanted = form === ARGUMENT_FORM ? 3 : 2;
  if (positionals.length < wanted || positionals.length > wanted + 1) {
    throw new UsageError(`expected ${handlerUsage(form)}, found ${positionals.length} arguments`);
  }
  const [name, eventType] = positionals;
  const spec: HandlerSpec = {
    name,
    eventType,
    [form.key]: "flag" in form.cli ? values[form.cli.flag] as string : positionals[2],
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
    ...(maxLost === undefined ? {} : { maxLost }),
    timeoutMs,
    concurrency,
  };
  return { place: resolvePlace(positionals[wanted], values, io), specs: [spec], schedules: [] };
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
  // The message says what is wrong with each handler: the usage hint would not help.
  if (failures.length === 1) throw new UsageError(failures[0], { hint: false });
  if (failures.length > 1) {
    throw new UsageError(`${failures.length} handlers cannot be loaded:\n  ${failures.join("\n  ")}`, { hint: false });
  }
  return listeners;
}

/** The form of a spec's handler: the one whose field is set. */
function formOf(spec: HandlerSpec): HandlerForm<HandlerFormKey> {
  const form = HANDLER_FORMS.find((each) => spec[each.key] !== undefined);
  if (form === undefined) throw new Error(`handler spec ${spec.name} names no handler`);
  return form;
}

function load(spec: HandlerSpec): Promise<HandlerLike> {
  const form = formOf(spec);
  return form.build({ value: spec[form.key]!, maxAttempts: spec.maxAttempts, cwd: spec.cwd });
}

/**
 * The command-line arguments that name a spec's handler again, relative
 * paths made absolute, as `hurah systemd` passes them to `hurah watch`:
 * `<handler>`, or a flag and its value (`--exec <command>`).
 */
export function handlerArgs(spec: HandlerSpec): string[] {
  const form = formOf(spec);
  const value = form.absolute(spec[form.key]!);
  return "flag" in form.cli ? [`--${form.cli.flag}`, value] : [value];
}

import { HandlerLoadError } from "../errors.ts";
import type { HandlerLike } from "../worker/handler.ts";
import {
  ARGUMENT_FORM,
  FLAG_FORMS,
  HANDLER_FORMS,
  type HandlerForm,
  type HandlerFormFlag,
  type HandlerFormKey,
} from "../worker/handler_forms/registry.ts";
import type { WatchListener } from "../worker/watch.ts";
import { type HandlerSpec, readConfig } from "./_config.ts";
import { type CliIo, UsageError } from "./_io.ts";
import { resolveRoot } from "./_root.ts";
import { concurrencyOption, countOption, duration } from "./_options.ts";

/** The flag of each handler form named by one (`--exec`), for `parseArgs`. */
const FORM_OPTIONS: Readonly<Record<string, { readonly type: "string" }>> = Object.fromEntries(
  FLAG_FORMS.map((form) => [form.cli.flag, { type: "string" }]),
);

/** The options `run`, `watch` and `systemd` share, for `parseArgs`. */
export const HANDLER_OPTIONS = {
  root: { type: "string" },
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
  help: { type: "boolean", short: "h", default: false },
} as const;

/** The options of `hurah watch`, which `hurah systemd` passes on. */
export const WATCH_OPTIONS = {
  ...HANDLER_OPTIONS,
  grace: { type: "string", default: "10s" },
  "rescan-interval": { type: "string", default: "10s" },
  "log-format": { type: "string", default: "text" },
} as const;

/** The handler-related option values, with the flags of the handler forms (`exec`). */
export interface HandlerValues {
  root?: string;
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
 * the event root and handler specs.
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
    const root = resolveRoot(positionals[0], values.root ?? config.root, io);
    return { root, specs: config.handlers };
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

/** One form's arguments: `<handler_name> <event_type> <handler> [event_root]`, `... --exec <command> ...`. */
function handlerUsage(form: HandlerForm, root = "event_root"): string {
  const handler = "flag" in form.cli ? `--${form.cli.flag} <${form.cli.value}>` : `<${form.cli.argument}>`;
  return `<handler_name> <event_type> ${handler} [${root}]`;
}

/** The `Usage:` lines of `hurah run` and `hurah watch`: one per handler form, then `--config`. */
export function usageLines(command: string): string {
  const forms = [...HANDLER_FORMS.map((form) => handlerUsage(form)), "--config <file> [event_root]"];
  return forms.map((args, k) => `${k === 0 ? "Usage:" : "      "} hurah ${command} ${args} [options]`).join("\n");
}

/** The arguments of the main help's `run` and `watch` lines: `<handler_name> <event_type> <handler> [root]`. */
export function mainUsage(): string {
  return handlerUsage(ARGUMENT_FORM, "root");
}

/** The help line of the handler argument (`handler ...`), the text from `column` on. */
export function argumentHelp(column: number): string {
  return helpEntry(ARGUMENT_FORM.cli.argument, ARGUMENT_FORM.cli.help, column);
}

/** The help lines of the handler flags (`--exec COMMAND ...`), the text from `column` on; `details` adds more. */
export function flagHelp(column: number, details: boolean): string {
  return FLAG_FORMS.map(({ cli }: { cli: HandlerFormFlag }) =>
    helpEntry(
      `--${cli.flag} ${cli.value.toUpperCase()}`,
      details ? `${cli.summary}: ${cli.details}` : cli.summary,
      column,
    )
  ).join("");
}

/** Help text width: an 80-column terminal. */
const WIDTH = 80;

/** `  <term>` then `text` from `column` on, wrapped at {@linkcode WIDTH} and indented to `column`. */
function helpEntry(term: string, text: string, column: number): string {
  const lines = [`  ${term}`.padEnd(column)];
  for (const word of text.split(" ")) {
    const last = lines.length - 1;
    if (lines[last].length > column && lines[last].length + 1 + word.length > WIDTH) lines.push(" ".repeat(column));
    const line = lines[lines.length - 1];
    lines[lines.length - 1] = line.length > column ? `${line} ${word}` : line + word;
  }
  return lines.map((line) => line + "\n").join("");
}

/** `a`, `a and b`, `a, b and c`. */
function listed(items: string[]): string {
  return items.length > 1 ? `${items.slice(0, -1).join(", ")} and ${items.at(-1)}` : items.join("");
}

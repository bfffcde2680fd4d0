import type { RunEvent } from "../worker/run_once.ts";
import { describeLockWait, type LockWait } from "../backend/wait.ts";
import { UsageError } from "./_io.ts";

/** How log lines look: `text` for people, `json` (one object a line) for machines. */
export type LogFormat = "text" | "json";

/** The logging options of `run` and `watch` (and `systemd`, which passes them on). */
export const LOG_OPTIONS = {
  "log-format": { type: "string", default: "text" },
  "log-timestamps": { type: "boolean", default: false },
  "no-log-timestamps": { type: "boolean", default: false },
  quiet: { type: "boolean", short: "q", default: false },
  verbose: { type: "boolean", short: "v", default: false },
} as const;

/** How `run` and `watch` log, from {@linkcode LOG_OPTIONS}. */
export interface LogSettings {
  format: LogFormat;
  /** Text lines start with the time (JSON lines always have it). */
  timestamps: boolean;
  /** Only problems and the summary: no SUCCESS lines, no handler output, no re-listings. */
  quiet: boolean;
  /** Also each pass's backlog. */
  verbose: boolean;
}

/** The help lines of {@linkcode LOG_OPTIONS}, for a command whose option column is `width` wide. */
export function logHelp(width: number): string {
  const rows: [string, string][] = [
    ["--log-format FORMAT", "text (default) or json, one line per task on stderr"],
    ["--log-timestamps", "start text lines with the time (the default unless"],
    ["", "under journald, which stamps them: $JOURNAL_STREAM)"],
    ["--no-log-timestamps", "no time on text lines"],
    ["-q, --quiet", "only problems (RETRY, INVALID, FAILURE, errors) and"],
    ["", "the summary: no SUCCESS lines, no handler output"],
    ["-v, --verbose", "also each pass's backlog"],
  ];
  return rows.map(([option, text]) => `  ${option.padEnd(width)}${text}\n`).join("");
}

/**
 * Checks the logging options: a format, timestamps (on unless journald
 * stamps the lines, or asked off), and quiet or verbose, not both.
 */
export function logSettings(
  values: {
    "log-format"?: string;
    "log-timestamps"?: boolean;
    "no-log-timestamps"?: boolean;
    quiet?: boolean;
    verbose?: boolean;
  },
  env: (name: string) => string | undefined,
): LogSettings {
  const format = values["log-format"] ?? "text";
  if (format !== "text" && format !== "json") {
    throw new UsageError(`--log-format must be text or json, found ${JSON.stringify(format)}`);
  }
  if (values.quiet && values.verbose) throw new UsageError("--quiet and --verbose exclude each other; give one");
  if (values["log-timestamps"] && values["no-log-timestamps"]) {
    throw new UsageError("--log-timestamps and --no-log-timestamps exclude each other; give one");
  }
  const timestamps = values["log-timestamps"] || (!values["no-log-timestamps"] && env("JOURNAL_STREAM") === undefined);
  return { format, timestamps, quiet: values.quiet ?? false, verbose: values.verbose ?? false };
}

/** The options a command was given, for its JSON start record: every value but `help`. */
export function commandOptions(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([name, value]) => name !== "help" && value !== undefined));
}

/** Whether a quiet log leaves an event out: what went as it should. */
function unremarkable(event: RunEvent): boolean {
  return (event.type === "task" && event.result === "SUCCESS") || event.type === "output" ||
    event.type === "rescan" || event.type === "waiting" || (event.type === "delayed" && event.message === undefined);
}

/** Durations in JSON logs, to the microsecond. */
function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** The time as a text line starts with it. */
function stamp(): string {
  return `${new Date().toISOString()} `;
}

const COLORS: Record<string, string> = {
  SUCCESS: "\x1b[32m",
  RETRY: "\x1b[33m",
  TIMEOUT: "\x1b[33m",
  FAILURE: "\x1b[31m",
  INVALID: "\x1b[31m",
  ERROR: "\x1b[31m",
  ABORTED: "\x1b[35m",
  QUARANTINED: "\x1b[35m",
  LOST: "\x1b[35m",
  FAULT: "\x1b[31m",
  PAUSED: "\x1b[33m",
  RESUMED: "\x1b[32m",
};

/**
 * Makes a function that turns runner events into log lines (`""` for an
 * event left out): JSON objects with the time and durations to the
 * microsecond, or text, stamped with the time when `timestamps`.
 */
export function eventFormatter(
  format: LogFormat,
  color: boolean,
  settings: Partial<Omit<LogSettings, "format">> = {},
): (event: RunEvent) => string {
  const left = (event: RunEvent) =>
    (event.type === "backlog" && !settings.verbose) || (settings.quiet === true && unremarkable(event));
  if (format === "json") {
    return (event) => {
      if (left(event)) return "";
      const rounded = "durationMs" in event ? { ...event, durationMs: roundMs(event.durationMs) } : event;
      return JSON.stringify({ time: new Date().toISOString(), ...rounded }) + "\n";
    };
  }
  const paint = (word: string) => color && COLORS[word] ? `${COLORS[word]}${word}\x1b[0m` : word;
  return (event) => {
    if (left(event)) return "";
    const text = formatText(event, paint);
    return settings.timestamps && text !== "" ? stamp() + text : text;
  };
}

/**
 * Makes a function that turns what the command itself says (`hurah watch:
 * watching ...`) into a log line: text, stamped when `timestamps`; in JSON,
 * an object of `type` with the fields given.
 */
export function noticeFormatter(settings: LogSettings): (text: string, type: string, fields?: object) => string {
  if (settings.format === "json") {
    return (_text, type, fields) => JSON.stringify({ time: new Date().toISOString(), type, ...fields }) + "\n";
  }
  return (text) => (settings.timestamps ? stamp() : "") + text + "\n";
}

/**
 * Makes a function that turns a lock wait into a log line: `<command>:
 * waiting for the lock ...` in text, an object of type `lock` in JSON.
 */
export function lockWaitFormatter(format: LogFormat, command: string, timestamps = false): (wait: LockWait) => string {
  if (format === "json") {
    return (wait) => JSON.stringify({ time: new Date().toISOString(), type: "lock", ...wait }) + "\n";
  }
  return (wait) => `${timestamps ? stamp() : ""}hurah ${command}: ${describeLockWait(wait)}\n`;
}

function formatText(event: RunEvent, paint: (word: string) => string): string {
  switch (event.type) {
    case "task": {
      const retry = event.retryInMs ? ` in ${seconds(event.retryInMs)}` : "";
      return `${event.listener} #${event.sequence} ${paint(event.result)} -> ${event.fate}${retry} ` +
        `(${event.durationMs.toFixed(1)} ms)` + (event.message ? `: ${event.message}` : "") + "\n";
    }
    case "quarantine":
      return `${event.listener} ${event.file} ${paint("QUARANTINED")} -> error: ${event.reason}\n`;
    case "output":
      return `${event.listener} #${event.sequence} | ${event.line.replaceAll("\n", "\n    ")}\n`;
    case "waiting":
      return `${event.listener} ${event.file} INCOMPLETE, will look again: ${event.reason}\n`;
    case "paused":
      return `${event.listener} paused after ${paint("FAILURE")} of #${event.sequence}; ` +
        `trying it again in ${seconds(event.retryInMs)}\n`;
    case "backlog":
      return `${event.listener} ${event.pending} pending\n`;
    case "pause":
      return `${event.listener} ${paint("PAUSED")} ${pauseText(event)}; no new task is taken until ` +
        `hurah resume ${event.listener}\n`;
    case "resume":
      return `${event.listener} ${paint("RESUMED")}, taking tasks again (was paused ${pauseText(event)})\n`;
    case "lost":
      return `${event.listener} #${event.sequence} ${paint("LOST")}: ${event.message}\n`;
    case "rescan":
      return `${event.listener} re-listing the inbox (${event.reason})\n`;
    case "registered":
      return `${event.listener} registered: handler ${JSON.stringify(event.name)} on event type ` +
        `${event.eventType === "" ? '"" (the root: every event)' : JSON.stringify(event.eventType)}, ` +
        `tasks arrive in ${event.location}\n`;
    case "delayed":
      if (event.message !== undefined) {
        return `delayed events ${paint("FAULT")}, trying again in ${seconds(event.retryInMs ?? 0)}: ` +
          event.message.replaceAll("\n", "\n    ") + "\n";
      }
      return `delayed events: ${event.events} due, ${event.deliveries} tasks delivered\n`;
    case "fault":
      return `${event.listener} ${paint("FAULT")}, trying again in ${seconds(event.retryInMs)}: ` +
        event.message.replaceAll("\n", "\n    ") + "\n";
  }
}

/** Who paused a listener, where, since when and why. */
function pauseText(pause: { since: string; by: string; host: string; reason: string | null }): string {
  return `by ${pause.by} on ${pause.host} since ${pause.since}${pause.reason === null ? "" : `: ${pause.reason}`}`;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

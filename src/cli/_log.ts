import type { RunEvent } from "../worker/run_once.ts";
import { describeLockWait, type LockWait } from "../backend/wait.ts";

/** How log lines look: `text` for people, `json` (one object a line) for machines. */
export type LogFormat = "text" | "json";

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
};

/** Makes a function that turns runner events into log lines. */
export function eventFormatter(format: LogFormat, color: boolean): (event: RunEvent) => string {
  if (format === "json") {
    return (event) =>
      event.type === "backlog" ? "" : JSON.stringify({ time: new Date().toISOString(), ...event }) + "\n";
  }
  const paint = (word: string) => color && COLORS[word] ? `${COLORS[word]}${word}\x1b[0m` : word;
  return (event) => formatText(event, paint);
}

/**
 * Makes a function that turns a lock wait into a log line: `<command>:
 * waiting for the lock ...` in text, an object of type `lock` in JSON.
 */
export function lockWaitFormatter(format: LogFormat, command: string): (wait: LockWait) => string {
  if (format === "json") {
    return (wait) => JSON.stringify({ time: new Date().toISOString(), type: "lock", ...wait }) + "\n";
  }
  return (wait) => `hurah ${command}: ${describeLockWait(wait)}\n`;
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
      return "";
    case "lost":
      return `${event.listener} #${event.sequence} ${paint("LOST")}: ${event.message}\n`;
    case "rescan":
      return `${event.listener} re-listing the inbox (${event.reason})\n`;
    case "fault":
      return `${event.listener} ${paint("FAULT")}, trying again in ${seconds(event.retryInMs)}: ` +
        event.message.replaceAll("\n", "\n    ") + "\n";
  }
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Whether to color: a terminal, and `NO_COLOR` unset or empty. */
export function useColor(noColor: string | undefined, isTerminal: boolean): boolean {
  return isTerminal && (noColor === undefined || noColor === "");
}

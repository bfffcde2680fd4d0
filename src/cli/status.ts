import { formatAge } from "../protocol/_age.ts";
import type { ListenerStatus, StatusReport } from "../protocol/listener_status.ts";
import { checkThresholds, type StatusThresholds, type Violation } from "../protocol/thresholds.ts";
import { countOption, duration, parseOptions } from "./_options.ts";
import { type CliIo, UsageError } from "./_io.ts";
import { BROKER_OPTIONS, brokerHelp, openBackend, resolvePlace } from "./_backend.ts";
import { formatTable } from "./_table.ts";
import { readConfig } from "./_config.ts";
import { formatSchedules, scheduleStatus } from "./_schedules.ts";

/** Help text of `hurah status`. */
export const STATUS_HELP = `Usage: hurah status [listener...] [options]

Reports on every listener under the event root (or on the listeners named,
as product/created/image_scaler, or audit for the root type): its state
(ok, failing at the task it stopped on, retrying; paused, with who paused
it, since when and why, after hurah pause), pending tasks and the age
of the oldest, tasks in flight with their workers' leases, entries in error/,
archived tasks and the last delivery; then the delayed events waiting
(dispatch --delay/--at) and when the next is due. Reads only.

Prints a table when standard output is a terminal, JSON otherwise. With
--check, prints one summary line instead (or the JSON with --json).

Options:
  --root DIR                    the event root (default: $HURAH_ROOT)
${brokerHelp(32)}  --json                        print JSON, also on a terminal
  --table                       print the table, also when not on a terminal
  --config FILE                 also list the schedules of this config file
                                (its root is the default of --root); those a
                                watcher recorded under the root are listed
                                always, each with its last and next tick
  --check                       check the limits below: print one line per
                                limit crossed on stderr, "WARNING: ..." on
                                stdout and exit 1; or "OK: ..." and exit 0
  --max-pending N               most pending tasks a listener may have
  --max-oldest DURATION         oldest its first pending task may be, as 1h
  --max-errors N                most entries its error/ may hold
  --max-in-flight-age DURATION  longest a task may stay claimed by a worker
  -h, --help                    show this help

A duration is 500ms, 10s, 5m, 2h, 7d, or a number of seconds.

Exit codes: 0 report printed (with --check: no limit crossed), 1 a limit
crossed (with --check), an unknown listener or an unexpected error, 2 usage
error.
`;

const LIMITS = ["max-pending", "max-oldest", "max-errors", "max-in-flight-age"] as const;

/** `hurah status`: returns the exit code. */
export async function statusCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    root: { type: "string" },
    ...BROKER_OPTIONS,
    json: { type: "boolean", default: false },
    table: { type: "boolean", default: false },
    config: { type: "string" },
    check: { type: "boolean", default: false },
    "max-pending": { type: "string" },
    "max-oldest": { type: "string" },
    "max-errors": { type: "string" },
    "max-in-flight-age": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    io.stdout(STATUS_HELP);
    return 0;
  }
  if (values.json && values.table) throw new UsageError("--json and --table exclude each other; give one");
  const given = LIMITS.filter((limit) => values[limit] !== undefined);
  if (!values.check && given.length > 0) {
    throw new UsageError(`--${given[0]} is a limit for --check; add --check`);
  }
  if (values.check && given.length === 0) {
    throw new UsageError(`--check needs at least one limit: ${LIMITS.map((limit) => `--${limit}`).join(", ")}`);
  }
  const thresholds: StatusThresholds = {
    maxPending: countOption(values["max-pending"], "--max-pending"),
    maxOldestMs: values["max-oldest"] === undefined ? undefined : duration(values["max-oldest"], "--max-oldest"),
    maxErrors: countOption(values["max-errors"], "--max-errors"),
    maxInFlightAgeMs: values["max-in-flight-age"] === undefined
      ? undefined
      : duration(values["max-in-flight-age"], "--max-in-flight-age"),
  };
  const config = values.config === undefined ? undefined : await readConfig(values.config);
  const place = resolvePlace(undefined, { ...values, root: values.root ?? config?.root }, io);
  await using backend = await openBackend(place);
  const report = await backend.operations.status({
    listeners: positionals.length > 0 ? positionals : undefined,
  });
  const schedules = await scheduleStatus(backend, config?.schedules ?? [], new Date(report.time));
  const violations = values.check ? checkThresholds(report.listeners, thresholds) : [];
  // A check prints one summary line by default, for monitoring plugins that read the first line.
  const json = values.json || (!values.check && !values.table && !io.stdoutIsTerminal);
  // Schedules only when there are some: the JSON of a root without any stays as it was.
  if (json) {
    io.stdout(JSON.stringify({ ...report, ...schedules.length ? { schedules } : {}, violations }, null, 2) + "\n");
  } else if (values.check) io.stdout(checkSummary(report, violations));
  else io.stdout(formatStatus(report) + (schedules.length ? "\n" + formatSchedules(schedules) : ""));
  for (const violation of violations) io.stderr(violation.message + "\n");
  return violations.length > 0 ? 1 : 0;
}

function checkSummary(report: StatusReport, violations: Violation[]): string {
  const listeners = `${report.listeners.length} ${report.listeners.length === 1 ? "listener" : "listeners"}`;
  if (violations.length === 0) return `OK: ${listeners} within limits\n`;
  const limits = violations.length === 1 ? "1 limit crossed" : `${violations.length} limits crossed`;
  return `WARNING: ${limits} in ${listeners}: ${violations[0].message}\n`;
}

/** The status report as a table, then the tasks in flight. */
export function formatStatus(report: StatusReport): string {
  const delayed = report.delayed === undefined
    ? ""
    : `\nDelayed: ${report.delayed.waiting} ${
      report.delayed.waiting === 1 ? "event" : "events"
    } waiting, the next due ${report.delayed.nextDueAt} (${dueIn(report)}).\n`;
  return formatListeners(report) + delayed;
}

/** How long until the next delayed event is due, for people. */
function dueIn(report: StatusReport): string {
  const ms = Date.parse(report.delayed!.nextDueAt) - Date.parse(report.time);
  return ms > 0 ? `in ${formatAge(ms)}` : "due now";
}

function formatListeners(report: StatusReport): string {
  if (report.listeners.length === 0) return `No listeners under ${report.root}.\n`;
  const header = ["LISTENER", "STATE", "PENDING", "OLDEST", "IN FLIGHT", "ERRORS", "ARCHIVED", "LAST DELIVERY"];
  const rows = report.listeners.map((listener) => [
    listener.listener,
    state(listener),
    String(listener.pending),
    listener.oldestPendingAgeMs === null ? "-" : formatAge(listener.oldestPendingAgeMs),
    inFlight(listener),
    listener.quarantined > 0 ? `${listener.errors} + ${listener.quarantined} quarantined` : String(listener.errors),
    String(listener.archived),
    listener.lastDelivery ?? "-",
  ]);
  let text = formatTable(header, rows, new Set([2, 3, 4, 5, 6]));
  const claimed = report.listeners.flatMap((listener) =>
    listener.inFlight.map((task) => [
      `${listener.listener} #${task.sequence}`,
      task.ageMs === null ? "-" : formatAge(task.ageMs),
      task.worker,
      `lease ${task.lease}`,
    ])
  );
  if (claimed.length > 0) text += "\n" + formatTable(["IN FLIGHT", "FOR", "WORKER", "LEASE"], claimed, new Set([1]));
  const paused = report.listeners.flatMap(({ listener, paused }) =>
    paused === undefined ? [] : [[listener, paused.since, `${paused.by} on ${paused.host}`, paused.reason ?? "-"]]
  );
  if (paused.length > 0) text += "\n" + formatTable(["PAUSED", "SINCE", "BY", "REASON"], paused, new Set());
  return text;
}

function state(listener: ListenerStatus): string {
  if (listener.paused !== undefined) return `paused${listener.state === "ok" ? "" : `, ${taskState(listener)}`}`;
  return taskState(listener);
}

/** What the pending tasks say: failing, retrying or ok. */
function taskState(listener: ListenerStatus): string {
  if (listener.state === "failing") return `failing at #${listener.failingAt}`;
  if (listener.state === "retrying" && listener.waiting > 0) return `retrying (${listener.waiting} waiting)`;
  return listener.state;
}

function inFlight(listener: ListenerStatus): string {
  const lost = listener.inFlight.filter((task) => task.lease !== "live").length;
  return lost > 0 ? `${listener.inFlight.length} (${lost} lost)` : String(listener.inFlight.length);
}

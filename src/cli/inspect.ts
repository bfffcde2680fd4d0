import type { FailureRecord } from "../protocol/task_file.ts";
import type { FoundTask, TaskInspection } from "../backend/operations.ts";
import { parseOptions, sequenceArgument } from "./_options.ts";
import { type CliIo, UsageError } from "./_io.ts";
import { BROKER_OPTIONS, brokerHelp, openBackend, resolvePlace } from "./_backend.ts";

/** Help text of `hurah inspect`. */
export const INSPECT_HELP = `Usage: hurah inspect <listener> <sequence> [options]

Finds task <sequence> of <listener> in its inbox/, inflight/, archive/ or
error/ (quarantined files too, with the reason they were quarantined) and
prints where it is, its fields, its payload and its history: one line per
failure record (time, attempt, result, worker, message), stack traces and
what the handler logged (output) indented below.

Arguments:
  listener    <event_type>/<handler_name>, as product/created/image_scaler,
              or <handler_name> for a listener of the root type
  sequence    the task's sequence number

Options:
  --root DIR  the event root (default: $HURAH_ROOT)
${brokerHelp(14)}  --json      print what was found as JSON
  -h, --help  show this help

Exit codes: 0 found, 1 not found (or no such listener), 2 usage error,
141 standard output closed by its reader (as with | head), quietly.
`;

/** `hurah inspect`: returns the exit code. */
export async function inspectCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    root: { type: "string" },
    ...BROKER_OPTIONS,
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    io.stdout(INSPECT_HELP);
    return 0;
  }
  if (positionals.length !== 2) {
    throw new UsageError(`expected <listener> <sequence>, found ${positionals.length} arguments`);
  }
  const sequence = sequenceArgument(positionals[1]);
  const place = resolvePlace(undefined, values, io);
  await using backend = await openBackend(place);
  const inspection = await backend.operations.inspect({ listener: positionals[0], sequence });
  if (values.json) io.stdout(JSON.stringify(inspection, null, 2) + "\n");
  else io.stdout(inspection.found.map((found) => formatFound(inspection, found)).join("\n"));
  if (inspection.found.length === 0) {
    io.stderr(
      `hurah inspect: task ${sequence} of ${inspection.listener} not found in inbox/, inflight/, archive/ or ` +
        `error/ of ${inspection.dir} (pruned, or never delivered)\n`,
    );
    return 1;
  }
  return 0;
}

const SHOWN = new Set(["payload", "sequence", "count", "failures"]);
const FIELDS = ["event_type", "event_id", "task_id", "delivery", "retry_count", "not_before"];

/** One file of a task, for people. */
export function formatFound(inspection: TaskInspection, found: FoundTask): string {
  const where = found.location === "inflight"
    ? `in flight (claimed by ${found.worker})`
    : found.location === "inbox"
    ? "pending in inbox/"
    : `in ${found.location}/`;
  const lines = [
    `${inspection.listener} #${inspection.sequence}: ${where}${found.since ? ` since ${found.since}` : ""}`,
  ];
  const field = (name: string, value: string) => lines.push(`  ${name.padEnd(12)} ${value}`);
  field("path", found.path);
  if (found.problem !== null) field("problem", found.problem);
  if (found.reason !== null) field("reason", found.reason);
  if (found.text !== null) lines.push("  text", indent(found.text, 4));
  const task = found.task;
  if (task !== null) {
    for (const name of FIELDS) field(name, task[name] === undefined ? "-" : String(task[name]));
    for (const [name, value] of Object.entries(task)) {
      if (!SHOWN.has(name) && !FIELDS.includes(name)) field(name, JSON.stringify(value));
    }
    lines.push("  payload", indent(JSON.stringify(task.payload, null, 2) ?? "null", 4));
    const failures = Array.isArray(task.failures) ? task.failures : [];
    lines.push(failures.length > 0 ? "  history" : "  history      -");
    for (const failure of failures) lines.push(...historyLines(failure));
  }
  return lines.join("\n") + "\n";
}

function historyLines(failure: FailureRecord): string[] {
  const result = failure.fate ? `${failure.result} -> ${failure.fate}` : failure.result;
  const line = [failure.time, `attempt ${failure.attempt ?? "?"}`, result, failure.worker ?? "-", failure.message]
    .map((part) => String(part ?? "-")).join("  ");
  const lines = [`    ${line}`];
  if (typeof failure.stack === "string" && failure.stack !== "") lines.push(indent(failure.stack, 6));
  if (typeof failure.output === "string" && failure.output !== "") {
    lines.push("      output", indent(failure.output, 8));
  }
  return lines;
}

function indent(text: string, width: number): string {
  const pad = " ".repeat(width);
  return text.replace(/\n+$/, "").split("\n").map((line) => pad + line).join("\n");
}

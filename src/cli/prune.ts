import { duration, parseOptions } from "./_options.ts";
import { type CliIo, UsageError } from "./_io.ts";
import { BROKER_OPTIONS, brokerHelp, openBackend, resolvePlace } from "./_backend.ts";

/** Help text of `hurah prune`. */
export const PRUNE_HELP = `Usage: hurah prune --older-than DURATION [listener...] [options]

Removes the files that got into archive/ (by default) or error/ at least
DURATION ago, judged by their ctime (set by the rename into the directory),
from every listener under the event root, or from the listeners named.
In error/, quarantined files go too, each with its .reason.txt note. Pending
and in-flight tasks are never touched. Prints what was removed per listener.

Arguments:
  listener                <event_type>/<handler_name>, as
                          product/created/image_scaler (default: all)

Options:
  --older-than DURATION   how old a file must be, as 30d (required)
  --archive               prune archive/ (the default when neither
                          --archive nor --error is given)
  --error                 prune error/
  --root DIR              the event root (default: $HURAH_ROOT)
${brokerHelp(26)}  --dry-run               count what would be removed, remove nothing
  --json                  print the report as JSON
  -h, --help              show this help

A duration is 500ms, 10s, 5m, 2h, 7d, or a number of seconds.

Exit codes: 0 done, 1 no such listener or an unexpected error, 2 usage error.
`;

/** `hurah prune`: returns the exit code. */
export async function pruneCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    "older-than": { type: "string" },
    archive: { type: "boolean", default: false },
    error: { type: "boolean", default: false },
    root: { type: "string" },
    ...BROKER_OPTIONS,
    "dry-run": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    io.stdout(PRUNE_HELP);
    return 0;
  }
  if (values["older-than"] === undefined) {
    throw new UsageError("missing --older-than DURATION, as 30d: how old the files to remove must be");
  }
  const olderThanMs = duration(values["older-than"], "--older-than");
  const place = resolvePlace(undefined, values, io);
  await using backend = await openBackend(place);
  const dryRun = values["dry-run"];
  const report = await backend.operations.prune({
    olderThanMs,
    archive: values.archive || !values.error,
    error: values.error,
    listeners: positionals.length > 0 ? positionals : undefined,
    dryRun,
  });
  if (values.json) {
    io.stdout(JSON.stringify(report) + "\n");
    return 0;
  }
  const verb = dryRun ? "would remove" : "removed";
  for (const listener of report.listeners) {
    const parts = [];
    if (listener.archive > 0) parts.push(`${listener.archive} from archive/`);
    if (listener.error > 0) parts.push(`${listener.error} from error/`);
    if (parts.length > 0) io.stdout(`${listener.listener}: ${verb} ${parts.join(", ")}\n`);
  }
  const where = [values.archive || !values.error ? "archive/" : "", values.error ? "error/" : ""]
    .filter(Boolean).join(" and ");
  const files = `${report.removed} ${report.removed === 1 ? "file" : "files"}`;
  const listeners = `${report.listeners.length} ${report.listeners.length === 1 ? "listener" : "listeners"}`;
  io.stdout(`${verb} ${files} from ${where} of ${listeners}\n`);
  return 0;
}

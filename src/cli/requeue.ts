import { parseOptions, sequenceArgument } from "./_options.ts";
import { type CliIo, UsageError } from "./_io.ts";
import { BROKER_OPTIONS, brokerHelp, openBackend, refuseFileOptions, resolvePlace } from "./_backend.ts";

/** Help text of `hurah requeue`. */
export const REQUEUE_HELP = `Usage: hurah requeue <listener> <sequence>... [options]
       hurah requeue <listener> --all [options]

Puts tasks from the listener's error/ back into its inbox/, to be handled
again. Each keeps its history, gets a REQUEUED record saying who put it back
and when, and starts again with no retry_count, lost_count or not_before. A
task whose number is taken in inbox/ or inflight/ is refused; quarantined
files (not readable as tasks) are never put back. Prints one line per task
put back.

Arguments:
  listener    <event_type>/<handler_name>, as product/created/image_scaler,
              or <handler_name> for a listener of the root type
  sequence    the sequence numbers of the tasks to put back

Options:
  --all       put back every task in error/ (quarantined files are listed
              on stderr and left there)
  --root DIR  the event root (default: $HURAH_ROOT)
${brokerHelp(14)}  --no-fsync  do not flush the rewritten files to disk (event root only;
              refused with --broker)
  --json      print the report as JSON
  -h, --help  show this help

Exit codes: 0 every task asked for was put back, 1 one was not found or was
refused (or no such listener), 2 usage error.
`;

/** `hurah requeue`: returns the exit code. */
export async function requeueCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    root: { type: "string" },
    ...BROKER_OPTIONS,
    all: { type: "boolean", default: false },
    "no-fsync": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    io.stdout(REQUEUE_HELP);
    return 0;
  }
  const [listener, ...rest] = positionals;
  if (listener === undefined) throw new UsageError("missing <listener>, as product/created/image_scaler");
  if (values.all && rest.length > 0) throw new UsageError("give sequence numbers or --all, not both");
  if (!values.all && rest.length === 0) throw new UsageError("missing <sequence>...: which tasks? (or --all)");
  const sequences = rest.map(sequenceArgument);
  const place = resolvePlace(undefined, values, io);
  refuseFileOptions(place, [["--no-fsync", values["no-fsync"]]]);
  await using backend = await openBackend(place);
  const user = io.env("USER") ?? io.env("LOGNAME");
  const report = await backend.operations.requeue({
    listener,
    sequences,
    all: values.all,
    by: user ? `${user} (hurah requeue)` : undefined,
    durable: !values["no-fsync"],
  });
  if (values.json) io.stdout(JSON.stringify(report) + "\n");
  else for (const sequence of report.requeued) io.stdout(`${report.listener} #${sequence} error/ -> inbox/\n`);
  for (const refusal of report.refused) {
    io.stderr(`hurah requeue: ${report.listener} #${refusal.sequence} not put back: ${refusal.reason}\n`);
  }
  for (const skipped of report.skipped) io.stderr(`hurah requeue: ${report.listener}: skipped ${skipped.reason}\n`);
  if (values.all && report.requeued.length + report.refused.length === 0) {
    io.stderr(`hurah requeue: ${report.listener} has no task in error/; nothing put back\n`);
  }
  return report.refused.length > 0 ? 1 : 0;
}

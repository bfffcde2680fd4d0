import { LockTimeoutError } from "../errors.ts";
import { parseOptions, sequenceArgument, waitOption } from "./_options.ts";
import { type CliIo, UsageError } from "./_io.ts";
import { BROKER_OPTIONS, brokerHelp, openBackend, refuseFileOptions, resolvePlace } from "./_backend.ts";
import { lockWaitFormatter } from "./_log.ts";
import { userOf } from "./_control.ts";

/** Help text of `hurah discard`. */
export const DISCARD_HELP = `Usage: hurah discard <listener> <sequence>... [options]

Moves pending tasks from the listener's inbox/ to its error/, each with a
DISCARDED failure record: "discarded by <user> on <host>: <reason>". The
task a listener is stopped at on FAILURE is pending too: once it is
discarded, the runner goes on with the next task. hurah requeue brings a
discarded task back. Prints one line per task discarded.

Safe beside running runners: a task in flight (claimed by a parallel
worker) is refused, and while an ordered runner is in the middle of a pass
(it holds the run lock) the command waits for the pass to end. Do not
discard while a PHP runner works the listener (it takes no lock).

Arguments:
  listener          <event_type>/<handler_name>, as user/signup/mailer, or
                    <handler_name> for a listener of the root type
  sequence          the sequence numbers of the pending tasks to discard

Options:
  --reason TEXT     why, in the failure record
  --wait DURATION   wait at most this long for an ordered runner's pass to
                    end (default: as long as it takes; SIGINT ends it)
  --no-wait         do not wait: exit 75 at once while a pass is running
  --root DIR        the event root (default: $HURAH_ROOT)
${brokerHelp(20)}  --no-fsync        do not flush the rewritten files to disk
  --json            print the report as JSON
  -h, --help        show this help

Exit codes: 0 every task asked for was discarded, 1 one was not pending
(not found, in flight, archived, in error/ already; the others are
discarded all the same) or no such listener, 2 usage error, 75 a runner's
pass is still running after --wait (nothing discarded).
`;

/** `hurah discard`: returns the exit code. */
export async function discardCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    root: { type: "string" },
    ...BROKER_OPTIONS,
    reason: { type: "string" },
    wait: { type: "string" },
    "no-wait": { type: "boolean", default: false },
    "no-fsync": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    io.stdout(DISCARD_HELP);
    return 0;
  }
  const [listener, ...rest] = positionals;
  if (listener === undefined) throw new UsageError("missing <listener>, as user/signup/mailer");
  if (rest.length === 0) throw new UsageError("missing <sequence>...: which pending tasks?");
  const sequences = rest.map(sequenceArgument);
  const timeoutMs = waitOption(values.wait, values["no-wait"]);
  const place = resolvePlace(undefined, values, io);
  refuseFileOptions(place, [["--no-fsync", values["no-fsync"]], ["--wait", values.wait !== undefined], [
    "--no-wait",
    values["no-wait"],
  ]]);
  await using backend = await openBackend(place);
  const lockLine = lockWaitFormatter("text", "discard");
  let report;
  try {
    report = await backend.operations.discard({
      listener,
      sequences,
      reason: values.reason ?? null,
      by: userOf(io),
      wait: { signal: io.signal, timeoutMs, onWait: (wait) => io.stderr(lockLine(wait)) },
      durable: !values["no-fsync"],
    });
  } catch (error) {
    if (!(error instanceof LockTimeoutError)) throw error;
    io.stderr(
      `hurah discard: ${listener}: a runner's pass is running (${error.message}); nothing discarded, ` +
        "exit 75, try again later\n",
    );
    return BUSY_EXIT_CODE;
  }
  if (values.json) io.stdout(JSON.stringify(report) + "\n");
  else for (const sequence of report.discarded) io.stdout(`${report.listener} #${sequence} inbox/ -> error/\n`);
  for (const refusal of report.refused) {
    io.stderr(`hurah discard: ${report.listener} #${refusal.sequence} not discarded: ${refusal.reason}\n`);
  }
  if (report.refused.length > 0 && report.discarded.length > 0) {
    io.stderr(
      `hurah discard: ${report.discarded.length} of ${report.discarded.length + report.refused.length} ` +
        `discarded; the others are left where they are\n`,
    );
  }
  return report.refused.length > 0 ? 1 : 0;
}

/** The exit code when an ordered runner's pass outlasted `--wait`: EX_TEMPFAIL, as `hurah run --no-wait`. */
const BUSY_EXIT_CODE = 75;

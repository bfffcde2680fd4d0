import { parseOptions } from "./_options.ts";
import type { CliIo } from "./_io.ts";
import { BROKER_OPTIONS, brokerHelp, openBackend, resolvePlace } from "./_backend.ts";
import { describePause, onlyListener, userOf } from "./_control.ts";

/** Help text of `hurah pause`. */
export const PAUSE_HELP = `Usage: hurah pause <listener> [options]

Pauses a listener: writes its pause marker (paused.json beside inbox/, with
who, on which host, since when and why). No hurah runner takes a new task of
it meanwhile: hurah run takes none, and hurah watch (in every process, ordered
or parallel) lets the tasks it is running finish and starts no other; both
log the pause. Dispatches go on into the inbox. hurah status shows it. Undo
with hurah resume. Pausing a paused listener replaces its reason.

A PHP runner does not know the marker: it goes on taking the tasks.

Arguments:
  listener       <event_type>/<handler_name>, as user/signup/mailer, or
                 <handler_name> for a listener of the root type

Options:
  --reason TEXT  why, for hurah status and the logs
  --root DIR     the event root (default: $HURAH_ROOT)
${brokerHelp(17)}  --json         print the report as JSON
  -h, --help     show this help

Exit codes: 0 paused, 1 no such listener (or not supported by the
broker), 2 usage error.
`;

/** `hurah pause`: returns the exit code. */
export async function pauseCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    root: { type: "string" },
    ...BROKER_OPTIONS,
    reason: { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    io.stdout(PAUSE_HELP);
    return 0;
  }
  const listener = onlyListener(positionals);
  await using backend = await openBackend(resolvePlace(undefined, values, io));
  const report = await backend.operations.pause({ listener, reason: values.reason ?? null, by: userOf(io) });
  if (values.json) io.stdout(JSON.stringify(report) + "\n");
  else {
    const again = report.previous === null ? "" : ` (it was paused already ${describePause(report.previous)})`;
    io.stdout(`${report.listener} paused ${describePause(report.paused)}${again}\n`);
  }
  return 0;
}

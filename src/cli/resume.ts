import { parseOptions } from "./_options.ts";
import type { CliIo } from "./_io.ts";
import { BROKER_OPTIONS, brokerHelp, openBackend, resolvePlace } from "./_backend.ts";
import { describePause, onlyListener } from "./_control.ts";

/** Help text of `hurah resume`. */
export const RESUME_HELP = `Usage: hurah resume <listener> [options]

Resumes a listener paused with hurah pause: removes its pause marker.
hurah watch takes its tasks again within a second, and logs it; hurah run
takes them at its next run. Resuming a listener that is not paused changes
nothing (said on stderr).

Arguments:
  listener    <event_type>/<handler_name>, as user/signup/mailer, or
              <handler_name> for a listener of the root type

Options:
  --root DIR  the event root (default: $HURAH_ROOT)
${brokerHelp(14)}  --json      print the report as JSON
  -h, --help  show this help

Exit codes: 0 resumed or not paused, 1 no such listener (or not supported
by the broker), 2 usage error.
`;

/** `hurah resume`: returns the exit code. */
export async function resumeCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    root: { type: "string" },
    ...BROKER_OPTIONS,
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    io.stdout(RESUME_HELP);
    return 0;
  }
  const listener = onlyListener(positionals);
  await using backend = await openBackend(resolvePlace(undefined, values, io));
  const report = await backend.operations.resume({ listener });
  if (values.json) io.stdout(JSON.stringify(report) + "\n");
  else if (report.resumed !== null) {
    io.stdout(`${report.listener} resumed (it was paused ${describePause(report.resumed)})\n`);
  }
  if (report.resumed === null) io.stderr(`hurah resume: ${report.listener} is not paused; nothing changed\n`);
  return 0;
}

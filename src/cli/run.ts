import { parseArgs } from "node:util";
import { loadHandler } from "../worker/load_handler.ts";
import { type RunEvent, runOnce } from "../worker/run_once.ts";
import { type CliIo, UsageError } from "./_io.ts";
import { resolveRoot } from "./_root.ts";

/** Help text of `hurah run`. */
export const RUN_HELP = `Usage: hurah run <handler_name> <event_type> <handler> [event_root] [options]

Registers the listener <handler_name> on <event_type> and handles every task
in its inbox once, in sequence order (PHP's worker:runner). A second runner of
the same listener waits for the first to finish, then makes its own pass.

Arguments:
  handler_name   the listener's name; its directory is <name>_listener
  event_type     the event type it listens to, as product or product/created;
                 '' for the root type
  handler        a module path or URL whose default export is a Handler
                 subclass, a handler object or a function
  event_root     the event root (default: --root, then $HURAH_ROOT)

Options:
  --root DIR     the event root
  --no-fsync     do not flush rewritten task files to disk
  --json         print the pass report as JSON on stdout
  -h, --help     show this help

Task results: SUCCESS -> archive/, INVALID -> error/, RETRY -> stays until
maxAttempts() retries, then error/, FAILURE -> stays first in the inbox and
the pass stops. A thrown error or any other return value -> error/, with the
reason recorded in the task file.

Exit codes: 0 pass completed, 1 a task returned FAILURE (or an unexpected
error), 2 usage error, invalid name or handler that cannot be loaded.
`;

/** `hurah run`: returns the exit code. */
export async function runCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      root: { type: "string" },
      "no-fsync": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout(RUN_HELP);
    return 0;
  }
  if (positionals.length < 3) {
    throw new UsageError(
      `expected <handler_name> <event_type> <handler> [event_root], found ${positionals.length} arguments`,
    );
  }
  if (positionals.length > 4) throw new UsageError(`too many arguments: ${positionals.slice(4).join(" ")}`);
  const [name, eventType, specifier, rootArg] = positionals;
  const root = resolveRoot(rootArg, values.root, io);
  const handler = await loadHandler(specifier);
  const report = await runOnce(root, {
    name,
    eventType,
    handler,
    signal: io.signal,
    durable: !values["no-fsync"],
    onEvent: (event) => io.stderr(formatEvent(event)),
  });
  if (values.json) {
    io.stdout(JSON.stringify(report) + "\n");
  } else {
    io.stdout(
      `${name}: ${report.handled} handled, ${report.archived} archived, ${report.errored} to error, ` +
        `${report.retried} to retry, ${report.quarantined} quarantined` +
        (report.failedAt !== undefined ? `; stopped at task ${report.failedAt} (FAILURE)` : "") +
        (report.waitingFor !== undefined ? `; waiting for ${report.waitingFor} to be complete` : "") +
        (report.aborted ? "; interrupted" : "") + "\n",
    );
  }
  return report.failedAt !== undefined ? 1 : 0;
}

/** One log line for a runner event. */
export function formatEvent(event: RunEvent): string {
  switch (event.type) {
    case "task":
      return `${event.listener} #${event.sequence} ${event.result} -> ${event.fate} (${
        event.durationMs.toFixed(1)
      } ms)` +
        (event.message ? `: ${event.message}` : "") + "\n";
    case "quarantine":
      return `${event.listener} ${event.file} QUARANTINED -> error: ${event.reason}\n`;
    case "waiting":
      return `${event.listener} ${event.file} INCOMPLETE, will retry: ${event.reason}\n`;
  }
}

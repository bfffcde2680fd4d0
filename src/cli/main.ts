import { toError } from "../errors.ts";
import { reportError } from "./_errors.ts";
import { DISPATCH_HELP, dispatchCommand } from "./dispatch.ts";
import { INSPECT_HELP, inspectCommand } from "./inspect.ts";
import { PRUNE_HELP, pruneCommand } from "./prune.ts";
import { REQUEUE_HELP, requeueCommand } from "./requeue.ts";
import { STATUS_HELP, statusCommand } from "./status.ts";
import type { CliIo } from "./_io.ts";
import { RUN_HELP, runCommand } from "./run.ts";
import { WATCH_HELP, watchCommand } from "./watch.ts";
import { SYSTEMD_HELP, systemdCommand } from "./systemd.ts";
import denoJson from "../../deno.json" with { type: "json" };

const COMMANDS: Record<string, { run: (args: string[], io: CliIo) => Promise<number>; help: string }> = {
  dispatch: { run: dispatchCommand, help: DISPATCH_HELP },
  run: { run: runCommand, help: RUN_HELP },
  watch: { run: watchCommand, help: WATCH_HELP },
  systemd: { run: systemdCommand, help: SYSTEMD_HELP },
  status: { run: statusCommand, help: STATUS_HELP },
  inspect: { run: inspectCommand, help: INSPECT_HELP },
  requeue: { run: requeueCommand, help: REQUEUE_HELP },
  prune: { run: pruneCommand, help: PRUNE_HELP },
};

/** Help text of `hurah`. */
export const MAIN_HELP = `hurah ${denoJson.version}: file-based event and task delegation

Usage: hurah <command> [arguments] [options]

Commands:
  dispatch <event_type> [payload]                       deliver an event
  dispatch --batch FILE                                 deliver many events, one JSON object a line
  run <handler_name> <event_type> <handler> [root]      handle a listener's inbox once
  watch <handler_name> <event_type> <handler> [root]    handle tasks as they arrive (long-running)
  systemd <watch arguments>                             print a systemd unit for that watch
  status [listener...]                                  pending, in flight, errors, state per listener
  inspect <listener> <sequence>                         show a task: where it is, fields, history
  requeue <listener> <sequence>...|--all                put tasks from error/ back into the inbox
  prune --older-than DURATION [--archive] [--error]     remove old files from archive/ or error/

Run 'hurah <command> --help' for a command's arguments and options.
The event root comes from the argument, --root, or $HURAH_ROOT.
`;

/** Runs the `hurah` command line and returns its exit code. */
export async function main(args: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    if (command === "help" && rest[0] && COMMANDS[rest[0]]) io.stdout(COMMANDS[rest[0]].help);
    else io.stdout(MAIN_HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === "--version" || command === "-V") {
    io.stdout(`hurah ${denoJson.version}\n`);
    return 0;
  }
  const entry = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (entry === undefined) {
    io.stderr(`hurah: unknown command ${JSON.stringify(command)}; run 'hurah --help' for the list\n`);
    return 2;
  }
  try {
    return await entry.run(rest, io);
  } catch (thrown) {
    return reportError(command, toError(thrown), io);
  }
}

import { toError } from "../errors.ts";
import { reportError } from "./_errors.ts";
import { mainUsage } from "./_handler_help.ts";
import { suggest } from "./_options.ts";
import { DISPATCH_HELP, dispatchCommand } from "./dispatch.ts";
import { INSPECT_HELP, inspectCommand } from "./inspect.ts";
import { MIGRATE_HELP, migrateCommand } from "./migrate.ts";
import { PRUNE_HELP, pruneCommand } from "./prune.ts";
import { PAUSE_HELP, pauseCommand } from "./pause.ts";
import { RESUME_HELP, resumeCommand } from "./resume.ts";
import { DISCARD_HELP, discardCommand } from "./discard.ts";
import { REQUEUE_HELP, requeueCommand } from "./requeue.ts";
import { STATUS_HELP, statusCommand } from "./status.ts";
import type { CliIo } from "./_io.ts";
import { RUN_HELP, runCommand } from "./run.ts";
import { SERVE_HELP, serveCommand } from "./serve.ts";
import { WATCH_HELP, watchCommand } from "./watch.ts";
import { SYSTEMD_HELP, systemdCommand } from "./systemd.ts";
import denoJson from "../../deno.json" with { type: "json" };

/** One command of `hurah`: its name, how it runs, its help, and its lines in the main help. */
interface Command {
  /** The word after `hurah`. */
  readonly name: string;
  /** Runs the command with the arguments after its name; returns the exit code. */
  readonly run: (args: string[], io: CliIo) => Promise<number>;
  /** Its `--help` text. */
  readonly help: string;
  /** Its lines in `hurah --help`: the arguments, and what the command does with them. */
  readonly synopses: readonly (readonly [args: string, summary: string])[];
}

/** The commands, in the order `hurah --help` lists them. */
const COMMANDS: readonly Command[] = [
  {
    name: "dispatch",
    run: dispatchCommand,
    help: DISPATCH_HELP,
    synopses: [
      ["<event_type> [payload]", "deliver an event"],
      ["--batch FILE", "deliver many events, one JSON object a line"],
    ],
  },
  {
    name: "run",
    run: runCommand,
    help: RUN_HELP,
    synopses: [[mainUsage(), "handle a listener's inbox once"]],
  },
  {
    name: "watch",
    run: watchCommand,
    help: WATCH_HELP,
    synopses: [[mainUsage(), "handle tasks as they arrive (long-running)"]],
  },
  {
    name: "systemd",
    run: systemdCommand,
    help: SYSTEMD_HELP,
    synopses: [
      ["<watch arguments>", "print a systemd unit for that watch"],
      ["--serve <serve options>", "print a systemd unit for that serve"],
    ],
  },
  {
    name: "status",
    run: statusCommand,
    help: STATUS_HELP,
    synopses: [["[listener...]", "pending, in flight, errors, state per listener"]],
  },
  {
    name: "inspect",
    run: inspectCommand,
    help: INSPECT_HELP,
    synopses: [["<listener> <sequence>", "show a task: where it is, fields, history"]],
  },
  {
    name: "requeue",
    run: requeueCommand,
    help: REQUEUE_HELP,
    synopses: [["<listener> <sequence>...|--all", "put tasks from error/ back into the inbox"]],
  },
  {
    name: "pause",
    run: pauseCommand,
    help: PAUSE_HELP,
    synopses: [["<listener> [--reason TEXT]", "take no new task of a listener until resumed"]],
  },
  {
    name: "resume",
    run: resumeCommand,
    help: RESUME_HELP,
    synopses: [["<listener>", "take a paused listener's tasks again"]],
  },
  {
    name: "discard",
    run: discardCommand,
    help: DISCARD_HELP,
    synopses: [["<listener> <sequence>... [--reason TEXT]", "move pending tasks to error/ (requeue undoes)"]],
  },
  {
    name: "prune",
    run: pruneCommand,
    help: PRUNE_HELP,
    synopses: [["--older-than DURATION [--archive] [--error]", "remove old files from archive/ or error/"]],
  },
  {
    name: "migrate",
    run: migrateCommand,
    help: MIGRATE_HELP,
    synopses: [["--root DIR --broker URL", "move a root's pending tasks to a NATS broker"]],
  },
  {
    name: "serve",
    run: serveCommand,
    help: SERVE_HELP,
    synopses: [["[--listen 127.0.0.1:8377]", "web dashboard and Prometheus /metrics (long-running)"]],
  },
];

/** The command named `name`, if there is one. */
function commandNamed(name: string | undefined): Command | undefined {
  return COMMANDS.find((command) => command.name === name);
}

/** The `Commands:` lines of the main help: each command's synopses, their summaries aligned. */
function commandLines(): string {
  const lines = COMMANDS.flatMap((command) =>
    command.synopses.map(([args, summary]) => [`${command.name} ${args}`, summary])
  );
  const width = Math.max(...lines.map(([usage]) => usage.length)) + 4;
  return lines.map(([usage, summary]) => `  ${usage.padEnd(width)}${summary}\n`).join("");
}

/** Help text of `hurah`. */
export const MAIN_HELP = `hurah ${denoJson.version}: file-based event and task delegation

Usage: hurah <command> [arguments] [options]

Commands:
${commandLines()}
Run 'hurah <command> --help' for a command's arguments and options.
The event root comes from the argument, --root, or $HURAH_ROOT.
`;

/** Says that there is no command `name`, with the nearest one when it looks like a typo; exit code 2. */
function unknownCommand(name: string, io: CliIo): number {
  const near = suggest(name, COMMANDS.map((command) => command.name));
  const hint = near === undefined ? "" : ` did you mean '${near}'?`;
  io.stderr(`hurah: unknown command ${JSON.stringify(name)};${hint} run 'hurah --help' for the list of commands\n`);
  return 2;
}

/** Runs the `hurah` command line and returns its exit code. */
export async function main(args: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args;
  if (command === "help" && rest.length > 0) {
    const entry = commandNamed(rest[0]);
    if (entry === undefined) return unknownCommand(rest[0], io);
    io.stdout(entry.help);
    return 0;
  }
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    io.stdout(MAIN_HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === "--version" || command === "-V") {
    io.stdout(`hurah ${denoJson.version}\n`);
    return 0;
  }
  const entry = commandNamed(command);
  if (entry === undefined) return unknownCommand(command, io);
  try {
    return await entry.run(rest, io);
  } catch (thrown) {
    return reportError(command, toError(thrown), io);
  }
}

import {
  HandlerLoadError,
  InvalidNameError,
  ListenerNotFoundError,
  LockTimeoutError,
  PayloadError,
  SequenceLimitError,
  TaskMoveError,
  toError,
  UnsafePathError,
} from "../errors.ts";
import { DISPATCH_HELP, dispatchCommand } from "./dispatch.ts";
import { INSPECT_HELP, inspectCommand } from "./inspect.ts";
import { PRUNE_HELP, pruneCommand } from "./prune.ts";
import { REQUEUE_HELP, requeueCommand } from "./requeue.ts";
import { STATUS_HELP, statusCommand } from "./status.ts";
import { type CliIo, InterruptError, OutputClosedError, UsageError } from "./_io.ts";
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

/** Exit code 141: what a shell reports for a command killed by SIGPIPE. */
const OUTPUT_CLOSED = 141;

/**
 * Prints a command's error on stderr and returns the exit code: 2 for bad
 * input (one line, then where to find help), 1 for the environment (a file
 * system error, a full disk, a missing listener: one line; the stack too
 * with HURAH_DEBUG=1), 141 and nothing for a closed standard output, and for
 * anything else, a bug, the stack.
 */
export function reportError(command: string, error: Error, io: CliIo): number {
  const debug = io.env("HURAH_DEBUG") === "1" && error.stack ? `\n${error.stack}` : "";
  if (error instanceof OutputClosedError) return OUTPUT_CLOSED;
  const waitCode = waitExitCode(error, command, io);
  if (waitCode !== undefined) return waitCode;
  if (error instanceof SequenceLimitError || error instanceof TaskMoveError) {
    io.stderr(`hurah ${command}: ${error.message}${debug}\n`); // one line: the message says what happens next
    return 1;
  }
  if (error instanceof ListenerNotFoundError) {
    io.stderr(`hurah ${command}: ${error.message}; run 'hurah status' to list the listeners${debug}\n`);
    return 1;
  }
  if (isUsage(error)) {
    io.stderr(`hurah ${command}: ${error.message}\nRun 'hurah ${command} --help' for usage.${debug}\n`);
    return 2;
  }
  if (isEnvironment(error)) {
    io.stderr(`hurah ${command}: ${oneLine(error.message)}${debug}\n`);
    return 1;
  }
  io.stderr(`hurah ${command}: ${error.stack ?? error.message}\n`);
  return 1;
}

/**
 * An error of the system around hurah, not of hurah: Deno's file-system and
 * I/O errors (NotFound, PermissionDenied, AlreadyExists, NotADirectory,
 * ...), and errors carrying an operating system code (ENOSPC, EIO, EROFS,
 * EMFILE: Deno throws a plain Error with "(os error N)" for some of them).
 */
function isEnvironment(error: Error): boolean {
  if (Object.values(Deno.errors).some((kind) => error instanceof kind)) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return true;
  return /\(os error \d+\)/.test(error.message);
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, "; ");
}

/**
 * The exit code of a wait that ended without its lock, after one line on
 * stderr: 128 + the signal's number when a signal ended it (the command
 * stopped before writing anything under that lock), 1 when a lock stayed
 * held (a command that means "busy", as `run --no-wait`, answers before
 * this). `undefined` for other errors.
 */
function waitExitCode(error: Error, command: string, io: CliIo): number | undefined {
  if (error instanceof InterruptError) {
    io.stderr(`hurah ${command}: ${error.message}; stopped\n`);
    return error.exitCode;
  }
  if (error instanceof LockTimeoutError) {
    const holder = error.holderPid === undefined ? "the holder" : `pid ${error.holderPid}`;
    io.stderr(
      `hurah ${command}: ${error.message}; nothing was written under it. ` +
        `If ${holder} is stopped or frozen, resume it (kill -CONT) or end it, then try again\n`,
    );
    return 1;
  }
  return undefined;
}

function isUsage(error: Error): boolean {
  return error instanceof UsageError || error instanceof InvalidNameError || error instanceof PayloadError ||
    error instanceof HandlerLoadError || error instanceof UnsafePathError ||
    (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") === true;
}

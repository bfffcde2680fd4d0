import {
  HandlerLoadError,
  InvalidNameError,
  ListenerNotFoundError,
  LockTimeoutError,
  NotSupportedError,
  PayloadError,
  SequenceLimitError,
  TaskMoveError,
  UnsafePathError,
} from "../errors.ts";
import { type CliIo, InterruptError, OutputClosedError, UsageError } from "./_io.ts";

/** One row of {@linkcode ERROR_TABLE}: which errors, their exit code, and what stderr gets. */
interface ErrorRule<E extends Error = Error> {
  /** Which errors the row is for. */
  readonly when: (error: Error) => error is E;
  /** The exit code. */
  readonly exitCode: number | ((error: E) => number);
  /** The text after `hurah <command>: `, or `null` for nothing at all. */
  readonly text: ((error: E, command: string) => string) | null;
  /** Whether `HURAH_DEBUG=1` adds the stack below the text. */
  readonly debugStack: boolean;
}

function rule<E extends Error>(row: ErrorRule<E>): ErrorRule {
  return row as unknown as ErrorRule;
}

/** A predicate for errors of any of these classes. */
// deno-lint-ignore no-explicit-any
function instanceOf<E extends Error>(...classes: (abstract new (...args: any[]) => E)[]): (error: Error) => error is E {
  return (error): error is E => classes.some((kind) => error instanceof kind);
}

/** Exit code 141: what a shell reports for a command killed by SIGPIPE. */
const OUTPUT_CLOSED = 141;

/**
 * How each error ends a command, first matching row wins: 2 for bad input
 * (one line, then where to find help), 1 for the environment (a file system
 * error, a full disk, a link in the root, a missing listener: one line; the
 * stack too with HURAH_DEBUG=1), 141 and nothing for a closed standard
 * output, 128 + the signal's number for a wait a signal ended, and for
 * anything else, a bug, 1 and the stack.
 */
const ERROR_TABLE: readonly ErrorRule[] = [
  rule({ when: instanceOf(OutputClosedError), exitCode: OUTPUT_CLOSED, text: null, debugStack: false }),
  // A wait that a signal ended: the command stopped before writing anything under that lock.
  rule<InterruptError>({
    when: instanceOf(InterruptError),
    exitCode: (error) => error.exitCode,
    text: (error) => `${error.message}; stopped`,
    debugStack: false,
  }),
  // A lock that stayed held (a command that means "busy", as `run --no-wait`, answers before this).
  rule<LockTimeoutError>({
    when: instanceOf(LockTimeoutError),
    exitCode: 1,
    text: (error) =>
      `${error.message}; nothing was written under it. ` +
      `If ${error.holderPid === undefined ? "the holder" : `pid ${error.holderPid}`} is stopped or frozen, ` +
      "resume it (kill -CONT) or end it, then try again",
    debugStack: false,
  }),
  // The message says what happens next (or what to use instead).
  rule({
    when: instanceOf<SequenceLimitError | TaskMoveError | NotSupportedError>(
      SequenceLimitError,
      TaskMoveError,
      NotSupportedError,
    ),
    exitCode: 1,
    text: messageOf,
    debugStack: true,
  }),
  rule({
    when: instanceOf(ListenerNotFoundError),
    exitCode: 1,
    text: (error) => `${error.message}; run 'hurah status' to list the listeners`,
    debugStack: true,
  }),
  // A link or a file found inside the root: the root's state, not the command line, is wrong.
  rule({
    when: (error): error is UnsafePathError => error instanceof UnsafePathError && !error.atRoot,
    exitCode: 1,
    text: messageOf,
    debugStack: true,
  }),
  // Bad input whose message says all there is to fix (a handler that does not load, a missing root): no hint.
  rule({
    when: (error): error is Error =>
      error instanceof HandlerLoadError || (error instanceof UnsafePathError && error.atRoot) ||
      (error instanceof UsageError && !error.hint),
    exitCode: 2,
    text: messageOf,
    debugStack: true,
  }),
  // A wrong argument or option: where to read how the command is used.
  rule({
    when: isUsage,
    exitCode: 2,
    text: (error, command) => `${error.message}\nRun 'hurah ${command} --help' for usage.`,
    debugStack: true,
  }),
  rule({ when: isEnvironment, exitCode: 1, text: (error) => oneLine(error.message), debugStack: true }),
];

/** The row for everything else: a bug, reported with its stack. */
const BUG: ErrorRule = { when: (_): _ is Error => true, exitCode: 1, text: stackOf, debugStack: false };

/**
 * Prints a command's error on stderr as {@linkcode ERROR_TABLE} says and
 * returns the exit code.
 */
export function reportError(command: string, error: Error, io: CliIo): number {
  const row = ERROR_TABLE.find((each) => each.when(error)) ?? BUG;
  if (row.text !== null) {
    const debug = row.debugStack && io.env("HURAH_DEBUG") === "1" && error.stack ? `\n${error.stack}` : "";
    io.stderr(`hurah ${command}: ${row.text(error, command)}${debug}\n`);
  }
  return typeof row.exitCode === "number" ? row.exitCode : row.exitCode(error);
}

function messageOf(error: Error): string {
  return error.message;
}

function stackOf(error: Error): string {
  return error.stack ?? error.message;
}

/** A wrong argument or option: exit 2 and where to find help. */
function isUsage(error: Error): error is Error {
  return error instanceof UsageError || error instanceof InvalidNameError || error instanceof PayloadError ||
    (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") === true;
}

/**
 * An error of the system around hurah, not of hurah: Deno's file-system and
 * I/O errors (NotFound, PermissionDenied, AlreadyExists, NotADirectory,
 * ...), and errors carrying an operating system code (ENOSPC, EIO, EROFS,
 * EMFILE: Deno throws a plain Error with "(os error N)" for some of them).
 */
function isEnvironment(error: Error): error is Error {
  if (Object.values(Deno.errors).some((kind) => error instanceof kind)) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return true;
  return /\(os error \d+\)/.test(error.message);
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, "; ");
}

/**
 * `reportError()`'s table: each kind of error, its exit code, and whether
 * stderr gets one line, the usage hint, the stack, or nothing.
 *
 * @module
 */
import { equal, match } from "node:assert/strict";
import { reportError } from "../../src/cli/_errors.ts";
import { type CliIo, InterruptError, OutputClosedError, UsageError } from "../../src/cli/_io.ts";
import {
  HandlerLoadError,
  InvalidNameError,
  ListenerNotFoundError,
  LockTimeoutError,
  PayloadError,
  SequenceLimitError,
  TaskMoveError,
  UnsafePathError,
} from "../../src/errors.ts";

function report(error: Error, env: Record<string, string> = {}): { code: number; stderr: string } {
  let stderr = "";
  const io: CliIo = {
    stdout: () => {},
    stderr: (text) => stderr += text,
    readStdin: () => Promise.resolve(""),
    env: (name) => env[name],
    signal: new AbortController().signal,
    color: false,
    stderrIsTerminal: false,
    stdoutIsTerminal: false,
  };
  return { code: reportError("x", error, io), stderr };
}

const HINT = "\nRun 'hurah x --help' for usage.\n";
const parseArgsError = Object.assign(new TypeError("Unknown option '--nope'"), {
  code: "ERR_PARSE_ARGS_UNKNOWN_OPTION",
});

Deno.test("reportError() gives each error its exit code and its text", async (t) => {
  const cases: { error: Error; code: number; stderr: RegExp }[] = [
    { error: new OutputClosedError(), code: 141, stderr: /^$/ },
    { error: new InterruptError("SIGTERM"), code: 143, stderr: /^hurah x: interrupted by SIGTERM; stopped\n$/ },
    { error: new InterruptError("SIGINT"), code: 130, stderr: /^hurah x: interrupted by SIGINT; stopped\n$/ },
    {
      error: new LockTimeoutError("/r/a_listener/runner.lock", 1000, 42),
      code: 1,
      stderr: /^hurah x: .*; nothing was written under it\. If pid 42 is stopped or frozen, resume it .*try again\n$/,
    },
    {
      error: new SequenceLimitError("a", "product", "/r/product/a_listener", 2 ** 53),
      code: 1,
      stderr: /^hurah x: [^\n]+\n$/,
    },
    {
      error: new TaskMoveError("product/a", 7, "SUCCESS", "archive", new Error("EIO")),
      code: 1,
      stderr: /^hurah x: [^\n]+\n$/,
    },
    {
      error: new ListenerNotFoundError("product/a", "/r/product/a_listener"),
      code: 1,
      stderr: /^hurah x: [^\n]+; run 'hurah status' to list the listeners\n$/,
    },
    {
      error: new UnsafePathError("/r/product", "is a symbolic link; hurah does not follow links in the root"),
      code: 1,
      stderr: /^hurah x: Refusing \/r\/product: is a symbolic link; hurah does not follow links in the root\n$/,
    },
    {
      error: new UnsafePathError("/r", "the event root is not a directory", { atRoot: true }),
      code: 2,
      // The message says what to fix: no "Run 'hurah x --help'" hint, which would not help.
      stderr: /^hurah x: Refusing \/r: the event root is not a directory\n$/,
    },
    { error: new UsageError("missing <event_type>"), code: 2, stderr: /^hurah x: missing <event_type>\nRun / },
    { error: new InvalidNameError("event type", "a//b", "empty segment"), code: 2, stderr: /\nRun 'hurah x --help'/ },
    { error: new PayloadError("payload", "too deep"), code: 2, stderr: /\nRun 'hurah x --help'/ },
    { error: new HandlerLoadError("./h.ts", "module not found"), code: 2, stderr: /^hurah x: Cannot load [^\n]*\n$/ },
    { error: parseArgsError, code: 2, stderr: /^hurah x: Unknown option '--nope'\nRun / },
    { error: new Deno.errors.PermissionDenied("no\nway"), code: 1, stderr: /^hurah x: no; way\n$/ },
    { error: new Error("No space left on device (os error 28)"), code: 1, stderr: /^hurah x: No space left[^\n]*\n$/ },
    { error: new Error("a bug"), code: 1, stderr: /^hurah x: Error: a bug\n\s+at / },
  ];
  for (const { error, code, stderr } of cases) {
    await t.step(`${error.name}: ${error.message.split("\n")[0]}`, () => {
      const result = report(error);
      equal(result.code, code, result.stderr);
      match(result.stderr, stderr);
      // The usage hint goes with a wrong argument or option, never with what it would not help.
      const usage = code === 2 && !(error instanceof HandlerLoadError) && !(error instanceof UnsafePathError);
      equal(result.stderr.endsWith(HINT), usage, `usage hint only for a wrong argument:\n${result.stderr}`);
    });
  }
});

Deno.test("reportError() adds the stack with HURAH_DEBUG=1, to one-line errors but not to waits", async (t) => {
  await t.step("a link in the root", () => {
    const error = new UnsafePathError("/r/product", "is a symbolic link; hurah does not follow links in the root");
    match(report(error, { HURAH_DEBUG: "1" }).stderr, /^hurah x: Refusing [^\n]*\n.*UnsafePathError[^\n]*\n\s+at /s);
  });
  await t.step("a usage error: the hint, then the stack", () => {
    match(
      report(new UsageError("bad"), { HURAH_DEBUG: "1" }).stderr,
      /^hurah x: bad\nRun [^\n]*\nUsageError: bad\n\s+at /,
    );
  });
  await t.step("a signal", () => {
    equal(
      report(new InterruptError("SIGINT"), { HURAH_DEBUG: "1" }).stderr,
      "hurah x: interrupted by SIGINT; stopped\n",
    );
  });
});

/** What a command may touch of the outside world; tests pass their own. */
export interface CliIo {
  /** Writes to standard output. */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /** Reads all of standard input. */
  readStdin(): Promise<string>;
  /** Environment variables. */
  env(name: string): string | undefined;
  /** Aborted on SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** Whether stderr log lines may be colored (a terminal, and NO_COLOR unset). */
  color: boolean;
  /** Whether standard error is a terminal (`hurah run` shows progress there then). */
  stderrIsTerminal: boolean;
  /** Whether standard output is a terminal (`hurah status` prints a table then, JSON otherwise). */
  stdoutIsTerminal: boolean;
}

/** A command-line mistake: exit code 2, one line saying what to fix. */
export class UsageError extends Error {
  /** Whether "Run 'hurah <command> --help' for usage." helps here (not when the message says all: a handler that does not load). */
  readonly hint: boolean;

  constructor(message: string, options: { hint?: boolean } = {}) {
    super(message);
    this.name = "UsageError";
    this.hint = options.hint ?? true;
  }
}

/**
 * Standard output was closed by its reader (`hurah inspect ... | head`): the
 * command stops, quietly, with exit code 141 as if killed by SIGPIPE.
 */
export class OutputClosedError extends Error {
  constructor(options?: ErrorOptions) {
    super("standard output was closed by its reader", options);
    this.name = "OutputClosedError";
  }
}

/** The signals `cli.ts` answers, and their numbers. */
const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

/**
 * The abort reason of `CliIo.signal` on SIGINT or SIGTERM. A wait that the
 * signal ends rejects with it, and `main()` exits with `exitCode`, 128 plus
 * the signal's number (130, 143), as a shell reports a process the signal
 * ended.
 */
export class InterruptError extends Error {
  /** The signal received. */
  readonly signal: keyof typeof SIGNAL_NUMBERS;
  /** 128 plus the signal's number. */
  readonly exitCode: number;

  constructor(signal: keyof typeof SIGNAL_NUMBERS) {
    super(`interrupted by ${signal}`);
    this.name = "InterruptError";
    this.signal = signal;
    this.exitCode = 128 + SIGNAL_NUMBERS[signal];
  }
}

/** The real process's IO. */
export function processIo(signal: AbortSignal): CliIo {
  const encoder = new TextEncoder();
  return {
    stdout: (text) => {
      try {
        writeAll(Deno.stdout, encoder.encode(text));
      } catch (error) {
        if (error instanceof Deno.errors.BrokenPipe) throw new OutputClosedError({ cause: error });
        throw error;
      }
    },
    stderr: (text) => {
      try {
        writeAll(Deno.stderr, encoder.encode(text));
      } catch (error) {
        if (!(error instanceof Deno.errors.BrokenPipe)) throw error; // nobody reads it any more: nothing to say
      }
    },
    readStdin: () => new Response(Deno.stdin.readable).text(),
    env: (name) => Deno.env.get(name),
    signal,
    color: useColor(Deno.env.get("NO_COLOR"), Deno.stderr.isTerminal()),
    stdoutIsTerminal: Deno.stdout.isTerminal(),
    stderrIsTerminal: Deno.stderr.isTerminal(),
  };
}

function writeAll(target: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += target.writeSync(bytes.subarray(written));
}

/** Whether to color: a terminal, and `NO_COLOR` unset or empty. */
export function useColor(noColor: string | undefined, isTerminal: boolean): boolean {
  return isTerminal && (noColor === undefined || noColor === "");
}

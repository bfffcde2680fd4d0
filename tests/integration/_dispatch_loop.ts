/**
 * A dispatcher process for the multi-process tests:
 *
 * ```sh
 * deno run -A tests/integration/_dispatch_loop.ts <root> <event_type> <count> [--no-fsync] [--writer ID] [--interval-ms N] [--batch N | --concurrent N] [--stdin]
 * ```
 *
 * One {@linkcode Dispatcher} dispatches `<count>` events with the payload
 * `{"writer": ID, "i": i}` (`i` counts from 0; ID defaults to the pid). After
 * each `dispatch()` returns it prints one line per delivery,
 * `<listener> <sequence>`, with a synchronous write, so a test that SIGKILLs
 * it knows exactly which deliveries were reported. `--interval-ms` sleeps
 * between events. `--batch N` dispatches N events at a time with
 * `dispatchMany()` and prints their lines once it returns, event by event.
 * `--concurrent N` makes N `dispatch()` calls at once (the dispatcher serves
 * those waiting for a listener together) and prints each call's lines once
 * it and the calls before it have returned.
 * With `--stdin` it then reads lines `<count> [event_type]`
 * from standard input and dispatches that many more events for each, until
 * standard input ends: a warm dispatcher a test can fire at a chosen moment.
 *
 * Imported (not run), it gives tests {@linkcode spawnDispatchLoop}.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { Dispatcher } from "../../mod.ts";

/** This script's path. */
export const DISPATCH_LOOP = fileURLToPath(import.meta.url);

/** One reported delivery. */
export interface Reported {
  listener: string;
  sequence: number;
}

/** Options of {@linkcode spawnDispatchLoop}. */
export interface DispatchLoopOptions {
  /** Pass `--no-fsync`. @default {false} */
  noFsync?: boolean;
  /** The payload's writer id. @default {the child's pid} */
  writer?: number;
  /** Sleep between events. @default {0} */
  intervalMs?: number;
  /** Pass `--batch N`: `dispatchMany()` of N events at a time. @default {1: `dispatch()` per event} */
  batch?: number;
  /** Pass `--concurrent N`: N `dispatch()` calls at once. @default {1} */
  concurrent?: number;
  /** Pass `--stdin`: keep running, dispatching on {@linkcode DispatchLoop.send}. @default {false} */
  stdin?: boolean;
}

/** A running dispatch loop: its reports as they come, and a way to end it for sure. */
export interface DispatchLoop extends AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** Deliveries reported so far (complete lines only). */
  readonly reported: Reported[];
  /** Asks a `stdin` loop to dispatch `count` more events (of `eventType`, or the one it was started with). */
  send(count: number, eventType?: string): Promise<void>;
  /** Ends a `stdin` loop's input: it exits once it has dispatched what it was sent. */
  close(): Promise<void>;
  /** Resolves once `reported.length >= n`, or when stdout ends (check the length). */
  waitForReports(n: number): Promise<void>;
  /** Resolves when stdout has ended: every report is in `reported`. */
  readonly drained: Promise<void>;
  /** Everything the child wrote to stderr, once it has exited. */
  readonly stderr: Promise<string>;
  /** Resolves when the child has exited by itself and all its output is read. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** Sends SIGKILL if it is still running, then waits as `exited` does. */
  kill(): Promise<Deno.CommandStatus>;
}

/** `promise`, or a rejection after `ms` milliseconds saying what took too long: a test hangs on no process. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Spawns `_dispatch_loop.ts` with stdout and stderr piped and parsed. */
export function spawnDispatchLoop(
  root: string,
  eventType: string,
  count: number,
  options: DispatchLoopOptions = {},
): DispatchLoop {
  const args = ["run", "-A", "--quiet", DISPATCH_LOOP, root, eventType, String(count)];
  if (options.noFsync) args.push("--no-fsync");
  if (options.writer !== undefined) args.push("--writer", String(options.writer));
  if (options.intervalMs) args.push("--interval-ms", String(options.intervalMs));
  if (options.batch !== undefined && options.batch > 1) args.push("--batch", String(options.batch));
  if (options.concurrent !== undefined && options.concurrent > 1) args.push("--concurrent", String(options.concurrent));
  if (options.stdin) args.push("--stdin");
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env: { NO_COLOR: "1" },
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reported: Reported[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const wake = (all: boolean) => {
    for (let k = waiters.length - 1; k >= 0; k--) {
      if (all || reported.length >= waiters[k].n) waiters.splice(k, 1)[0].resolve();
    }
  };
  const drained = (async () => {
    let pending = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop()!; // a line is reported only once its newline is out
      for (const line of lines) {
        const [listener, sequence] = line.split(" ");
        reported.push({ listener, sequence: Number(sequence) });
      }
      wake(false);
    }
    wake(true);
  })();
  const stderr = new Response(child.stderr).text();
  const input = options.stdin ? child.stdin.getWriter() : undefined;
  let inputClosed = false;
  const close = async () => {
    if (input === undefined || inputClosed) return;
    inputClosed = true;
    await input.close().catch(() => {}); // the child may be gone already
  };
  const exited = Promise.all([child.status, drained, stderr]).then(([status]) => status);
  let exiting = false;
  const kill = async () => {
    await close();
    if (!exiting) {
      exiting = true;
      try {
        child.kill("SIGKILL");
      } catch (error) {
        if (!(error instanceof TypeError)) throw error; // it has exited already
      }
    }
    return await exited;
  };
  return {
    child,
    reported,
    drained,
    stderr,
    exited,
    async send(count, eventType) {
      if (input === undefined) throw new Error("spawnDispatchLoop(): send() needs the stdin option");
      await input.write(new TextEncoder().encode(eventType === undefined ? `${count}\n` : `${count} ${eventType}\n`));
    },
    close,
    waitForReports: (n) =>
      reported.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })),
    kill,
    async [Symbol.asyncDispose]() {
      await kill();
    },
  };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      "no-fsync": { type: "boolean", default: false },
      writer: { type: "string" },
      "interval-ms": { type: "string", default: "0" },
      batch: { type: "string", default: "1" },
      concurrent: { type: "string", default: "1" },
      stdin: { type: "boolean", default: false },
    },
  });
  if (positionals.length !== 3) {
    throw new Error(
      "usage: _dispatch_loop.ts <root> <event_type> <count> [--no-fsync] [--writer ID] [--interval-ms N] [--batch N | --concurrent N]",
    );
  }
  const [root, eventType, countText] = positionals;
  const count = Number(countText);
  const writer = Number(values.writer ?? Deno.pid);
  const intervalMs = Number(values["interval-ms"]);
  const dispatcher = new Dispatcher(root, { durable: !values["no-fsync"] });
  const encoder = new TextEncoder();
  const batch = Number(values.batch);
  const concurrent = Number(values.concurrent);
  let i = 0;
  const report = (deliveries: { listener: string; sequence: number }[]) => {
    const bytes = encoder.encode(deliveries.map((d) => `${d.listener} ${d.sequence}\n`).join(""));
    for (let written = 0; written < bytes.length;) written += Deno.stdout.writeSync(bytes.subarray(written));
  };
  const dispatchEvents = async (type: string, n: number) => {
    for (let k = 0; k < n;) {
      if (k > 0 && intervalMs > 0) await new Promise((resolve) => setTimeout(resolve, intervalMs));
      if (batch > 1) {
        const events = Array.from({ length: Math.min(batch, n - k) }, (_, j) => ({
          eventType: type,
          payload: { writer, i: i + j },
        }));
        report((await dispatcher.dispatchMany(events)).flat());
        k += events.length;
        i += events.length;
      } else if (concurrent > 1) {
        const calls = Array.from(
          { length: Math.min(concurrent, n - k) },
          (_, j) => dispatcher.dispatch(type, { writer, i: i + j }),
        );
        for (const call of calls) report(await call);
        k += calls.length;
        i += calls.length;
      } else {
        report(await dispatcher.dispatch(type, { writer, i }));
        k++;
        i++;
      }
    }
  };
  await dispatchEvents(eventType, count);
  if (!values.stdin) return;
  let pending = "";
  const decoder = new TextDecoder();
  for await (const chunk of Deno.stdin.readable) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      const [n, type] = line.trim().split(" ");
      await dispatchEvents(type ?? eventType, Number(n));
    }
  }
}

if (import.meta.main) await main();

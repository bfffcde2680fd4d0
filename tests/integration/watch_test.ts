/**
 * Acceptance of `hurah watch` and the library's `watch()`: tasks that
 * another process dispatches, in a burst and one by one; kill -9 and
 * restart; shutdown on SIGTERM (grace, abort, forced exit); RETRY delays and
 * FAILURE pauses; and lost file events.
 *
 * Real processes (`hurah watch` through `deno run -A cli.ts`, dispatchers
 * through `_dispatch_loop.ts`) where only they show it; the library where an
 * in-process watcher is enough. Completion is awaited by polling the disk
 * with generous deadlines, which only keep a broken build from hanging: no
 * assertion depends on how fast this machine is. The roots are on the
 * working disk, not /dev/shm: Deno asks for `--allow-all` to touch anything
 * under /dev (denoland/deno#30979) and the test task grants read/write only;
 * the dispatchers and most watchers run with `--no-fsync`.
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  Dispatcher,
  encodeTask,
  formatDelivery,
  Layout,
  listenerPath,
  type RunEvent,
  runOnce,
  Task,
  type TaskContext,
  watch,
} from "../../mod.ts";
import { killQuietly, sequencesIn, spawnCli, tempRoot, untimed, waitUntil } from "../_helpers.ts";
import { spawnDispatchLoop } from "./_dispatch_loop.ts";

const HANDLERS = join(dirname(fileURLToPath(import.meta.url)), "handlers");
/** Long enough for anything that works; only there so that a broken build fails instead of hanging. */
const DEADLINE_MS = 30_000;
/** The `sequencesIn()` option of this file: names other than `<digits>.json` are passed over. */
const SKIP_OTHERS = { others: "skip" } as const;

// ---------------------------------------------------------------------------------------------------------------
// Helpers

/** The lines of a text file, without the empty last one; [] when it does not exist. */
function linesOf(path: string): string[] {
  try {
    return Deno.readTextFileSync(path).split("\n").filter((line) => line !== "");
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** 1..n. */
function range(n: number, from = 1): number[] {
  return Array.from({ length: n }, (_, k) => from + k);
}

/** A listener's directory, inbox and archive under `root`. */
function dirsOf(root: string, name: string, eventType: string) {
  const dir = join(root, listenerPath(name, eventType));
  return { dir, inbox: join(dir, Layout.INBOX), archive: join(dir, Layout.ARCHIVE), error: join(dir, Layout.ERROR) };
}

/** A `hurah watch` process with its stderr collected as it comes. */
interface WatchProcess extends AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Whether it has exited and its output is read. */
  exitedYet(): boolean;
  /** Resolves once it has exited and all its output is read. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** Sends a signal if it is still running. */
  signal(signal: Deno.Signal): void;
  /** SIGKILLs it if it is still running, and waits for it. */
  kill(): Promise<Deno.CommandStatus>;
}

/** Spawns `hurah watch <args>` (see `spawnCli`) and collects its output. */
function spawnWatch(args: string[], env: Record<string, string> = {}): WatchProcess {
  const child = spawnCli(["watch", ...args], { env });
  let stderr = "";
  let exited = false;
  const stderrRead = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  const stdoutRead = new Response(child.stdout).text();
  const done = Promise.all([child.status, stderrRead, stdoutRead]).then(([status]) => {
    exited = true;
    return status;
  });
  const signal = (name: Deno.Signal) => {
    if (!exited) killQuietly(child, name);
  };
  const kill = () => {
    signal("SIGKILL");
    return done;
  };
  return {
    child,
    stderr: () => stderr,
    exitedYet: () => exited,
    exited: done,
    signal,
    kill,
    async [Symbol.asyncDispose]() {
      await kill();
    },
  };
}

/** Waits until the watcher printed its "watching" line (text log format): listeners registered and watched. */
async function watching(watcher: WatchProcess): Promise<void> {
  await waitUntil(
    "hurah watch to start",
    () => {
      if (watcher.exitedYet()) throw new Error(`hurah watch exited early:\n${watcher.stderr()}`);
      return watcher.stderr().includes("hurah watch: watching ");
    },
    DEADLINE_MS,
    10,
  );
}

/** Waits for the process to exit, at most `timeoutMs`, and returns its status. */
async function exitOf(watcher: WatchProcess, timeoutMs = DEADLINE_MS): Promise<Deno.CommandStatus> {
  await waitUntil("hurah watch to exit", () => watcher.exitedYet(), timeoutMs, 10);
  return await watcher.exited;
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Watch

Deno.test("hurah watch handles 500 tasks that another process dispatches", async (t) => {
  const total = 500;

  await t.step("in one burst, two listeners from --config, with a text log line per task", async () => {
    await using root = await tempRoot();
    const events = join(root.path, "events");
    await Deno.mkdir(events);
    const log = join(root.path, "handled.log");
    const config = join(root.path, "hurah.json");
    const module = join(HANDLERS, "listener_log.ts");
    const listeners = [{ name: "mailer", eventType: "shop/order" }, { name: "audit", eventType: "shop" }];
    await Deno.writeTextFile(
      config,
      JSON.stringify({ handlers: listeners.map((listener) => ({ ...listener, module })) }),
    );
    await using watcher = spawnWatch(["--config", config, events, "--no-fsync"], { HURAH_TEST_LOG: log });
    await watching(watcher);

    await using loop = spawnDispatchLoop(events, "shop/order", total, { noFsync: true });
    const status = await loop.exited;
    equal(status.code, 0, `the dispatcher failed: ${await loop.stderr}`);
    equal(loop.reported.length, 2 * total, "one delivery per event and listener");

    const dirs = listeners.map(({ name, eventType }) => dirsOf(events, name, eventType));
    await waitUntil(
      `${total} archived tasks per listener`,
      () => dirs.every((d) => sequencesIn(d.archive, SKIP_OTHERS).length === total),
      DEADLINE_MS,
      10,
    );
    watcher.signal("SIGTERM");
    equal((await exitOf(watcher)).code, 0, watcher.stderr());

    const handled = linesOf(log);
    const stderrLines = untimed(watcher.stderr()).split("\n").filter((line) => line !== "");
    for (const [k, { name, eventType }] of listeners.entries()) {
      // Exactly once each, in sequence order.
      deepEqual(
        handled.filter((line) => line.startsWith(`${name} `)).map((line) => Number(line.split(" ")[1])),
        range(total),
        `${name}: the handler's calls`,
      );
      deepEqual(sequencesIn(dirs[k].archive, SKIP_OTHERS), range(total), `${name}: archive/`);
      deepEqual(sequencesIn(dirs[k].inbox, SKIP_OTHERS), [], `${name}: inbox/`);
      // One text line per task: "<event_type>/<name> #<sequence> SUCCESS -> archive (<ms> ms)".
      const own = stderrLines.filter((line) => line.startsWith(`${eventType}/${name} `));
      // Its registration, said once (the listener is new), then one line per task.
      equal(own.filter((line) => line.startsWith(`${eventType}/${name} registered: `)).length, 1, own[0]);
      const lines = own.filter((line) => !line.startsWith(`${eventType}/${name} registered: `));
      deepEqual(
        lines.map((line) => Number(/^\S+ #(\d+) SUCCESS -> archive \(\d+\.\d ms\)$/.exec(line)?.[1])),
        range(total),
        `${name}: the log lines`,
      );
    }
    equal(handled.length, 2 * total);
    // Nothing else in the log but the start and stop lines.
    const others = stderrLines.filter((line) =>
      !listeners.some(({ name, eventType }) => line.startsWith(`${eventType}/${name} `))
    );
    deepEqual(others.map((line) => line.replace(/:.*/, "")), [
      "hurah watch",
      "hurah watch",
      "hurah watch",
    ], others.join("\n"));
  });

  await t.step("one by one, with JSON log lines", async () => {
    await using root = await tempRoot();
    const log = join(root.path, "handled.log");
    const { inbox, archive } = dirsOf(root.path, "mailer", "shop/order");
    await using watcher = spawnWatch(
      ["mailer", "shop/order", join(HANDLERS, "append_log.ts"), root.path, "--no-fsync", "--log-format", "json"],
      { HURAH_TEST_LOG: log },
    );
    // The start record comes once the watcher is ready: wait for the registration (the dispatcher only
    // delivers to registered listeners). A task that comes before the inbox is watched is
    // found by the first pass anyway.
    await waitUntil("the listener's registration", () => existsDir(inbox), DEADLINE_MS, 10);

    await using loop = spawnDispatchLoop(root.path, "shop/order", total, { noFsync: true, intervalMs: 4 });
    const status = await loop.exited;
    equal(status.code, 0, `the dispatcher failed: ${await loop.stderr}`);
    equal(loop.reported.length, total);

    await waitUntil(
      `${total} archived tasks`,
      () => sequencesIn(archive, SKIP_OTHERS).length === total,
      DEADLINE_MS,
      10,
    );
    watcher.signal("SIGTERM");
    equal((await exitOf(watcher)).code, 0, watcher.stderr());

    deepEqual(linesOf(log).map(Number), range(total), "the handler's calls");
    deepEqual(sequencesIn(archive, SKIP_OTHERS), range(total));
    deepEqual(sequencesIn(inbox, SKIP_OTHERS), []);
    const all = watcher.stderr().split("\n").filter((line) => line !== "");
    // The new listener's registration, a start record (version, options, listeners), then one line per task, then a
    // stop record: nothing else.
    equal(JSON.parse(all[0]).type, "registered", all[0]);
    const records = all.slice(1);
    const [start, stop] = [JSON.parse(records[0]), JSON.parse(records.at(-1)!)];
    deepEqual([start.type, start.command, start.listeners], ["start", "watch", ["shop/order/mailer"]]);
    equal(start.options["log-format"], "json");
    deepEqual([stop.type, stop.listeners["shop/order/mailer"].archived], ["stop", total]);
    const lines = records.slice(1, -1);
    equal(lines.length, total, "one log line per task, nothing else");
    for (const [k, line] of lines.entries()) {
      const event = JSON.parse(line);
      equal(event.type, "task");
      equal(event.listener, "shop/order/mailer");
      equal(event.sequence, k + 1);
      equal(event.result, "SUCCESS");
      equal(event.fate, "archive");
      ok(typeof event.durationMs === "number" && event.durationMs >= 0, line);
      ok(/^\d+(\.\d{1,3})?$/.test(String(event.durationMs)), `durationMs to the microsecond: ${line}`);
      ok(!Number.isNaN(Date.parse(event.time)), line);
    }
  });
});

function existsDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("hurah watch exits 1 when a listener cannot be registered (a link in the root), instead of waiting forever", async () => {
  // `hurah watch` awaits the watcher's `ready`, which used to stay pending when registration
  // failed: the process then hung, silent, until a second signal.
  await using root = await tempRoot();
  await Deno.mkdir(join(root.path, "job"));
  await Deno.symlink(root.path, join(root.path, listenerPath("linked", "job")));
  await using watcher = spawnWatch(["linked", "job", join(HANDLERS, "append_log.ts"), root.path], {
    HURAH_TEST_LOG: join(root.path, "handled.log"),
  });
  const status = await exitOf(watcher, 20_000);
  equal(status.code, 1, watcher.stderr()); // 2 before issue 9: a link in the root is not a usage error
  ok(/linked_listener: is a symbolic link/.test(watcher.stderr()), watcher.stderr());
});

// ---------------------------------------------------------------------------------------------------------------
// 2. Kill

Deno.test("hurah watch killed with SIGKILL mid-burst and restarted loses nothing", async () => {
  const total = 500;
  await using root = await tempRoot();
  const log = join(root.path, "handled.log");
  const { inbox, archive } = dirsOf(root.path, "worker", "job/run");
  // The watcher flushes (durable); the handler sleeps 2 ms per task so the burst takes a while.
  const args = ["worker", "job/run", join(HANDLERS, "append_log.ts"), root.path];
  const env = { HURAH_TEST_LOG: log, HURAH_TEST_DELAY_MS: "2" };

  let inFlight: number | undefined;
  let beforeKill: number[];
  {
    await using first = spawnWatch(args, env);
    await watching(first);
    await using loop = spawnDispatchLoop(root.path, "job/run", total, { noFsync: true });
    await waitUntil("100 handled tasks", () => linesOf(log).length >= 100, DEADLINE_MS, 5);
    first.signal("SIGKILL");
    const status = await first.exited;
    equal(status.signal, "SIGKILL");
    equal((await loop.exited).code, 0, `the dispatcher failed: ${await loop.stderr}`);
    equal(loop.reported.length, total);

    beforeKill = linesOf(log).map(Number);
    ok(beforeKill.length < total, `the kill came too late: all ${total} were handled`);
    deepEqual(beforeKill, range(beforeKill.length), "handled in order before the kill");
    const left = sequencesIn(inbox, SKIP_OTHERS);
    const archived = sequencesIn(archive, SKIP_OTHERS);
    // Every task is in exactly one place; the archive holds a prefix, the inbox the rest.
    deepEqual([...archived, ...left], range(total), "archive + inbox after the kill");
    inFlight = left[0];
  }

  await using second = spawnWatch(args, env);
  await waitUntil(`${total} archived tasks`, () => sequencesIn(archive, SKIP_OTHERS).length === total, DEADLINE_MS, 10);
  second.signal("SIGTERM");
  equal((await exitOf(second)).code, 0, second.stderr());

  deepEqual(sequencesIn(archive, SKIP_OTHERS), range(total));
  deepEqual(sequencesIn(inbox, SKIP_OTHERS), []);
  const handled = linesOf(log).map(Number);
  const afterKill = handled.slice(beforeKill.length);
  // The restart goes on from the first task still in the inbox: the one that was in flight.
  // It was handled twice only if its handler had written its line before the kill.
  equal(afterKill[0], inFlight, "the restart starts with the task in flight at the kill");
  const expectedRestart = range(total - inFlight! + 1, inFlight);
  deepEqual(afterKill, expectedRestart, "handled in order after the restart");
  const counts = new Map<number, number>();
  for (const sequence of handled) counts.set(sequence, (counts.get(sequence) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1);
  ok(twice.length <= 1, `handled more than once: ${JSON.stringify(twice)}`);
  for (const [sequence, n] of twice) {
    equal(sequence, inFlight, "only the task in flight may be handled twice");
    equal(n, 2);
  }
  deepEqual([...counts.keys()].sort((a, b) => a - b), range(total), "every task handled");
});

// ---------------------------------------------------------------------------------------------------------------
// 3. Shutdown

Deno.test("hurah watch on SIGTERM", async (t) => {
  /**
   * Dispatches `count` tasks to listener `slow`, starts `hurah watch` with the slow handler and
   * waits for task 1 to start. The tasks are there before the watcher (its backlog pass takes
   * them), so their files can be read as dispatched without racing the handler.
   */
  async function started(root: string, count: number, delayMs: number, grace: string) {
    const log = join(root, "handled.log");
    const dirs = dirsOf(root, "slow", "job");
    await runOnce(root, { name: "slow", eventType: "job", handler: () => Task.SUCCESS, durable: false }); // registers
    const dispatcher = new Dispatcher(root, { durable: false });
    for (let i = 0; i < count; i++) await dispatcher.dispatch("job", { i });
    const bytes = new Map(range(count).map((n) => [n, Deno.readFileSync(join(dirs.inbox, `${n}.json`))]));
    const watcher = spawnWatch(
      ["slow", "job", join(HANDLERS, "slow_marker.ts"), root, "--no-fsync", "--grace", grace],
      { HURAH_TEST_LOG: log, HURAH_TEST_DELAY_MS: String(delayMs) },
    );
    try {
      await watching(watcher);
      await waitUntil("task 1 to start", () => linesOf(log).includes("start 1"), DEADLINE_MS, 10);
      return { watcher, log, dirs, bytes };
    } catch (error) {
      await watcher.kill();
      throw error;
    }
  }

  await t.step("lets the running task finish within --grace, exits 0, leaves the rest in the inbox", async () => {
    await using root = await tempRoot();
    const { watcher, log, dirs, bytes } = await started(root.path, 5, 1_000, "5s");
    await using _ = watcher;
    watcher.signal("SIGTERM");
    const status = await exitOf(watcher);
    equal(status.code, 0, watcher.stderr());
    deepEqual(linesOf(log), ["start 1", "end 1"], "task 1 ran to its end, no other started");
    deepEqual(sequencesIn(dirs.archive, SKIP_OTHERS), [1], "archived once");
    deepEqual(sequencesIn(dirs.inbox, SKIP_OTHERS), [2, 3, 4, 5]);
    for (const n of [2, 3, 4, 5]) deepEqual(Deno.readFileSync(join(dirs.inbox, `${n}.json`)), bytes.get(n));
    ok(/job\/slow #1 SUCCESS -> archive/.test(watcher.stderr()), watcher.stderr());
    ok(watcher.stderr().includes("hurah watch: stopping; a running task gets up to 5s"), watcher.stderr());
    ok(watcher.stderr().endsWith("hurah watch: stopped\n"), watcher.stderr());
  });

  await t.step("aborts a task that ignores its signal after --grace and leaves it untouched", async () => {
    await using root = await tempRoot();
    // The handler would sleep a minute; the process must exit soon after the 500 ms grace.
    const { watcher, log, dirs, bytes } = await started(root.path, 1, 60_000, "500ms");
    await using _ = watcher;
    watcher.signal("SIGTERM");
    const status = await exitOf(watcher, 20_000);
    equal(status.code, 0, watcher.stderr());
    deepEqual(linesOf(log), ["start 1"], "the handler never got to its end");
    deepEqual(sequencesIn(dirs.inbox, SKIP_OTHERS), [1]);
    deepEqual(Deno.readFileSync(join(dirs.inbox, "1.json")), bytes.get(1), "inbox/1.json untouched");
    deepEqual(sequencesIn(dirs.archive, SKIP_OTHERS), []);
    deepEqual(sequencesIn(dirs.error, SKIP_OTHERS), []);
    ok(/job\/slow #1 ABORTED -> stop .*grace period; it stays in the inbox/.test(watcher.stderr()), watcher.stderr());
  });

  await t.step("a second SIGTERM exits at once with code 130", async () => {
    await using root = await tempRoot();
    const { watcher, log, dirs, bytes } = await started(root.path, 1, 60_000, "30s");
    await using _ = watcher;
    watcher.signal("SIGTERM");
    await waitUntil("the stopping line", () => watcher.stderr().includes("hurah watch: stopping"), DEADLINE_MS, 10);
    watcher.signal("SIGTERM");
    const status = await exitOf(watcher, 20_000);
    equal(status.code, 130, watcher.stderr());
    deepEqual(linesOf(log), ["start 1"]);
    deepEqual(sequencesIn(dirs.inbox, SKIP_OTHERS), [1]);
    deepEqual(Deno.readFileSync(join(dirs.inbox, "1.json")), bytes.get(1), "inbox/1.json untouched");
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 4. Retry and failure

Deno.test("hurah watch retries a RETRY task after retryDelay(), woken by not_before alone", async () => {
  await using root = await tempRoot();
  const log = join(root.path, "attempts.log");
  const { inbox, archive } = dirsOf(root.path, "retrier", "job");
  // A minute between re-listings, and no new event after the dispatch: only the timer
  // set from not_before can start the second attempt within the deadline.
  await using watcher = spawnWatch(
    ["retrier", "job", join(HANDLERS, "retry_once.ts"), root.path, "--rescan-interval", "60s"],
    { HURAH_TEST_LOG: log, HURAH_TEST_RETRY_MS: "300" },
  );
  await watching(watcher);
  await new Dispatcher(root.path, { durable: false }).dispatch("job", { n: 1 });

  // Between the attempts the task file in the inbox carries not_before.
  await waitUntil("the first attempt", () => linesOf(log).length >= 1, DEADLINE_MS, 2);
  let seen: unknown;
  await waitUntil(
    "not_before in inbox/1.json, or the task archived",
    () => {
      try {
        seen = JSON.parse(Deno.readTextFileSync(join(inbox, "1.json"))).not_before;
        return seen !== undefined;
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return true; // the second attempt was quicker than us
        throw error;
      }
    },
    DEADLINE_MS,
    2,
  );

  await waitUntil("the second attempt", () => sequencesIn(archive, SKIP_OTHERS).length === 1, 20_000, 10);
  watcher.signal("SIGTERM");
  equal((await exitOf(watcher)).code, 0, watcher.stderr());

  const attempts = linesOf(log).map((line) => JSON.parse(line));
  equal(attempts.length, 2, JSON.stringify(attempts));
  const [first, second] = attempts;
  deepEqual([first.sequence, first.retryCount, first.notBefore], [1, 0, null]);
  deepEqual([second.sequence, second.retryCount], [1, 1]);
  const notBefore = Date.parse(second.notBefore);
  ok(!Number.isNaN(notBefore), `not_before as read by the second attempt: ${second.notBefore}`);
  if (seen !== undefined) equal(seen, second.notBefore, "the not_before seen in the inbox");
  ok(notBefore >= first.at + 300, "not_before is at least retryDelay() after the first attempt");
  ok(second.at >= notBefore, "the second attempt came after not_before");
  deepEqual(sequencesIn(inbox, SKIP_OTHERS), []);
  const archived = JSON.parse(Deno.readTextFileSync(join(archive, "1.json")));
  equal(archived.retry_count, 1);

  // The text log: RETRY with its delay, then SUCCESS.
  const taskLines = untimed(watcher.stderr()).split("\n").filter((line) => line.startsWith("job/retrier #1 "));
  equal(taskLines.length, 2, watcher.stderr());
  ok(/^job\/retrier #1 RETRY -> retry in 300 ms /.test(taskLines[0]), taskLines[0]);
  ok(/^job\/retrier #1 SUCCESS -> archive /.test(taskLines[1]), taskLines[1]);
});

Deno.test("watch() pauses a listener after FAILURE, then tries the same task again", async () => {
  await using root = await tempRoot();
  const calls: number[] = [];
  const events: RunEvent[] = [];
  const delays: number[] = [];
  const attemptsOf1 = { n: 0 };
  const { archive } = dirsOf(root.path, "strict", "job");
  {
    await using watcher = watch(root.path, {
      listeners: [{
        name: "strict",
        eventType: "job",
        handler: (context: TaskContext) => {
          calls.push(context.sequence);
          if (context.sequence === 1 && ++attemptsOf1.n <= 2) return Task.FAILURE;
          return Task.SUCCESS;
        },
      }],
      rescanIntervalMs: 60_000,
      failureDelay: (failures) => {
        delays.push(failures);
        return 150;
      },
      durable: false,
      onEvent: (event) => events.push(event),
    });
    await watcher.ready;
    const dispatcher = new Dispatcher(root.path, { durable: false });
    for (let i = 0; i < 3; i++) await dispatcher.dispatch("job", { i });
    await waitUntil("3 archived tasks", () => sequencesIn(archive, SKIP_OTHERS).length === 3, DEADLINE_MS, 10);
  }
  deepEqual(calls, [1, 1, 1, 2, 3], "task 1 three times, the others only after it succeeded");
  deepEqual(delays, [1, 2], "failureDelay gets the number of FAILUREs in a row");
  deepEqual(
    events.filter((event) => event.type === "paused"),
    [
      { type: "paused", listener: "job/strict", sequence: 1, retryInMs: 150 },
      { type: "paused", listener: "job/strict", sequence: 1, retryInMs: 150 },
    ],
  );
  deepEqual(
    events.filter((event) => event.type === "task").map((event) => event.type === "task" && event.result),
    ["FAILURE", "FAILURE", "SUCCESS", "SUCCESS", "SUCCESS"],
  );
  const task1 = JSON.parse(Deno.readTextFileSync(join(archive, "1.json")));
  deepEqual(task1.failures.map((failure: { result: string }) => failure.result), ["FAILURE", "FAILURE"]);
});

// ---------------------------------------------------------------------------------------------------------------
// 5. Lost events

/** A `bash -c` child whose stderr is read, SIGKILLed on dispose if still running. */
function spawnShell(script: string, env: Record<string, string>) {
  const child = new Deno.Command("bash", { args: ["-c", script], env, stdin: "null", stdout: "null", stderr: "piped" })
    .spawn();
  const stderr = new Response(child.stderr).text();
  const exited = Promise.all([child.status, stderr]).then(([status]) => status);
  return {
    exited,
    stderr,
    async [Symbol.asyncDispose]() {
      killQuietly(child);
      await exited;
    },
  };
}

/** Valid task files 1..n for `staging`, as a dispatcher would have written them. */
function stageTasks(staging: string, from: number, count: number): void {
  Deno.mkdirSync(staging, { recursive: true });
  const delivery = formatDelivery(new Date());
  for (const n of range(count, from)) {
    Deno.writeTextFileSync(join(staging, `${n}.json`), encodeTask({ payload: { n }, sequence: n, count: n, delivery }));
  }
}

Deno.test("watch() handles the tasks whose file events overflowed, on the watcher's rescan", async () => {
  // Mechanism: Deno.watchFs queues events between the OS and JavaScript; when JavaScript does
  // not read them for a while, the queue fills up, later events are dropped and one
  // `{kind: "any", flag: "rescan"}` is delivered instead. Here the handler of listener
  // `blocker` blocks the event loop (a busy wait) while a shell moves 2,000 task files into
  // blocker's inbox (filling the queue) and then 20 into victim's inbox (whose events are
  // dropped). Victim's loop is idle with a one-minute re-listing interval, so within the
  // deadline only the watcher's reaction to the rescan flag (a `rescan` event with reason
  // `overflow`, then a pass) can get victim's tasks handled. Blocker's own tasks would be
  // found anyway: its pass lists its inbox again after each task.
  const burst = 2_000;
  const quiet = 20;
  await using root = await tempRoot();
  const blocker = dirsOf(root.path, "blocker", "busy");
  const victim = dirsOf(root.path, "victim", "quiet");
  const go = join(root.path, "go");
  const moved = join(root.path, "moved");
  const events: RunEvent[] = [];
  const victimCalls: number[] = [];
  let blockerCalls = 0;
  let blockedMs = 0;

  stageTasks(join(root.path, "staging-busy"), 2, burst); // 1 is dispatched below
  stageTasks(join(root.path, "staging-quiet"), 1, quiet);
  const script = [
    `while [ ! -e "$GO" ]; do sleep 0.01; done`,
    `mv "$ROOT"/staging-busy/*.json "$BUSY_INBOX"/`,
    `mv "$ROOT"/staging-quiet/*.json "$QUIET_INBOX"/`,
    `: > "$MOVED"`,
  ].join("\n");
  await using shell = spawnShell(script, {
    GO: go,
    MOVED: moved,
    ROOT: root.path,
    BUSY_INBOX: blocker.inbox,
    QUIET_INBOX: victim.inbox,
  });
  {
    await using watcher = watch(root.path, {
      listeners: [
        {
          name: "blocker",
          eventType: "busy",
          handler: (context: TaskContext) => {
            blockerCalls++;
            if (context.sequence !== 1) return Task.SUCCESS;
            const started = Date.now();
            Deno.writeTextFileSync(go, "");
            const deadline = started + DEADLINE_MS;
            while (!existsFile(moved) && Date.now() < deadline) {
              // Blocks the event loop: nothing reads the watcher's events meanwhile.
            }
            // A little longer, so that the events of the last moves are queued before JavaScript reads again.
            const until = Date.now() + 300;
            while (Date.now() < until) {
              // still blocking
            }
            blockedMs = Date.now() - started;
            return Task.SUCCESS;
          },
        },
        {
          name: "victim",
          eventType: "quiet",
          handler: (context: TaskContext) => {
            victimCalls.push(context.sequence);
            return Task.SUCCESS;
          },
        },
      ],
      rescanIntervalMs: 60_000,
      durable: false,
      onEvent: (event) => events.push(event),
    });
    await watcher.ready;
    await new Dispatcher(root.path, { durable: false }).dispatch("busy", { n: 1 });
    await waitUntil(
      `${quiet} archived tasks of victim`,
      () => sequencesIn(victim.archive, SKIP_OTHERS).length === quiet,
      DEADLINE_MS,
      10,
    );
    await waitUntil(
      `${burst + 1} archived tasks of blocker`,
      () => sequencesIn(blocker.archive, SKIP_OTHERS).length === burst + 1,
      DEADLINE_MS,
      10,
    );
  }
  const status = await shell.exited;
  equal(status.code, 0, `the shell failed: ${await shell.stderr}`);
  ok(blockedMs > 0, "the blocking handler ran");
  deepEqual(victimCalls, range(quiet), "victim handled every task once, in order");
  equal(blockerCalls, burst + 1);
  deepEqual(sequencesIn(victim.inbox, SKIP_OTHERS), []);
  deepEqual(sequencesIn(blocker.inbox, SKIP_OTHERS), []);
  const rescans = events.filter((event) => event.type === "rescan");
  ok(
    rescans.some((event) => event.listener === "quiet/victim" && event.reason === "overflow"),
    `a rescan of victim for overflow; got ${JSON.stringify(rescans)}`,
  );
});

function existsFile(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("watch() finds tasks that no file event announces on its rescan interval", async () => {
  // Mechanism: the inbox is replaced by a new, empty directory (rename over it). The watch
  // Deno.watchFs set up follows the old directory, which is gone: its last events are a
  // `modify` and a `remove` of the inbox itself, and nothing that happens in the new inbox
  // is ever reported (no error, no rescan flag). Tasks linked into it are found only by the
  // re-listing every `rescanIntervalMs`. The test shows that (a) they are handled, and (b)
  // not before the interval had passed since the pass before, though they were there long
  // before that: nothing else woke the listener. (If the watcher learns to watch a replaced
  // inbox again, this test has to find another way to lose events.)
  const intervalMs = 700;
  await using root = await tempRoot();
  const { dir, inbox } = dirsOf(root.path, "poller", "slow");
  const events: RunEvent[] = [];
  const handledAt = new Map<number, number>();
  const dispatcher = new Dispatcher(root.path, { durable: false });
  {
    await using watcher = watch(root.path, {
      listeners: [{
        name: "poller",
        eventType: "slow",
        handler: (context: TaskContext) => {
          handledAt.set(context.sequence, Date.now());
          return Task.SUCCESS;
        },
      }],
      rescanIntervalMs: intervalMs,
      durable: false,
      onEvent: (event) => events.push(event),
    });
    await watcher.ready;
    await Deno.mkdir(join(dir, "inbox.new"));
    await Deno.rename(join(dir, "inbox.new"), inbox);

    await dispatcher.dispatch("slow", { n: 1 });
    await waitUntil("task 1", () => handledAt.has(1), DEADLINE_MS, 10);
    const first = handledAt.get(1)!;
    // Wait for the pass that handled task 1 to end (it lists the inbox once more, then
    // releases the run lock and sleeps), so that it cannot see the next tasks.
    await waitUntil(
      "the end of the pass",
      () => {
        using lock = Deno.openSync(join(dir, Layout.RUN_LOCK), { read: true, write: true });
        return lock.tryLockSync(true);
      },
      DEADLINE_MS,
      10,
    );
    const dispatchedAt = Date.now();
    for (let i = 2; i <= 4; i++) await dispatcher.dispatch("slow", { n: i });
    await waitUntil("tasks 2 to 4", () => handledAt.size === 4, DEADLINE_MS, 10);

    const waited = handledAt.get(2)! - first;
    ok(
      waited >= intervalMs - 50,
      `task 2 was handled ${waited} ms after task 1, ${handledAt.get(2)! - dispatchedAt} ms after its dispatch: ` +
        `something other than the ${intervalMs} ms interval woke the listener`,
    );
  }
  deepEqual([...handledAt.keys()], [1, 2, 3, 4], "in order, once each");
  deepEqual(events.filter((event) => event.type === "rescan"), [], "no overflow, no watcher error");
  deepEqual(sequencesIn(inbox, SKIP_OTHERS), []);
});

/**
 * Acceptance (issue 8, defect 9): a process frozen (SIGSTOP) while holding a
 * lock no longer blocks the others for ever, silently and deaf to signals.
 * A `hurah dispatch` or `hurah run` waiting behind it names the holder on
 * stderr after a second, ends within a second of SIGTERM (143) or SIGINT
 * (130) having written nothing, and gives up with a clear line at its bound:
 * exit 1 for `dispatch --lock-timeout`, 75 for `run --no-wait` and `run
 * --wait`. `hurah watch` waiting for the run lock stops on SIGTERM too.
 *
 * The holder is `_hold_lock.ts`, which takes the lock file's flock as a
 * dispatcher or runner would and is then stopped.
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher, Layout, listenerPath, runOnce, Task } from "../../mod.ts";
import { killQuietly, namesIn, runCli, spawnCli, stopChild, tempRoot, waitUntil } from "../_helpers.ts";

const HOLD_LOCK = join(import.meta.dirname!, "_hold_lock.ts");
const NAME = "mailer";
const EVENT_TYPE = "order/placed";
/** A signal must end a wait within this. */
const SIGNAL_MS = 1_000;
/** The wait notice comes after a second of waiting; the CLI's start-up comes first. */
const NOTICE_WITHIN_MS = 15_000;

/** A listener with one task in its inbox, and its directory. */
async function listenerWithTask(root: string): Promise<string> {
  await runOnce(root, { name: NAME, eventType: EVENT_TYPE, handler: () => Task.SUCCESS });
  await new Dispatcher(root, { durable: false }).dispatch(EVENT_TYPE, { order: 1 });
  return join(root, listenerPath(NAME, EVENT_TYPE));
}

/** A process that took the flock of `path` and was then stopped (SIGSTOP); disposing kills it. */
async function frozenHolder(path: string, mode: "exclusive" | "shared" = "exclusive") {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", HOLD_LOCK, path, mode],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("locked\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the lock holder exited before taking ${path}: ${seen}`);
    seen += value;
  }
  await reader.cancel();
  child.kill("SIGSTOP");
  return {
    pid: child.pid,
    async [Symbol.asyncDispose]() {
      killQuietly(child); // SIGKILL ends a stopped process too
      await child.status;
    },
  };
}

/** A `hurah` process whose output is collected as it comes. */
function startCli(args: string[]) {
  const child = spawnCli(args);
  const output = { stdout: "", stderr: "" };
  const reading = Promise.all([
    child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (t) => void (output.stdout += t) }),
    ),
    child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (t) => void (output.stderr += t) }),
    ),
  ]);
  return {
    output,
    /** Waits until stderr contains `text`. */
    async stderrShows(text: string) {
      await waitUntil(
        () => `stderr to show ${JSON.stringify(text)}; it shows ${JSON.stringify(output.stderr)}`,
        () => output.stderr.includes(text),
        NOTICE_WITHIN_MS,
      );
    },
    /** Sends `signal`, and returns the exit code and how long the exit took after it. */
    async signal(signal: Deno.Signal): Promise<{ code: number; afterMs: number }> {
      const sent = performance.now();
      child.kill(signal);
      const { code } = await child.status;
      const afterMs = performance.now() - sent;
      await reading;
      return { code, afterMs };
    },
    async [Symbol.asyncDispose]() {
      await stopChild(child);
      await reading.catch(() => {});
    },
  };
}

Deno.test("hurah dispatch behind a frozen dispatcher names it after a second, and SIGTERM ends it with 143, nothing written", async () => {
  await using root = await tempRoot();
  const dir = await listenerWithTask(root.path);
  await using holder = await frozenHolder(join(dir, Layout.DISPATCH_LOCK));
  await using dispatch = startCli(["dispatch", EVENT_TYPE, '{"order":2}', "--root", root.path]);
  await dispatch.stderrShows(`held by pid ${holder.pid}`);
  ok(dispatch.output.stderr.includes(Layout.DISPATCH_LOCK), dispatch.output.stderr);
  const { code, afterMs } = await dispatch.signal("SIGTERM");
  equal(code, 143, dispatch.output.stderr);
  ok(afterMs < SIGNAL_MS, `exited ${Math.round(afterMs)} ms after SIGTERM`);
  ok(dispatch.output.stderr.includes("interrupted by SIGTERM"), dispatch.output.stderr);
  equal(dispatch.output.stdout, "");
  deepEqual(namesIn(join(dir, Layout.INBOX)), ["1.json"]);
  deepEqual(namesIn(join(dir, Layout.TMP)), []);
});

Deno.test("hurah dispatch --lock-timeout gives up on a frozen dispatcher with one line and exit 1, nothing written", async () => {
  await using root = await tempRoot();
  const dir = await listenerWithTask(root.path);
  await using holder = await frozenHolder(join(dir, Layout.DISPATCH_LOCK));
  const result = await runCli(["dispatch", EVENT_TYPE, '{"order":2}', "--root", root.path, "--lock-timeout", "500ms"]);
  equal(result.code, 1, result.stderr);
  equal(result.stdout, "");
  const lines = result.stderr.trimEnd().split("\n");
  equal(lines.length, 1, result.stderr);
  ok(lines[0].startsWith("hurah dispatch: Timed out after"), lines[0]);
  ok(lines[0].includes(`pid ${holder.pid}`) && lines[0].includes(Layout.DISPATCH_LOCK), lines[0]);
  deepEqual(namesIn(join(dir, Layout.INBOX)), ["1.json"]);
  deepEqual(namesIn(join(dir, Layout.TMP)), []);
});

Deno.test("hurah run --no-wait exits 75 at once while another runner holds the run lock; --wait 1s exits 75 after it", async (t) => {
  await using root = await tempRoot();
  const dir = await listenerWithTask(root.path);
  await using holder = await frozenHolder(join(dir, Layout.RUN_LOCK));
  const run = ["run", NAME, EVENT_TYPE, "--exec", "exit 0", root.path];
  await t.step("--no-wait", async () => {
    const result = await runCli([...run, "--no-wait"]);
    equal(result.code, 75, result.stderr);
    ok(result.stderr.includes("another runner is busy") && result.stderr.includes(`pid ${holder.pid}`), result.stderr);
    ok(!result.stderr.includes("waiting for the lock"), result.stderr);
  });
  await t.step("--wait 1s", async () => {
    const result = await runCli([...run, "--wait", "1s"]);
    equal(result.code, 75, result.stderr);
    ok(result.stderr.includes("Timed out after") && result.stderr.includes(`pid ${holder.pid}`), result.stderr);
  });
  deepEqual(namesIn(join(dir, Layout.INBOX)), ["1.json"]);
  deepEqual(namesIn(join(dir, Layout.ARCHIVE)), []);
});

Deno.test("hurah run waiting for a frozen runner ends within a second of SIGTERM (143) or SIGINT (130), nothing handled", async (t) => {
  await using root = await tempRoot();
  const dir = await listenerWithTask(root.path);
  await using holder = await frozenHolder(join(dir, Layout.RUN_LOCK));
  for (const [signal, expected] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
    await t.step(signal, async () => {
      await using run = startCli(["run", NAME, EVENT_TYPE, "--exec", "exit 0", root.path]);
      await run.stderrShows(`held by pid ${holder.pid}`);
      const { code, afterMs } = await run.signal(signal);
      equal(code, expected, run.output.stderr);
      ok(afterMs < SIGNAL_MS, `exited ${Math.round(afterMs)} ms after ${signal}`);
      ok(run.output.stderr.includes(`interrupted by ${signal}`), run.output.stderr);
    });
  }
  deepEqual(namesIn(join(dir, Layout.INBOX)), ["1.json"]);
  deepEqual(namesIn(join(dir, Layout.ARCHIVE)), []);
});

Deno.test("hurah watch waiting for a frozen parallel worker names it, and stops within a second of SIGTERM", async () => {
  await using root = await tempRoot();
  const dir = await listenerWithTask(root.path);
  await using holder = await frozenHolder(join(dir, Layout.RUN_LOCK), "shared");
  await using watch = startCli(["watch", NAME, EVENT_TYPE, "--exec", "exit 0", root.path]);
  await watch.stderrShows(`held by pid ${holder.pid}`);
  const { code, afterMs } = await watch.signal("SIGTERM");
  equal(code, 0, watch.output.stderr); // a watcher's stop on a signal is its normal end (see its --help)
  ok(afterMs < SIGNAL_MS, `exited ${Math.round(afterMs)} ms after SIGTERM`);
  ok(watch.output.stderr.includes("hurah watch: stopped"), watch.output.stderr);
  deepEqual(namesIn(join(dir, Layout.INBOX)), ["1.json"]);
  deepEqual(namesIn(join(dir, Layout.ARCHIVE)), []);
});

/**
 * Acceptance: exec handlers. Each exit code, death by a signal, a timeout
 * whose handler has a grandchild process, very large stdout and stderr, and
 * a handler that never reads its stdin. Real `sh` processes throughout; one
 * case goes through the real `hurah run --exec`.
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import {
  Dispatcher,
  execHandler,
  type ExecHandlerOptions,
  type HandlerLike,
  Layout,
  listenerId,
  listenerPath,
  type RunEvent,
  runOnce,
  type RunReport,
  Task,
  type TaskRecord,
} from "../../mod.ts";
import { exists, runCli, tempRoot, untimed } from "../_helpers.ts";

const NAME = "shell";
const EVENT_TYPE = "product/created";

/** A registered listener with one dispatched task, and how to run an exec handler over it. */
interface Scene {
  /** Where the task sits now, in each place it may be. */
  inbox: string;
  archive: string;
  error: string;
  /** The task file's text as dispatched. */
  text: string;
  /** One pass of `command` over the inbox; waits for the command itself to end, too. */
  run(command: string, options?: ExecHandlerOptions & { timeoutMs?: number }): Promise<RunReport>;
}

async function scene(root: string, payload: unknown = { product_id: 1 }): Promise<Scene> {
  await runOnce(root, { name: NAME, eventType: EVENT_TYPE, handler: () => Task.SUCCESS, durable: false });
  const [delivery] = await new Dispatcher(root, { durable: false }).dispatch(EVENT_TYPE, payload);
  const dir = join(root, listenerPath(NAME, EVENT_TYPE));
  const file = `${delivery.sequence}.json`;
  return {
    inbox: join(dir, Layout.INBOX, file),
    archive: join(dir, Layout.ARCHIVE, file),
    error: join(dir, Layout.ERROR, file),
    text: await Deno.readTextFile(delivery.path),
    async run(command, options = {}) {
      const { timeoutMs, ...execOptions } = options;
      const handler = tracked(execHandler(command, { cwd: root, ...execOptions }));
      try {
        return await runOnce(root, { name: NAME, eventType: EVENT_TYPE, handler, timeoutMs, durable: false });
      } finally {
        // A timed-out pass returns while the killed command is being reaped: wait for it.
        await handler.settled();
      }
    },
  };
}

/** Wraps a handler so a test can wait until every call it made has ended. */
function tracked(handler: HandlerLike): HandlerLike & { settled(): Promise<void> } {
  const calls: Promise<unknown>[] = [];
  return {
    maxAttempts: () => handler.maxAttempts?.() ?? 0,
    handleTask(context) {
      const call = Promise.resolve(handler.handleTask(context));
      calls.push(call.catch(() => {}));
      return call;
    },
    async settled() {
      await Promise.all(calls);
    },
  };
}

async function readTask(path: string): Promise<TaskRecord> {
  return JSON.parse(await Deno.readTextFile(path));
}

/**
 * Whether a process runs: `kill(pid, 0)` would also succeed on a zombie that
 * its parent has not reaped yet, so ask `ps` for its state (reading /proc
 * needs --allow-all).
 */
async function isRunning(pid: number): Promise<boolean> {
  const { code, stdout } = await new Deno.Command("ps", { args: ["-o", "stat=", "-p", String(pid)] }).output();
  const state = new TextDecoder().decode(stdout).trim();
  return code === 0 && state !== "" && !state.startsWith("Z");
}

/** Waits until a process is gone; false when it is still there after `ms`. */
async function waitGone(pid: number, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (await isRunning(pid)) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/** Kills what a test may have left behind (its own pids only). */
function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}

async function readPid(path: string): Promise<number> {
  const pid = Number((await Deno.readTextFile(path)).trim());
  ok(Number.isSafeInteger(pid) && pid > 1, `${path} holds ${pid}`);
  return pid;
}

Deno.test("execHandler() turns exit codes 0..3 into the Task results", async (t) => {
  await t.step("exit 0 (SUCCESS) archives the task", async () => {
    await using root = await tempRoot();
    const s = await scene(root.path);
    const report = await s.run("exit 0");
    deepEqual([report.handled, report.archived], [1, 1]);
    ok(await exists(s.archive), "archive/1.json");
    ok(!await exists(s.inbox), "inbox/1.json is gone");
    equal(await Deno.readTextFile(s.archive), s.text);
  });

  await t.step("exit 1 (FAILURE) leaves the task first in the inbox and stops the pass", async () => {
    await using root = await tempRoot();
    const s = await scene(root.path);
    const [second] = await new Dispatcher(root.path, { durable: false }).dispatch(EVENT_TYPE, { product_id: 2 });
    const report = await s.run("exit 1");
    deepEqual([report.failedAt, report.handled], [1, 1], "task 2 is not tried");
    ok(await exists(s.inbox));
    const task = await readTask(s.inbox);
    equal(task.failures?.at(-1)?.result, "FAILURE");
    equal((await readTask(second.path)).failures, undefined);
  });

  await t.step("exit 2 (RETRY) writes retry_count while retries remain, then errors", async () => {
    await using root = await tempRoot();
    const s = await scene(root.path);
    const first = await s.run("exit 2", { maxAttempts: 1 });
    equal(first.retried, 1);
    equal((await readTask(s.inbox)).retry_count, 1);
    const second = await s.run("exit 2", { maxAttempts: 1 });
    equal(second.errored, 1);
    ok(await exists(s.error), "error/1.json after the retries are used up");
    const task = await readTask(s.error);
    equal(task.failures?.at(-1)?.fate, "error");
  });

  await t.step("exit 3 (INVALID) moves the task to error/", async () => {
    await using root = await tempRoot();
    const s = await scene(root.path);
    const report = await s.run("exit 3", { maxAttempts: 5 });
    equal(report.errored, 1);
    ok(await exists(s.error));
    equal((await readTask(s.error)).failures?.at(-1)?.result, "INVALID");
  });
});

Deno.test("execHandler() records a status outside 0..3 with the stderr tail, and errors the task", async () => {
  await using root = await tempRoot();
  const s = await scene(root.path);
  const report = await s.run("echo 'cannot connect to the mail server' >&2; exit 7");
  equal(report.errored, 1, "maxAttempts() 0: no retry");
  const failure = (await readTask(s.error)).failures?.at(-1);
  equal(failure?.result, "ERROR");
  equal(failure?.fate, "error");
  match(failure?.message ?? "", /^ExecHandlerError: .*exited with status 7\b/);
  match(failure?.message ?? "", /stderr: cannot connect to the mail server$/);
  equal(failure?.stack, undefined, "the JS stack of an exec failure says nothing");
});

Deno.test("execHandler() retries a status outside 0..3 while maxAttempts() allows, as RETRY", async () => {
  await using root = await tempRoot();
  const s = await scene(root.path);
  const command = "echo 'cannot connect to the mail server' >&2; exit 7";
  const first = await s.run(command, { maxAttempts: 1 });
  deepEqual([first.retried, first.errored], [1, 0]);
  const retried = await readTask(s.inbox);
  equal(retried.retry_count, 1);
  const record = retried.failures?.at(-1);
  deepEqual([record?.result, record?.fate], ["ERROR", undefined]);
  match(record?.message ?? "", /exited with status 7; .*stderr: cannot connect to the mail server$/);
  equal(record?.output, "cannot connect to the mail server");
  const second = await s.run(command, { maxAttempts: 1 });
  equal(second.errored, 1, "error/ once the budget is used up");
  const failure = (await readTask(s.error)).failures?.at(-1);
  deepEqual([failure?.result, failure?.fate], ["ERROR", "error"]);
});

Deno.test("execHandler() passes stderr to the log line by line and records its tail for every result but SUCCESS", async (t) => {
  for (const [code, where] of [[0, "archive"], [1, "inbox"], [2, "error"], [3, "error"]] as const) {
    await t.step(`exit ${code}`, async () => {
      await using root = await tempRoot();
      const s = await scene(root.path);
      const events: RunEvent[] = [];
      const handler = execHandler(`printf 'first line\\nsecond line\\nno newline' >&2; exit ${code}`, {
        cwd: root.path,
      });
      await runOnce(root.path, {
        name: NAME,
        eventType: EVENT_TYPE,
        handler,
        durable: false,
        onEvent: (event) => events.push(event),
      });
      deepEqual(events.filter((event) => event.type === "output"), [
        { type: "output", listener: `${EVENT_TYPE}/${NAME}`, sequence: 1, line: "first line" },
        { type: "output", listener: `${EVENT_TYPE}/${NAME}`, sequence: 1, line: "second line" },
        { type: "output", listener: `${EVENT_TYPE}/${NAME}`, sequence: 1, line: "no newline" },
      ]);
      const task = await readTask(s[where]);
      if (code === 0) return equal(task.failures, undefined);
      equal(task.failures?.at(-1)?.output, "first line\nsecond line\nno newline");
    });
  }
});

Deno.test("execHandler() passes a very long stderr line on in pieces of 4096 characters", async () => {
  await using root = await tempRoot();
  await scene(root.path);
  const lines: string[] = [];
  await runOnce(root.path, {
    name: NAME,
    eventType: EVENT_TYPE,
    handler: execHandler("head -c 10000 /dev/zero | tr '\\0' x >&2; printf '\\nend\\n' >&2", { cwd: root.path }),
    durable: false,
    onEvent: (event) => event.type === "output" && lines.push(event.line),
  });
  deepEqual(lines.map((line) => line.length), [4096, 4096, 1808, 3]);
  equal(lines.at(-1), "end");
});

Deno.test("hurah run --exec: a missing script's stderr is logged with the task named, and recorded", async () => {
  await using root = await tempRoot();
  const register = await runCli(["run", NAME, EVENT_TYPE, "--exec", "exit 0", root.path]);
  equal(register.code, 0, register.stderr);
  await new Dispatcher(root.path, { durable: false }).dispatch(EVENT_TYPE, { n: 1 });
  const dir = join(root.path, listenerPath(NAME, EVENT_TYPE));
  const result = await runCli(["run", NAME, EVENT_TYPE, "--exec", "sh ./missing.sh", root.path], { cwd: root.path });
  equal(result.code, 0, result.stderr);
  match(untimed(result.stderr), /^product\/created\/shell #1 \| .*missing\.sh.*$/m);
  const failure = (await readTask(join(dir, Layout.ERROR, "1.json"))).failures?.at(-1);
  match(failure?.output ?? "", /missing\.sh/);
});

Deno.test("execHandler() records death by a signal with the stderr tail", async () => {
  await using root = await tempRoot();
  const s = await scene(root.path);
  const report = await s.run("echo 'about to die' >&2; kill -9 $$");
  equal(report.errored, 1);
  const failure = (await readTask(s.error)).failures?.at(-1);
  equal(failure?.result, "ERROR");
  match(failure?.message ?? "", /was killed by SIGKILL/);
  match(failure?.message ?? "", /stderr: about to die$/);
});

Deno.test("execHandler() passes the exact task JSON on stdin and the HURAH_* variables", async () => {
  await using root = await tempRoot();
  const s = await scene(root.path, { product_id: 42, name: 'caf\u00e9 "quoted" / slash', list: [1, 2.5, null] });
  // The retry count seen by the second attempt must be 1.
  await s.run("exit 2", { maxAttempts: 2 });
  const retried = await Deno.readTextFile(s.inbox);
  const report = await s.run(
    "cat > stdin.json; env | grep '^HURAH_' | sort > env.txt; exit 0",
    { maxAttempts: 2 },
  );
  equal(report.archived, 1);
  equal(await Deno.readTextFile(join(root.path, "stdin.json")), retried + "\n", "stdin is the file's text");
  const env = Object.fromEntries(
    (await Deno.readTextFile(join(root.path, "env.txt"))).trim().split("\n").map((line) => {
      const at = line.indexOf("=");
      return [line.slice(0, at), line.slice(at + 1)];
    }),
  );
  const task = JSON.parse(retried) as TaskRecord;
  const expected = {
    HURAH_LISTENER: NAME,
    HURAH_LISTENER_ID: listenerId(NAME, EVENT_TYPE),
    HURAH_EVENT_TYPE: EVENT_TYPE,
    HURAH_SEQUENCE: "1",
    HURAH_RETRY_COUNT: "1",
    HURAH_TASK_ID: String(task.task_id),
    HURAH_DELIVERY: String(task.delivery),
  };
  for (const [name, value] of Object.entries(expected)) equal(env[name], value, name);
  match(String(task.task_id), /^[0-9a-f-]{36}$/);
});

Deno.test("execHandler() on timeout kills the command's whole process group, grandchildren included", async () => {
  await using root = await tempRoot();
  const s = await scene(root.path);
  // The command (sh), a nested sh, and a sleep in the background of the nested one.
  const command = "echo $$ > child.pid; sh -c 'echo $$ > sub.pid; sleep 30 & echo $! > grandchild.pid; wait'";
  const pidFiles = ["child.pid", "sub.pid", "grandchild.pid"].map((file) => join(root.path, file));
  const pids: number[] = [];
  try {
    const first = await s.run(command, { maxAttempts: 1, timeoutMs: 1000 });
    for (const file of pidFiles) pids.push(await readPid(file));
    for (const pid of pids) ok(await waitGone(pid), `process ${pid} still runs after the timeout`);
    equal(first.retried, 1, "a timeout counts as a RETRY");
    const retried = await readTask(s.inbox);
    equal(retried.retry_count, 1);
    deepEqual(retried.failures?.map((f) => [f.result, f.message, f.fate]), [
      ["TIMEOUT", "timed out after 1000 ms", undefined],
    ]);

    for (const file of pidFiles) await Deno.remove(file);
    const second = await s.run(command, { maxAttempts: 1, timeoutMs: 1000 });
    for (const file of pidFiles) pids.push(await readPid(file));
    for (const pid of pids.slice(3)) ok(await waitGone(pid), `process ${pid} still runs after the timeout`);
    equal(second.errored, 1, "the retries are used up");
    const errored = await readTask(s.error);
    const last = errored.failures?.at(-1);
    equal(last?.result, "TIMEOUT");
    equal(last?.fate, "error");
    match(last?.message ?? "", /timed out/);
    equal(errored.failures?.length, 2);
  } finally {
    killAll(pids);
  }
});

Deno.test("execHandler() drains ~10 MB of stdout and ~10 MB of stderr without a deadlock", async (t) => {
  const tenMb = 10 * 1024 * 1024;

  await t.step("exit 7: the failure record keeps only the last 4096 bytes of stderr", async () => {
    await using root = await tempRoot();
    const s = await scene(root.path);
    const command = `(yes 'standard output line' | head -c ${tenMb}) & ` +
      `(yes 'standard error line' | head -c ${tenMb} >&2); wait; echo 'the very end' >&2; exit 7`;
    const report = await s.run(command);
    equal(report.errored, 1);
    const message = (await readTask(s.error)).failures?.at(-1)?.message ?? "";
    match(message, /exited with status 7/);
    match(message, /standard error line\nthe very end$/);
    const tail = message.slice(message.indexOf("; stderr: ") + "; stderr: ".length);
    ok(tail.length <= 4096, `stderr tail of ${tail.length} bytes`);
    ok(tail.length > 4000, `stderr tail of ${tail.length} bytes, expected close to 4096`);
    ok(!tail.includes("standard output"), "stdout is discarded");
  });

  await t.step("exit 0: the task is archived", async () => {
    await using root = await tempRoot();
    const s = await scene(root.path);
    const report = await s.run(`head -c ${tenMb} /dev/zero & head -c ${tenMb} /dev/zero >&2; wait; exit 0`);
    equal(report.archived, 1);
    ok(await exists(s.archive));
  });
});

Deno.test("execHandler() is fine with a command that never reads its 2 MB stdin", async () => {
  await using root = await tempRoot();
  const s = await scene(root.path, { blob: "x".repeat(2 * 1024 * 1024) });
  ok(s.text.length > 2 * 1024 * 1024);
  const report = await s.run("sleep 0.1; exit 0");
  equal(report.archived, 1);
  ok(await exists(s.archive));
});

Deno.test("execHandler() completes when a background grandchild keeps the pipes open", async () => {
  await using root = await tempRoot();
  const s = await scene(root.path);
  const pidFile = join(root.path, "stray.pid");
  const pids: number[] = [];
  try {
    const report = await s.run(`sleep 30 & echo $! > ${pidFile}; echo bye; exit 0`);
    pids.push(await readPid(pidFile));
    equal(report.archived, 1);
    ok(await isRunning(pids[0]), "the pass ended while the grandchild still runs: it did not wait for it");
  } finally {
    killAll(pids);
    for (const pid of pids) await waitGone(pid);
  }
});

Deno.test("hurah run --exec: exit 1 keeps the task and exits 1, exit 255 errors it with the stderr tail", async () => {
  await using root = await tempRoot();
  const register = await runCli(["run", NAME, EVENT_TYPE, "--exec", "exit 0", root.path]);
  equal(register.code, 0, register.stderr);
  const dispatcher = new Dispatcher(root.path, { durable: false });
  await dispatcher.dispatch(EVENT_TYPE, { n: 1 });
  const dir = join(root.path, listenerPath(NAME, EVENT_TYPE));

  const failing = await runCli(["run", NAME, EVENT_TYPE, "--exec", "exit 1", root.path]);
  equal(failing.code, 1, failing.stderr);
  match(failing.stdout, /stopped at task 1 \(FAILURE\)/);
  ok(await exists(join(dir, Layout.INBOX, "1.json")));

  const command = `echo "PHP Fatal error: in $HURAH_LISTENER #$HURAH_SEQUENCE" >&2; exit 255`;
  const crashing = await runCli(["run", NAME, EVENT_TYPE, "--exec", command, root.path]);
  equal(crashing.code, 0, crashing.stderr);
  match(crashing.stdout, /1 handled, 0 archived, 1 to error/);
  const failure = (await readTask(join(dir, Layout.ERROR, "1.json"))).failures?.at(-1);
  match(failure?.message ?? "", /exited with status 255.*stderr: PHP Fatal error: in shell #1$/);

  await dispatcher.dispatch(EVENT_TYPE, { n: 2 });
  const ok0 = await runCli(["run", NAME, EVENT_TYPE, "--exec", "cat > /dev/null", root.path]);
  equal(ok0.code, 0, ok0.stderr);
  ok(await exists(join(dir, Layout.ARCHIVE, "2.json")));
});

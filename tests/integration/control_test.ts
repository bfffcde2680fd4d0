/**
 * Acceptance of `hurah pause`, `resume` and `discard` against a running
 * `hurah watch` (real processes): a pause stops new work within one task
 * (ordered, and with --concurrency 2), status shows it, resume restarts the
 * work; a discard unblocks a watcher stopped on FAILURE, and requeue brings
 * the task back. (Bad input: tests/cli/control_test.ts.)
 *
 * The handler is a shell command that logs `start N` and `end N` and waits
 * for a release file, so that the test decides when a task ends. Each wait
 * polls the disk or the log with a generous deadline that only keeps a broken
 * build from hanging; no assertion depends on timing.
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher, Layout, listenerPath } from "../../mod.ts";
import { killQuietly, runCli, sequencesIn, spawnCli, tempRoot, waitUntil } from "../_helpers.ts";

/** Long enough for anything that works, on a loaded machine; only there so that a broken build fails instead of hanging. */
const DEADLINE_MS = 90_000;

/** Waits until `check` holds, at most {@linkcode DEADLINE_MS}. */
function until(what: string | (() => string), check: () => boolean): Promise<void> {
  return waitUntil(what, check, DEADLINE_MS, 10);
}
const ID = "job/worker";

/**
 * The handler: logs `start N`, waits for `release-N` or `release-all` in the
 * control directory, logs `end N`, and returns FAILURE while `fail-N` exists.
 */
const HANDLER = [
  'echo "start $HURAH_SEQUENCE" >> "$CONTROL/log"',
  'while [ ! -e "$CONTROL/release-$HURAH_SEQUENCE" ] && [ ! -e "$CONTROL/release-all" ]; do sleep 0.02; done',
  'echo "end $HURAH_SEQUENCE" >> "$CONTROL/log"',
  'if [ -e "$CONTROL/fail-$HURAH_SEQUENCE" ]; then exit 1; fi',
].join("; ");

/** A root, a control directory, and a `hurah watch` of job/worker over it whose stderr is collected. */
async function setUp(watchArgs: string[] = []) {
  const root = await tempRoot();
  const control = await Deno.makeTempDir({ prefix: "hurah_control_" });
  const env = { HURAH_ROOT: root.path, CONTROL: control, USER: "alice" };
  const dir = join(root.path, listenerPath("worker", "job"));
  const child = spawnCli(["watch", "worker", "job", "--exec", HANDLER, "--no-fsync", ...watchArgs], { env });
  let stderr = "";
  let exited = false;
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  const done = Promise.all([child.status, reading, new Response(child.stdout).text()]).then(() => exited = true);
  const log = () => {
    try {
      return Deno.readTextFileSync(join(control, "log")).split("\n").filter((line) => line !== "");
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
  };
  await waitUntil(
    () => `hurah watch to start:\n${stderr}`,
    () => {
      if (exited) throw new Error(`hurah watch exited early:\n${stderr}`);
      return stderr.includes("hurah watch: watching ");
    },
    DEADLINE_MS,
    10,
  );
  return {
    root: root.path,
    control,
    env,
    dir,
    log,
    stderr: () => stderr,
    touch: (name: string) => Deno.writeTextFileSync(join(control, name), ""),
    dispatch: async (count: number) => {
      const dispatcher = new Dispatcher(root.path, { durable: false });
      for (let n = 0; n < count; n++) await dispatcher.dispatch("job", { n });
    },
    async [Symbol.asyncDispose]() {
      // Handlers still waiting end first (else, on a failed test, their shell loops outlive the control directory).
      Deno.writeTextFileSync(join(control, "release-all"), "");
      killQuietly(child, "SIGTERM");
      const timer = setTimeout(() => killQuietly(child), 30_000);
      await done;
      clearTimeout(timer);
      await Deno.remove(control, { recursive: true });
      await root[Symbol.asyncDispose]();
    },
  };
}

/** How many log lines say `start` (tasks begun). */
function starts(lines: string[]): string[] {
  return lines.filter((line) => line.startsWith("start "));
}

for (const concurrency of [1, 2]) {
  Deno.test(`hurah pause stops hurah watch${concurrency > 1 ? ` --concurrency ${concurrency}` : ""} within one task; resume restarts it`, async () => {
    await using t = await setUp(concurrency > 1 ? ["--concurrency", String(concurrency)] : []);
    const archive = join(t.dir, Layout.ARCHIVE);
    await t.dispatch(5);
    await waitUntil("the first tasks to start", () => starts(t.log()).length === concurrency, DEADLINE_MS, 10);

    const paused = await runCli(["pause", ID, "--reason", "mail server down"], { env: t.env });
    equal(paused.code, 0, paused.stderr);
    match(paused.stdout, /^job\/worker paused by alice on .+ since \S+: mail server down\n$/);
    t.touch("release-all"); // the running tasks finish
    await until(() => `the watcher to log the pause:\n${t.stderr()}`, () => t.stderr().includes("PAUSED"));
    await until("the running tasks to be archived", () => sequencesIn(archive).length === concurrency);
    match(t.stderr(), /job\/worker PAUSED by alice on \S+ since \S+: mail server down; no new task is taken/);
    equal(starts(t.log()).length, concurrency, `no task started after the pause:\n${t.log().join("\n")}`);
    deepEqual(sequencesIn(join(t.dir, Layout.INBOX)).length, 5 - concurrency, "the others stay pending");

    const status = await runCli(["status", "--json"], { env: t.env });
    equal(status.code, 0, status.stderr);
    const [listener] = JSON.parse(status.stdout).listeners;
    equal(listener.paused.by, "alice");
    equal(listener.paused.reason, "mail server down");
    ok(!Number.isNaN(Date.parse(listener.paused.since)));
    const table = await runCli(["status", "--table"], { env: t.env });
    match(table.stdout, new RegExp(`^job/worker +paused +${5 - concurrency} `, "m"));
    match(table.stdout, /^PAUSED +SINCE +BY +REASON\njob\/worker +\S+ +alice on \S+ +mail server down$/m);

    const resumed = await runCli(["resume", ID], { env: t.env });
    equal(resumed.code, 0, resumed.stderr);
    match(resumed.stdout, /^job\/worker resumed \(it was paused by alice on .+: mail server down\)\n$/);
    await until("every task archived", () => sequencesIn(archive).length === 5);
    await until(() => `the watcher to log the resume:\n${t.stderr()}`, () => t.stderr().includes("RESUMED"));
    match(
      t.stderr(),
      /job\/worker RESUMED, taking tasks again \(was paused by alice on \S+ since \S+: mail server down\)/,
    );
    equal(starts(t.log()).length, 5, "each task once");
  });
}

Deno.test("hurah discard unblocks a FAILURE-blocked hurah watch; hurah requeue brings the task back", async () => {
  await using t = await setUp();
  const { inbox, error, archive } = {
    inbox: join(t.dir, Layout.INBOX),
    error: join(t.dir, Layout.ERROR),
    archive: join(t.dir, Layout.ARCHIVE),
  };
  t.touch("fail-1");
  t.touch("release-all");
  await t.dispatch(3);
  await until(
    () => `the watcher to stop at #1:\n${t.stderr()}`,
    () => t.stderr().includes("paused after FAILURE of #1"),
  );
  deepEqual(sequencesIn(archive), [], "blocked: nothing after #1 runs");

  const discarded = await runCli(["discard", ID, "1", "--reason", "poison message"], { env: t.env });
  equal(discarded.code, 0, discarded.stderr);
  equal(discarded.stdout, "job/worker #1 inbox/ -> error/\n");
  await until("the watcher to go on with #2 and #3", () => sequencesIn(archive).length === 2);
  deepEqual(sequencesIn(archive), [2, 3]);
  deepEqual(sequencesIn(error), [1]);
  const task = JSON.parse(Deno.readTextFileSync(join(error, "1.json")));
  const last = task.failures.at(-1);
  equal(last.result, "DISCARDED");
  match(last.message, /^discarded by alice on \S+: poison message$/);
  const inspect = await runCli(["inspect", ID, "1"], { env: t.env });
  match(inspect.stdout, /DISCARDED -> error .*discarded by alice on \S+: poison message/);

  Deno.removeSync(join(t.control, "fail-1")); // the dependency is fixed
  const requeued = await runCli(["requeue", ID, "1"], { env: t.env });
  equal(requeued.code, 0, requeued.stderr);
  await until("the requeued task to be handled", () => sequencesIn(archive).length === 3);
  deepEqual(sequencesIn(inbox), []);
  deepEqual(sequencesIn(error), []);
  const handled = JSON.parse(Deno.readTextFileSync(join(archive, "1.json")));
  deepEqual(handled.failures.map((failure: { result: string }) => failure.result).slice(-2), ["DISCARDED", "REQUEUED"]);
});

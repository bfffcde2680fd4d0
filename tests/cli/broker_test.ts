/**
 * The commands with `--broker` (and `HURAH_BROKER`) against a real
 * nats-server: one server for the file, the real CLI for every step.
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { killQuietly, runCli, spawnCli, tempRoot, untimed, waitUntil } from "../_helpers.ts";
import { NATS_SKIP, reportSkip, startNatsServer } from "../_nats.ts";

reportSkip("tests/cli/broker_test.ts");

/** The listener of the status report named `listener`. */
function listenerOf(stdout: string, listener: string): Record<string, unknown> & { broker: Record<string, unknown> } {
  const report = JSON.parse(stdout) as { listeners: (Record<string, unknown> & { broker: Record<string, unknown> })[] };
  const found = report.listeners.find((each) => each.listener === listener);
  ok(found !== undefined, `${listener} in ${stdout}`);
  return found;
}

Deno.test({
  name: "hurah run, dispatch, status, inspect, requeue, prune and watch with --broker (and HURAH_BROKER)",
  ignore: NATS_SKIP !== undefined,
  async fn(t) {
    await using server = await startNatsServer();
    await using scratch = await tempRoot();
    const broker = ["--broker", server.url];
    const seen = join(scratch.path, "seen.txt");
    // Appends the task it reads on stdin, one line a task; "bad" payloads are INVALID (exit 3).
    const exec = `t=$(cat); printf '%s\\n' "$t" >> '${seen}'; case "$t" in *'"bad"'*) exit 3;; esac`;
    const seenTasks = async () =>
      (await Deno.readTextFile(seen).catch(() => "")).split("\n").filter(Boolean).map((line) => JSON.parse(line));

    await t.step("hurah run --broker registers the listener", async () => {
      const result = await runCli(["run", "mailer", "user/signup", "--exec", exec, ...broker]);
      equal(result.code, 0, result.stderr);
      equal(result.stdout, "user/signup/mailer: 0 handled, 0 archived, 0 to error, 0 to retry, 0 quarantined\n");
      match(untimed(result.stderr), /user\/signup\/mailer registered/);
    });

    await t.step("hurah dispatch --broker delivers to it", async () => {
      const result = await runCli(["dispatch", "user/signup", '{"id": 1}', "--json", ...broker]);
      equal(result.code, 0, result.stderr);
      const deliveries = JSON.parse(result.stdout) as { listener: string; sequence: number }[];
      deepEqual(deliveries.map((d) => [d.listener, d.sequence]), [["mailer", 1]]);
    });

    await t.step("hurah status --broker --json shows it pending", async () => {
      const result = await runCli(["status", "--json", ...broker]);
      equal(result.code, 0, result.stderr);
      const mailer = listenerOf(result.stdout, "user/signup/mailer");
      equal(mailer.pending, 1);
      equal(mailer.broker.missing, false);
    });

    await t.step("hurah inspect --broker finds the pending task", async () => {
      const result = await runCli(["inspect", "user/signup/mailer", "1", "--json", ...broker]);
      equal(result.code, 0, result.stderr);
      const inspection = JSON.parse(result.stdout) as { found: { location: string; task: { payload: unknown } }[] };
      deepEqual(inspection.found.map((found) => found.location), ["inbox"]);
    });

    await t.step("hurah run --broker handles it with the exec handler", async () => {
      const result = await runCli(["run", "mailer", "user/signup", "--exec", exec, ...broker]);
      equal(result.code, 0, result.stderr);
      equal(result.stdout, "user/signup/mailer: 1 handled, 1 archived, 0 to error, 0 to retry, 0 quarantined\n");
      const tasks = await seenTasks();
      equal(tasks.length, 1);
      deepEqual([tasks[0].payload, tasks[0].sequence, tasks[0].event_type], [{ id: 1 }, 1, "user/signup"]);
      const status = await runCli(["status", "--json", ...broker]);
      equal(listenerOf(status.stdout, "user/signup/mailer").pending, 0);
    });

    await t.step("HURAH_BROKER names the broker (and --replicas 1 is taken)", async () => {
      const env = { HURAH_BROKER: server.url };
      const dispatched = await runCli(["dispatch", "user/signup", '"bad"'], { env });
      equal(dispatched.code, 0, dispatched.stderr);
      match(dispatched.stdout, /^mailer 2 /);
      const run = await runCli(["run", "mailer", "user/signup", "--exec", exec, "--replicas", "1"], { env });
      equal(run.code, 0, run.stderr);
      equal(run.stdout, "user/signup/mailer: 1 handled, 0 archived, 1 to error, 0 to retry, 0 quarantined\n");
      const status = await runCli(["status", "--json"], { env });
      equal(listenerOf(status.stdout, "user/signup/mailer").errors, 1);
    });

    await t.step("hurah requeue --broker puts the error back, and the next run sees it again", async () => {
      const result = await runCli(["requeue", "user/signup/mailer", "--all", "--json", ...broker]);
      equal(result.code, 0, result.stderr);
      deepEqual((JSON.parse(result.stdout) as { requeued: number[] }).requeued.length, 1);
      const run = await runCli(["run", "mailer", "user/signup", "--exec", exec, ...broker]);
      equal(run.code, 0, run.stderr);
      match(run.stdout, /1 handled, 0 archived, 1 to error/);
      equal((await seenTasks()).filter((task) => task.payload === "bad").length, 2);
    });

    await t.step("hurah prune --broker removes the error records", async () => {
      const result = await runCli(["prune", "--older-than", "0s", "--error", "--json", ...broker]);
      equal(result.code, 0, result.stderr);
      ok((JSON.parse(result.stdout) as { removed: number }).removed >= 1, result.stdout);
      const status = await runCli(["status", "--json", ...broker]);
      equal(listenerOf(status.stdout, "user/signup/mailer").errors, 0);
    });

    await t.step("hurah run --config --broker: the broker goes past the config file's root", async () => {
      const config = join(scratch.path, "hurah.json");
      const handlers = [{ name: "audit", eventType: "", exec: "cat > /dev/null" }];
      await Deno.writeTextFile(config, JSON.stringify({ root: "./no_such_root", handlers }));
      const result = await runCli(["run", "--config", config, ...broker]);
      equal(result.code, 0, result.stderr);
      equal(result.stdout, "audit: 0 handled, 0 archived, 0 to error, 0 to retry, 0 quarantined\n");
      const status = await runCli(["status", "--json", ...broker]);
      equal(listenerOf(status.stdout, "audit").broker.missing, false);
    });

    await t.step("hurah watch --broker handles what arrives and stops on SIGTERM", async () => {
      const watcher = spawnCli(["watch", "mailer", "user/signup", "--exec", exec, ...broker]);
      const output = watcher.output();
      try {
        const before = (await seenTasks()).length;
        const dispatched = await runCli(["dispatch", "user/signup", '{"id": 3}', ...broker]);
        equal(dispatched.code, 0, dispatched.stderr);
        await waitUntil("the watcher to handle the task", async () => (await seenTasks()).length > before);
        deepEqual((await seenTasks()).at(-1).payload, { id: 3 });
        // It has handled a task, so it is past its start: SIGTERM is a shutdown.
        killQuietly(watcher, "SIGTERM");
        const { code, stderr } = await output;
        const text = untimed(new TextDecoder().decode(stderr));
        equal(code, 0, text);
        match(text, new RegExp(`watching mailer \\("user/signup"\\) under ${server.url}`));
        match(text, /user\/signup\/mailer #3 SUCCESS/);
        match(text, /hurah watch: stopped/);
      } finally {
        killQuietly(watcher);
        await watcher.status;
      }
    });
  },
});

Deno.test("--root (or an event root argument) and --broker exclude each other: exit 2, before connecting", async () => {
  // Port 1: nothing listens there, so a command that tried to connect would fail otherwise.
  for (
    const args of [
      ["status", "--root", "/tmp", "--broker", "nats://127.0.0.1:1"],
      ["run", "mailer", "user/signup", "--exec", "true", "/tmp", "--broker", "nats://127.0.0.1:1"],
    ]
  ) {
    const result = await runCli(args);
    equal(result.code, 2, result.stderr);
    match(result.stderr, /and --broker exclude each other/);
  }
});

Deno.test("file-only options are refused with --broker, and HURAH_ROOT with HURAH_BROKER asks which: exit 2", async () => {
  const broker = ["--broker", "nats://127.0.0.1:1"];
  const refused: [string[], RegExp][] = [
    [["dispatch", "a", ...broker, "--no-fsync"], /--no-fsync is for an event root/],
    [["dispatch", "a", ...broker, "--lock-timeout", "1s"], /--lock-timeout is for an event root/],
    [["run", "l", "a", "--exec", "true", ...broker, "--create-root"], /--create-root is for an event root/],
    [["watch", "l", "a", "--exec", "true", ...broker, "--archive", "delete"], /--archive is for an event root/],
    [["requeue", "a/l", "--all", ...broker, "--no-fsync"], /--no-fsync is for an event root/],
    [["systemd", "l", "a", "--exec", "true", ...broker, "--no-fsync"], /--no-fsync is for an event root/],
    [["status", "--root", "/tmp", "--replicas", "3"], /--replicas is for a broker/],
    [["status", ...broker, "--replicas", "0"], /--replicas must be a whole number/],
  ];
  for (const [args, message] of refused) {
    const result = await runCli(args);
    equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    match(result.stderr, message);
  }
  const both = await runCli(["status"], { env: { HURAH_ROOT: "/tmp", HURAH_BROKER: "nats://127.0.0.1:1" } });
  equal(both.code, 2, both.stderr);
  match(both.stderr, /both HURAH_ROOT and HURAH_BROKER are set/);
});

Deno.test("hurah status --broker with no server there: exit 1, saying which broker", async () => {
  const result = await runCli(["status", "--broker", "nats://127.0.0.1:1"]);
  equal(result.code, 1, result.stderr);
  match(result.stderr, /^hurah status: cannot connect to the broker nats:\/\/127\.0\.0\.1:1 /);
});

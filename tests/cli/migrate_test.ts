/**
 * `hurah migrate --root DIR --broker URL` against a real nats-server: a file
 * root with three listeners (pending, archived and retried tasks) moves to
 * the broker; a second run adds nothing; a run killed with SIGKILL and run
 * again stores every task once; `hurah run --broker` then handles each task
 * once, with its sequence, retry count and failure records.
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher, runOnce, Task } from "../../mod.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { migrateRoot, NatsBackend } from "../../src/backend/nats/mod.ts";
import { migrationId } from "../../src/backend/nats/migrate.ts";
import { REQUEUE_PREFIX, REQUEUE_STREAM } from "../../src/backend/nats/subjects.ts";
import { checkListener } from "../../src/protocol/listener_id.ts";
import { killQuietly, runCli, sequencesIn, spawnCli, tempRoot, waitUntil } from "../_helpers.ts";
import { NATS_SKIP, reportSkip, startNatsServer } from "../_nats.ts";

reportSkip("tests/cli/migrate_test.ts");

/** The listeners of the root, their directories, and the tasks each has pending before the migration. */
const LISTENERS = [
  {
    id: "product/created/scaler",
    name: "scaler",
    eventType: "product/created",
    dir: "product/created/scaler_listener",
  },
  { id: "product/feed", name: "feed", eventType: "product", dir: "product/feed_listener" },
  { id: "log", name: "log", eventType: "", dir: "log_listener" },
];

/** How many messages the requeue stream holds per subject of a consumer (each migrated task is one subject). */
async function storedPerTask(url: string, consumer: string): Promise<number[]> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(REQUEUE_STREAM, { subjects_filter: `${REQUEUE_PREFIX}.${consumer}.>` });
    return Object.values(info.state.subjects ?? {});
  } finally {
    await nc.close();
  }
}

Deno.test({
  name: "hurah migrate moves a root's pending tasks to the broker once, and hurah run --broker handles them",
  ignore: NATS_SKIP !== undefined,
  async fn(t) {
    await using server = await startNatsServer();
    await using scratch = await tempRoot();
    const root = join(scratch.path, "root");
    await Deno.mkdir(root);
    const seen = join(scratch.path, "seen.txt");
    const exec = `cat >> '${seen}'; echo >> '${seen}'`;
    const noop = () => Task.SUCCESS;
    for (const listener of LISTENERS) await runOnce(root, { ...listener, handler: noop }); // registers
    const dispatcher = new Dispatcher(root);
    for (let id = 1; id <= 2; id++) await dispatcher.dispatch("product/created", { id });
    await runOnce(root, { name: "scaler", eventType: "product/created", handler: noop }); // 1, 2 archived
    for (let id = 3; id <= 6; id++) await dispatcher.dispatch("product/created", { id });
    // The log listener's tasks failed once: retry_count 1 and an ERROR failure record, due at once.
    const retry = {
      handleTask: () => {
        throw new Error("flaky");
      },
      maxAttempts: () => 5,
      retryDelay: () => 0,
    };
    await runOnce(root, { name: "log", eventType: "", handler: retry });
    const inbox = (dir: string) => sequencesIn(join(root, dir, "inbox"));
    const migrated = (dir: string) => sequencesIn(join(root, dir, "migrated"));
    const pending = { scaler: [3, 4, 5, 6], feed: [1, 2, 3, 4, 5, 6], log: [1, 2, 3, 4, 5, 6] };
    deepEqual(LISTENERS.map((listener) => inbox(listener.dir)), [pending.scaler, pending.feed, pending.log]);
    const migrate = ["migrate", "--root", root, "--broker", server.url];

    await t.step("refused while a runner holds a listener's run.lock: nothing moved", async () => {
      using lock = await Deno.open(join(root, LISTENERS[1].dir, "run.lock"), { read: true, write: true });
      await lock.lock(true);
      const result = await runCli(migrate);
      equal(result.code, 1, result.stderr);
      match(result.stderr, /holds .*product\/feed_listener\/run\.lock; nothing was migrated/);
      deepEqual(inbox(LISTENERS[0].dir), pending.scaler);
    });

    await t.step("--dry-run says what would move and moves nothing", async () => {
      const result = await runCli([...migrate, "--dry-run"]);
      equal(result.code, 0, result.stderr);
      match(result.stdout, /^product\/created\/scaler: 4 to move -> HURAH_EV_1\/product_screated_sscaler$/m);
      match(result.stdout, /^would move 16 tasks of 3 listeners$/m);
      deepEqual(inbox(LISTENERS[2].dir), pending.log);
      const status = await runCli(["status", "--json", "--broker", server.url]);
      deepEqual(JSON.parse(status.stdout).listeners, []);
    });

    await t.step("moves every pending task, registers every listener", async () => {
      const result = await runCli(migrate);
      equal(result.code, 0, result.stderr);
      equal(
        result.stdout,
        "log: 6 moved -> HURAH_EV_1/log\n" +
          "product/created/scaler: 4 moved -> HURAH_EV_1/product_screated_sscaler\n" +
          "product/feed: 6 moved -> HURAH_EV_1/product_sfeed\n" +
          "moved 16 tasks of 3 listeners\n",
      );
      deepEqual(LISTENERS.map((listener) => inbox(listener.dir)), [[], [], []]);
      deepEqual(migrated(LISTENERS[0].dir), pending.scaler);
      deepEqual(sequencesIn(join(root, LISTENERS[0].dir, "archive")), [1, 2]); // archive/ and error/ stay
      const status = JSON.parse((await runCli(["status", "--json", "--broker", server.url])).stdout) as {
        listeners: { listener: string; pending: number }[];
      };
      deepEqual(status.listeners.map((each) => [each.listener, each.pending]), [
        ["log", 6],
        ["product/created/scaler", 4],
        ["product/feed", 6],
      ]);
    });

    await t.step("a second migrate moves nothing", async () => {
      const result = await runCli(migrate);
      equal(result.code, 0, result.stderr);
      match(result.stdout, /^moved 0 tasks of 3 listeners$/m);
      deepEqual(await storedPerTask(server.url, "log"), [1, 1, 1, 1, 1, 1]);
    });

    await t.step("hurah run --broker handles each task once, with its sequence, retries and failures", async () => {
      for (const listener of LISTENERS) {
        const result = await runCli(["run", listener.name, listener.eventType, "--exec", exec, "--broker", server.url]);
        equal(result.code, 0, result.stderr);
        const count = listener.name === "scaler" ? 4 : 6;
        match(result.stdout, new RegExp(`: ${count} handled, ${count} archived, 0 to error`));
      }
      const tasks = (await Deno.readTextFile(seen)).split("\n").filter(Boolean).map((line) => JSON.parse(line));
      equal(tasks.length, 16);
      // In the order run: scaler's 4, feed's 6, log's 6, each listener's in sequence order.
      deepEqual(tasks.map((task) => task.sequence), [3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]);
      deepEqual(tasks.slice(0, 4).map((task) => task.payload.id), [3, 4, 5, 6]);
      deepEqual(tasks.map((task) => task.retry_count ?? 0), [...Array(10).fill(0), ...Array(6).fill(1)]);
      for (const task of tasks.slice(10)) {
        deepEqual(task.failures.map((f: { result: string; message: string }) => [f.result, f.message]), [[
          "ERROR",
          "Error: flaky",
        ]]);
      }
      const again = await runCli(["run", "log", "", "--exec", exec, "--broker", server.url]);
      match(again.stdout, /: 0 handled/);
    });
  },
});

Deno.test({
  name: "hurah migrate killed with SIGKILL midway and run again: every task once on the broker",
  ignore: NATS_SKIP !== undefined,
  async fn() {
    await using server = await startNatsServer();
    await using scratch = await tempRoot();
    const root = scratch.path;
    const TASKS = 3000;
    await runOnce(root, { name: "bulk", eventType: "a", handler: () => Task.SUCCESS });
    await new Dispatcher(root).dispatchMany(
      Array.from({ length: TASKS }, (_, id) => ({ eventType: "a", payload: { id, pad: "x".repeat(200) } })),
    );
    const dir = join(root, "a", "bulk_listener");
    const migrate = ["migrate", "--root", root, "--broker", server.url];
    const child = spawnCli(migrate);
    let moved = 0;
    try {
      await waitUntil(
        "the first tasks moved",
        () => {
          moved = sequencesIn(join(dir, "migrated"), { others: "skip" }).length;
          return moved > 0;
        },
        60_000,
        5,
      );
    } finally {
      killQuietly(child, "SIGKILL");
      await child.output();
    }
    const left = sequencesIn(join(dir, "inbox")).length;
    ok(left > 0 && left < TASKS, `killed midway: ${left} of ${TASKS} still in the inbox`);
    const result = await runCli(migrate);
    equal(result.code, 0, result.stderr);
    const counts = await storedPerTask(server.url, "a_sbulk");
    equal(counts.length, TASKS);
    ok(counts.every((count) => count === 1), "every task stored once");
    equal(sequencesIn(join(dir, "migrated")).length, TASKS);
    await using backend = await NatsBackend.connect(server.url);
    const handled: number[] = [];
    const handler = (context: { payload: unknown }) => {
      handled.push((context.payload as { id: number }).id);
      return Task.SUCCESS;
    };
    const run = await runOnce(backend, { name: "bulk", eventType: "a", handler });
    equal(run.archived, TASKS);
    deepEqual(handled, Array.from({ length: TASKS }, (_, id) => id)); // each once, in sequence order
    console.log(`killed after ${moved}+ moved, ${left} left; run again: ${result.stdout.trim().split("\n")[0]}`);
  },
});

Deno.test({
  name: "migrateRoot() after a publish whose rename was lost: the broker keeps one copy (Nats-Msg-Id)",
  ignore: NATS_SKIP !== undefined,
  async fn() {
    await using server = await startNatsServer();
    await using scratch = await tempRoot();
    const root = scratch.path;
    await runOnce(root, { name: "m", eventType: "b", handler: () => Task.SUCCESS });
    for (let id = 0; id < 3; id++) await new Dispatcher(root).dispatch("b", { id });
    await using backend = await NatsBackend.connect(server.url);
    const listener = checkListener("m", "b");
    // As a run killed after its publish and before its rename: task 2 published by an earlier migrate.
    const first = await migrateRoot(root, backend, { dryRun: true });
    deepEqual(first.listeners[0].published, [1, 2, 3]);
    const inboxDir = join(root, "b", "m_listener", "inbox");
    const text = await Deno.readFile(join(inboxDir, "2.json"));
    const id = await migrationId(first.listeners[0].location, text);
    deepEqual(await backend.adopt(listener, [{ sequence: 2, bytes: text, id }]), ["stored"]);
    const report = await migrateRoot(root, backend);
    deepEqual([report.listeners[0].published, report.listeners[0].alreadyThere], [[1, 3], [2]]);
    deepEqual(await storedPerTask(server.url, "b_sm"), [1, 1, 1]);
  },
});

/**
 * The operator's controls on the file backend: `pause()`/`resume()` (the
 * marker, status, runOnce and watch taking no new task), and `discard()`
 * (pending tasks to error/ with a DISCARDED record, requeue bringing them
 * back, unknown and in-flight tasks refused, the run lock respected).
 */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import {
  discard,
  Dispatcher,
  Layout,
  LockTimeoutError,
  pause,
  requeue,
  resume,
  type RunEvent,
  runOnce,
  status,
  Task,
  type TaskContext,
  watch,
} from "../../../mod.ts";
import { lockFile } from "../../../src/backend/file/_fs.ts";
import { sequencesIn, tempRoot, waitUntil } from "../../_helpers.ts";

const LISTENER = { name: "mailer", eventType: "user/signup" } as const;
const ID = "user/signup/mailer";
const DEADLINE_MS = 30_000;

/** A registered listener with `count` pending tasks; its directories. */
async function listenerWith(root: string, count: number) {
  await runOnce(root, { ...LISTENER, handler: () => Task.SUCCESS, durable: false });
  const dispatcher = new Dispatcher(root, { durable: false });
  for (let n = 1; n <= count; n++) await dispatcher.dispatch("user/signup", { n });
  const dir = join(root, "user", "signup", "mailer_listener");
  return { dir, inbox: join(dir, Layout.INBOX), error: join(dir, Layout.ERROR), archive: join(dir, Layout.ARCHIVE) };
}

Deno.test("pause() writes the marker, status() and runOnce() see it, resume() takes it away", async () => {
  await using root = await tempRoot();
  const { dir, inbox, archive } = await listenerWith(root.path, 2);
  const now = () => new Date("2026-12-02T05:00:00.000Z");
  const paused = await pause(root.path, { listener: ID, reason: "mail server down", by: "alice", now });
  equal(paused.listener, ID);
  equal(paused.previous, null);
  deepEqual({ ...paused.paused, host: "-" }, {
    since: "2026-12-02T05:00:00.000Z",
    by: "alice",
    host: "-",
    reason: "mail server down",
  });
  deepEqual(JSON.parse(Deno.readTextFileSync(join(dir, Layout.PAUSED))), paused.paused);
  deepEqual(sequencesIn(join(dir, Layout.TMP)), [], "staged in tmp/, renamed into place");
  deepEqual((await status(root.path)).listeners[0].paused, paused.paused);

  const events: RunEvent[] = [];
  const report = await runOnce(root.path, {
    ...LISTENER,
    handler: () => Task.SUCCESS,
    durable: false,
    onEvent: (event) => events.push(event),
  });
  equal(report.handled, 0, "a paused listener takes no task");
  deepEqual(report.paused, paused.paused);
  deepEqual(events, [{ type: "pause", listener: ID, ...paused.paused }]);
  deepEqual(sequencesIn(inbox), [1, 2], "dispatched tasks stay pending");
  await new Dispatcher(root.path, { durable: false }).dispatch("user/signup", { n: 3 });
  deepEqual(sequencesIn(inbox), [1, 2, 3], "dispatching goes on into the inbox");

  const again = await pause(root.path, { listener: ID, reason: "still down", by: "bob" });
  deepEqual(again.previous, paused.paused, "pausing again replaces the marker and says what it replaced");

  const resumed = await resume(root.path, { listener: ID });
  deepEqual(resumed.resumed, again.paused);
  equal((await status(root.path)).listeners[0].paused, undefined, "no paused field once resumed");
  deepEqual(await resume(root.path, { listener: ID }), { listener: ID, resumed: null }, "not paused: nothing");
  equal((await runOnce(root.path, { ...LISTENER, handler: () => Task.SUCCESS, durable: false })).archived, 3);
  deepEqual(sequencesIn(archive), [1, 2, 3]);
});

Deno.test("a pause marker that is not one still pauses, saying what is wrong", async () => {
  await using root = await tempRoot();
  const { dir } = await listenerWith(root.path, 1);
  Deno.writeTextFileSync(join(dir, Layout.PAUSED), "not json");
  const report = await runOnce(root.path, { ...LISTENER, handler: () => Task.SUCCESS, durable: false });
  equal(report.handled, 0);
  match(report.paused?.reason ?? "", /paused\.json is not JSON .*; paused until it is removed \(hurah resume\)/);
  ok((await resume(root.path, { listener: ID })).resumed !== null);
});

for (const concurrency of [1, 2]) {
  Deno.test(`watch() (concurrency ${concurrency}) lets running tasks finish on pause, takes none, and goes on after resume`, async () => {
    await using root = await tempRoot();
    const { archive } = await listenerWith(root.path, 6);
    const started: number[] = [];
    const release = Promise.withResolvers<void>();
    const events: RunEvent[] = [];
    {
      await using watcher = watch(root.path, {
        listeners: [{
          ...LISTENER,
          concurrency,
          handler: async (context: TaskContext) => {
            started.push(context.sequence);
            if (context.sequence <= concurrency) await release.promise;
            return Task.SUCCESS;
          },
        }],
        rescanIntervalMs: 60_000,
        durable: false,
        onEvent: (event) => events.push(event),
      });
      await watcher.ready;
      await waitUntil("the first tasks to start", () => started.length === concurrency, DEADLINE_MS, 5);
      const { paused } = await pause(root.path, { listener: ID, reason: "deploying", by: "alice" });
      release.resolve();
      await waitUntil("the pause to be noticed", () => events.some((event) => event.type === "pause"), DEADLINE_MS, 5);
      await waitUntil("the running tasks to finish", () => sequencesIn(archive).length === concurrency, DEADLINE_MS, 5);
      deepEqual(started, Array.from({ length: concurrency }, (_, k) => k + 1), "no task started after the pause");
      deepEqual(events.find((event) => event.type === "pause"), { type: "pause", listener: ID, ...paused });
      await resume(root.path, { listener: ID });
      await waitUntil("every task archived", () => sequencesIn(archive).length === 6, DEADLINE_MS, 5);
      deepEqual(events.filter((event) => event.type === "resume"), [{ type: "resume", listener: ID, ...paused }]);
    }
    deepEqual([...started].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6], "each task once");
  });
}

Deno.test("discard() moves pending tasks to error/ with a DISCARDED record; requeue() brings them back", async () => {
  await using root = await tempRoot();
  const { inbox, error, dir } = await listenerWith(root.path, 3);
  const time = new Date("2026-12-02T05:00:00.000Z");
  const report = await discard(root.path, {
    listener: ID,
    sequences: [2, 3, 2],
    reason: "poison",
    by: "alice",
    now: () => time,
    durable: false,
  });
  deepEqual(report, { listener: ID, discarded: [2, 3], refused: [] });
  deepEqual(sequencesIn(inbox), [1]);
  deepEqual(sequencesIn(error), [2, 3]);
  deepEqual(sequencesIn(join(dir, Layout.TMP)), []);
  const task = JSON.parse(Deno.readTextFileSync(join(error, "2.json")));
  deepEqual(task.payload, { n: 2 });
  const [record] = task.failures;
  equal(record.result, "DISCARDED");
  equal(record.fate, "error");
  equal(record.time, time.toISOString());
  match(record.message, /^discarded by alice on .+: poison$/);

  const back = await requeue(root.path, { listener: ID, sequences: [2], durable: false });
  deepEqual(back.requeued, [2]);
  const handled: number[] = [];
  await runOnce(root.path, {
    ...LISTENER,
    handler: (context) => {
      handled.push(context.sequence);
      return Task.SUCCESS;
    },
    durable: false,
  });
  deepEqual(handled, [1, 2], "the requeued task runs again (its DISCARDED fate is not completed)");
});

Deno.test("discard() takes the head of a FAILURE-blocked listener away, and the runner goes on", async () => {
  await using root = await tempRoot();
  const { error, archive } = await listenerWith(root.path, 3);
  const handler = (context: TaskContext) => context.sequence === 1 ? Task.FAILURE : Task.SUCCESS;
  const blocked = await runOnce(root.path, { ...LISTENER, handler, durable: false });
  equal(blocked.failedAt, 1);
  deepEqual((await discard(root.path, { listener: ID, sequences: [1], durable: false })).discarded, [1]);
  const task = JSON.parse(Deno.readTextFileSync(join(error, "1.json")));
  deepEqual(task.failures.map((failure: { result: string }) => failure.result), ["FAILURE", "DISCARDED"]);
  match(task.failures[1].message, /^discarded by pid \d+ on .+$/, "no reason: none in the message");
  const report = await runOnce(root.path, { ...LISTENER, handler, durable: false });
  equal(report.failedAt, undefined);
  deepEqual(sequencesIn(archive), [2, 3]);
});

Deno.test("discard() refuses what is not pending, discards the others, and loses nothing", async () => {
  await using root = await tempRoot();
  const { dir, inbox, error, archive } = await listenerWith(root.path, 4);
  await runOnce(root.path, {
    ...LISTENER,
    handler: (context) => context.sequence === 1 ? Task.SUCCESS : context.sequence === 2 ? Task.INVALID : Task.FAILURE,
    durable: false,
  });
  // Task 4 claimed by a parallel worker (its claim in inflight/).
  Deno.mkdirSync(join(dir, Layout.INFLIGHT));
  Deno.renameSync(join(inbox, "4.json"), join(dir, Layout.INFLIGHT, "4.json~hostA-1-abcdef"));
  const report = await discard(root.path, { listener: ID, sequences: [1, 2, 3, 4, 9], durable: false });
  deepEqual(report.discarded, [3]);
  deepEqual(report.refused.map((refusal) => refusal.sequence), [1, 2, 4, 9]);
  match(report.refused[0].reason, /in archive\//);
  match(report.refused[1].reason, /in error\/ already/);
  match(report.refused[2].reason, /in flight \(inflight\/4\.json~hostA-1-abcdef\)/);
  match(report.refused[3].reason, /^not found/);
  deepEqual(sequencesIn(archive), [1]);
  deepEqual(sequencesIn(error), [2, 3]);
  deepEqual(sequencesIn(inbox), []);
  deepEqual(Deno.readDirSync(join(dir, Layout.INFLIGHT)).toArray().map((entry) => entry.name), [
    "4.json~hostA-1-abcdef",
  ]);
  await rejects(discard(root.path, { listener: ID, sequences: [0] }), RangeError);
});

Deno.test("discard() waits while an ordered runner holds the run lock, and works beside parallel workers", async () => {
  await using root = await tempRoot();
  const { dir, error } = await listenerWith(root.path, 2);
  const runLock = join(dir, Layout.RUN_LOCK);
  {
    using _ordered = await lockFile(runLock); // an ordered pass in progress: exclusive
    await rejects(
      discard(root.path, { listener: ID, sequences: [1], wait: { timeoutMs: 0 }, durable: false }),
      LockTimeoutError,
    );
    deepEqual(sequencesIn(error), [], "nothing discarded");
  }
  {
    using _parallel = await lockFile(runLock, { shared: true }); // parallel workers: shared
    const report = await discard(root.path, { listener: ID, sequences: [1], wait: { timeoutMs: 0 }, durable: false });
    deepEqual(report.discarded, [1]);
  }
});

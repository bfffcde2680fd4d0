/**
 * One contract, two backends: the same cases run through `Dispatcher`,
 * `runOnce()` and `watch()` against `new FileBackend(tmp)` and against a
 * `NatsBackend` on a real nats-server (a fresh one per case). With no
 * nats-server on PATH the NATS cases are ignored, saying "skipped: no nats-server".
 *
 * @module
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { Dispatcher, execHandler, NotSupportedError, runOnce, Task, type TaskContext, watch } from "../../mod.ts";
import { join } from "node:path";
import type { Backend } from "../../src/backend/port.ts";
import { FileBackend } from "../../src/backend/file/backend.ts";
import { NatsBackend } from "../../src/backend/nats/mod.ts";
import { checkListener } from "../../src/protocol/listener_id.ts";
import type { RunEvent } from "../../src/worker/report.ts";
import { tempRoot, waitUntil } from "../_helpers.ts";
import { NATS_SKIP, reportSkip, startNatsServer } from "../_nats.ts";

reportSkip("tests/backend/contract_test.ts");

/** A backend for one case, disposed of at its end. */
type Made = AsyncDisposable & { backend: Backend; kind: string };

const BACKENDS: { kind: string; ignore: boolean; make(): Promise<Made> }[] = [
  {
    kind: "files",
    ignore: false,
    async make() {
      const root = await tempRoot();
      return {
        kind: "files",
        backend: new FileBackend(root.path),
        [Symbol.asyncDispose]: () => root[Symbol.asyncDispose](),
      };
    },
  },
  {
    kind: "nats",
    ignore: NATS_SKIP !== undefined,
    async make() {
      const server = await startNatsServer();
      const backend = await NatsBackend.connect(server.url, { pollIntervalMs: 100 });
      return {
        kind: "nats",
        backend,
        async [Symbol.asyncDispose]() {
          await backend.close();
          await server.stop();
        },
      };
    },
  },
];

/** Runs `fn` as one test per backend. */
function contract(name: string, fn: (made: Made) => Promise<void>): void {
  for (const { kind, ignore, make } of BACKENDS) {
    Deno.test({
      name: `[${kind}] ${name}`,
      ignore,
      async fn() {
        await using made = await make();
        await fn(made);
      },
    });
  }
}

/** Registers listeners (name, event type). */
async function register(backend: Backend, ...listeners: [string, string][]): Promise<void> {
  for (const [name, eventType] of listeners) await backend.register(checkListener(name, eventType));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

contract(
  "fan-out reaches the root, parent and child listeners; product and products apart; '.' in a segment",
  async ({ backend }) => {
    await register(
      backend,
      ["audit", ""],
      ["parent", "product"],
      ["child", "product/created"],
      ["plural", "products"],
      ["dotted", "v1.2"],
      ["undotted", "v1"],
    );
    const dispatcher = new Dispatcher(backend);
    const deliveries = await dispatcher.dispatch("product/created", { e: "product/created" });
    deepEqual(deliveries.map((d) => d.listener), ["child", "parent", "audit"]);
    await dispatcher.dispatch("products/x", { e: "products/x" });
    await dispatcher.dispatch("v1.2/y", { e: "v1.2/y" });
    await dispatcher.dispatch("v1/2", { e: "v1/2" });
    const got = async (name: string, eventType: string) => {
      const payloads: string[] = [];
      await runOnce(backend, {
        name,
        eventType,
        handler: (context) => {
          payloads.push((context.payload as { e: string }).e);
          equal(context.eventType, (context.payload as { e: string }).e);
          return Task.SUCCESS;
        },
      });
      return payloads;
    };
    deepEqual(await got("audit", ""), ["product/created", "products/x", "v1.2/y", "v1/2"]);
    deepEqual(await got("parent", "product"), ["product/created"]);
    deepEqual(await got("child", "product/created"), ["product/created"]);
    deepEqual(await got("plural", "products"), ["products/x"]);
    deepEqual(await got("dotted", "v1.2"), ["v1.2/y"]);
    deepEqual(await got("undotted", "v1"), ["v1/2"]);
  },
);

contract("a task carries payload, sequence, count, delivery, event type and id, and a task id", async ({ backend }) => {
  await register(backend, ["mailer", "user/signup"]);
  const [delivery] = await new Dispatcher(backend).dispatch("user/signup", { id: 7 });
  let seen: TaskContext | undefined;
  await runOnce(backend, {
    name: "mailer",
    eventType: "user/signup",
    handler: (context) => {
      seen = context;
      return Task.SUCCESS;
    },
  });
  ok(seen);
  deepEqual(seen.payload, { id: 7 });
  equal(seen.sequence, delivery.sequence);
  equal(seen.count, delivery.sequence);
  ok(/^\d{4}-\d\d-\d\dT/.test(seen.delivery), seen.delivery);
  equal(seen.eventType, "user/signup");
  ok(seen.eventId && seen.taskId);
});

contract("SUCCESS settles the task; INVALID, a thrown error and a bad return value are errors", async ({ backend }) => {
  await register(backend, ["ok", "a"], ["invalid", "a"], ["thrower", "a"], ["bad", "a"]);
  await new Dispatcher(backend).dispatch("a", 1);
  const run = (name: string, handler: () => unknown) =>
    runOnce(backend, { name, eventType: "a", handler: handler as () => typeof Task.SUCCESS });
  const ok1 = await run("ok", () => Task.SUCCESS);
  deepEqual([ok1.handled, ok1.archived, ok1.errored], [1, 1, 0]);
  const invalid = await run("invalid", () => Task.INVALID);
  deepEqual([invalid.handled, invalid.archived, invalid.errored], [1, 0, 1]);
  const thrown = await run("thrower", () => {
    throw new Error("boom");
  });
  deepEqual([thrown.handled, thrown.errored], [1, 1]);
  const bad = await run("bad", () => "nonsense");
  deepEqual([bad.handled, bad.errored], [1, 1]);
  for (const name of ["ok", "invalid", "thrower", "bad"]) {
    const again = await run(name, () => Task.SUCCESS);
    equal(again.handled, 0, `${name}: nothing left`);
  }
  const status = await backend.operations.status();
  const errors = Object.fromEntries(status.listeners.map((l) => [l.name, [l.errors, l.pending]]));
  deepEqual(errors, { bad: [1, 0], invalid: [1, 0], ok: [0, 0], thrower: [1, 0] });
});

contract("RETRY with a delay is tried again after the delay, until maxAttempts, then an error", async ({ backend }) => {
  await register(backend, ["retrier", "a"]);
  await new Dispatcher(backend).dispatch("a", 1);
  const attempts: { retryCount: number; at: number }[] = [];
  const events: RunEvent[] = [];
  const started = Date.now();
  await using watcher = watch(backend, {
    onEvent: (event) => events.push(event),
    listeners: [{
      name: "retrier",
      eventType: "a",
      handler: {
        handleTask: (context: TaskContext) => {
          attempts.push({ retryCount: context.retryCount, at: Date.now() - started });
          return Task.RETRY;
        },
        maxAttempts: () => 2,
        retryDelay: () => 300,
      },
    }],
  });
  await watcher.ready;
  await waitUntil("the task in error", () => events.some((e) => e.type === "task" && e.fate === "error"), 15_000);
  deepEqual(attempts.map((a) => a.retryCount), [0, 1, 2]);
  ok(attempts[1].at - attempts[0].at >= 250, JSON.stringify(attempts));
  ok(attempts[2].at - attempts[1].at >= 250, JSON.stringify(attempts));
  const report = await watcher.close();
  equal(report["a/retrier"].errored, 1);
  equal((await backend.operations.status()).listeners[0].errors, 1);
});

contract("a timeout is an attempt: TIMEOUT, then an error without retries", async ({ backend }) => {
  await register(backend, ["slow", "a"]);
  await new Dispatcher(backend).dispatch("a", 1);
  const events: RunEvent[] = [];
  const report = await runOnce(backend, {
    name: "slow",
    eventType: "a",
    timeoutMs: 100,
    onEvent: (event) => events.push(event),
    handler: (context) =>
      new Promise((resolve) => context.signal.addEventListener("abort", () => resolve(Task.SUCCESS))),
  });
  equal(report.errored, 1);
  ok(events.some((e) => e.type === "task" && e.result === "TIMEOUT"), JSON.stringify(events));
});

contract("FAILURE keeps the task first: the pass stops, and the same task comes first again", async ({ backend }) => {
  await register(backend, ["stopper", "a"]);
  const dispatcher = new Dispatcher(backend);
  await dispatcher.dispatch("a", 1);
  await dispatcher.dispatch("a", 2);
  const seen: unknown[] = [];
  const first = await runOnce(backend, {
    name: "stopper",
    eventType: "a",
    handler: (context) => {
      seen.push(context.payload);
      return Task.FAILURE;
    },
  });
  equal(first.handled, 1);
  ok(first.failedAt !== undefined);
  deepEqual(seen, [1]);
  // Files: at once; NATS: once the FAILURE pause (a nak with a delay) is over.
  const handled: unknown[] = [];
  await waitUntil(
    "both tasks handled in order",
    async () => {
      await runOnce(backend, {
        name: "stopper",
        eventType: "a",
        handler: (context) => {
          handled.push(context.payload);
          return Task.SUCCESS;
        },
      });
      return handled.length === 2;
    },
    15_000,
    100,
  );
  deepEqual(handled, [1, 2]);
});

contract("shutdown within the grace period leaves the task as it was, not counting an attempt", async ({ backend }) => {
  await register(backend, ["long", "a"]);
  await new Dispatcher(backend).dispatch("a", 1);
  let started = false;
  const watcher = watch(backend, {
    graceMs: 100,
    listeners: [{
      name: "long",
      eventType: "a",
      handler: {
        handleTask: () => {
          started = true;
          return new Promise(() => {}); // never ends by itself
        },
        maxAttempts: () => 0,
      },
    }],
  });
  await watcher.ready;
  await waitUntil("the handler to start", () => started);
  const report = await watcher.close();
  equal(report["a/long"].aborted, true);
  equal(report["a/long"].errored, 0);
  const events: RunEvent[] = [];
  let retryCount = -1;
  await waitUntil(
    "the task handled again",
    async () => {
      const again = await runOnce(backend, {
        name: "long",
        eventType: "a",
        onEvent: (event) => events.push(event),
        handler: (context) => {
          retryCount = context.retryCount;
          return Task.SUCCESS;
        },
      });
      return again.archived === 1;
    },
    15_000,
    100,
  );
  equal(retryCount, 0);
  ok(!events.some((e) => e.type === "task" && e.result === "LOST"), JSON.stringify(events));
});

contract("ordered mode handles tasks one at a time in dispatch order", async ({ backend }) => {
  await register(backend, ["orderly", "a"]);
  const dispatcher = new Dispatcher(backend);
  for (let i = 0; i < 10; i++) await dispatcher.dispatch("a", i);
  const order: number[] = [];
  let running = 0;
  let most = 0;
  const report = await runOnce(backend, {
    name: "orderly",
    eventType: "a",
    handler: async (context) => {
      most = Math.max(most, ++running);
      await sleep(5);
      order.push(context.payload as number);
      running--;
      return Task.SUCCESS;
    },
  });
  equal(report.archived, 10);
  deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  equal(most, 1);
});

contract("parallel mode handles N tasks at once", async ({ backend }) => {
  await register(backend, ["wide", "a"]);
  await new Dispatcher(backend).dispatchMany(Array.from({ length: 8 }, (_, i) => ({ eventType: "a", payload: i })));
  let running = 0;
  let most = 0;
  const done: number[] = [];
  const report = await runOnce(backend, {
    name: "wide",
    eventType: "a",
    concurrency: 4,
    handler: async (context) => {
      most = Math.max(most, ++running);
      await sleep(150);
      running--;
      done.push(context.payload as number);
      return Task.SUCCESS;
    },
  });
  equal(report.archived, 8);
  equal(most, 4);
  deepEqual(done.sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7]);
});

contract("status counts pending tasks and errors per listener", async ({ backend }) => {
  await register(backend, ["counted", "a"], ["other", "b"]);
  const dispatcher = new Dispatcher(backend);
  for (let i = 0; i < 3; i++) await dispatcher.dispatch("a", i);
  await dispatcher.dispatch("b", 0);
  let status = await backend.operations.status();
  deepEqual(status.listeners.map((l) => [l.listener, l.pending, l.errors]), [["a/counted", 3, 0], ["b/other", 1, 0]]);
  let calls = 0;
  await runOnce(backend, {
    name: "counted",
    eventType: "a",
    handler: () => ++calls === 1 ? Task.INVALID : Task.SUCCESS,
  });
  status = await backend.operations.status();
  deepEqual(status.listeners.map((l) => [l.listener, l.pending, l.errors]), [["a/counted", 0, 1], ["b/other", 1, 0]]);
  deepEqual((await backend.operations.listeners()).map((l) => l.id), ["a/counted", "b/other"]);
});

contract(
  "an exec handler gets the task's JSON on stdin with the fields of a task file, and the HURAH_* variables",
  async ({ backend }) => {
    await register(backend, ["shell", "user/signup"]);
    const [delivery] = await new Dispatcher(backend).dispatch("user/signup", { id: 7, name: "Zoë" });
    await using out = await tempRoot();
    const report = await runOnce(backend, {
      name: "shell",
      eventType: "user/signup",
      handler: execHandler("cat > stdin.json; env | grep '^HURAH_' | sort > env.txt; exit 0", { cwd: out.path }),
    });
    equal(report.archived, 1);
    const task = JSON.parse(await Deno.readTextFile(join(out.path, "stdin.json")));
    deepEqual(Object.keys(task).sort(), [
      "count",
      "delivery",
      "event_id",
      "event_type",
      "payload",
      "sequence",
      "task_id",
    ]);
    deepEqual(task.payload, { id: 7, name: "Zoë" });
    equal(task.sequence, delivery.sequence);
    equal(task.event_type, "user/signup");
    const env = await Deno.readTextFile(join(out.path, "env.txt"));
    ok(env.includes(`HURAH_SEQUENCE=${delivery.sequence}\n`), env);
    ok(env.includes("HURAH_EVENT_TYPE=user/signup\n"), env);
    ok(env.includes(`HURAH_TASK_ID=${task.task_id}\n`), env);
  },
);

contract("RETRY without a delay is tried again in the next pass, not in the same one", async ({ backend }) => {
  await register(backend, ["again", "a"]);
  await new Dispatcher(backend).dispatch("a", 1);
  const counts: number[] = [];
  const handler = {
    handleTask: (context: TaskContext) => {
      counts.push(context.retryCount);
      return context.retryCount < 2 ? Task.RETRY : Task.SUCCESS;
    },
    maxAttempts: () => 3,
  };
  for (let pass = 0; pass < 3; pass++) {
    const report = await runOnce(backend, { name: "again", eventType: "a", handler });
    equal(report.handled, 1, `pass ${pass}`);
  }
  deepEqual(counts, [0, 1, 2]);
  equal((await runOnce(backend, { name: "again", eventType: "a", handler })).handled, 0);
});

contract(
  "inspect finds a waiting task in the inbox and an INVALID one in error, with its failure record",
  async ({ backend }) => {
    await register(backend, ["looked", "a"]);
    const dispatcher = new Dispatcher(backend);
    const [first] = await dispatcher.dispatch("a", { n: 1 });
    let inspection = await backend.operations.inspect({ listener: "a/looked", sequence: first.sequence });
    deepEqual(inspection.found.map((f) => [f.location, f.task?.payload]), [["inbox", { n: 1 }]]);
    await runOnce(backend, { name: "looked", eventType: "a", handler: () => Task.INVALID });
    inspection = await backend.operations.inspect({ listener: "a/looked", sequence: first.sequence });
    deepEqual(inspection.found.map((f) => [f.location, f.task?.payload]), [["error", { n: 1 }]]);
    equal(inspection.found[0].task?.failures?.at(-1)?.result, "INVALID");
    const [second] = await dispatcher.dispatch("a", { n: 2 });
    await runOnce(backend, { name: "looked", eventType: "a", handler: () => Task.SUCCESS });
    inspection = await backend.operations.inspect({ listener: "a/looked", sequence: second.sequence });
    // Files keep it in archive/; NATS keeps no archive: an acknowledged task is nowhere.
    deepEqual(inspection.found.map((f) => f.location), backend instanceof NatsBackend ? [] : ["archive"]);
  },
);

contract("prune with error removes old error records (a dry run only counts them)", async ({ backend }) => {
  await register(backend, ["pruned", "a"]);
  const [delivery] = await new Dispatcher(backend).dispatch("a", 1);
  await runOnce(backend, { name: "pruned", eventType: "a", handler: () => Task.INVALID });
  const later = () => new Date(Date.now() + 60_000);
  const young = await backend.operations.prune({ olderThanMs: 120_000, error: true, now: later });
  equal(young.removed, 0);
  const dry = await backend.operations.prune({ olderThanMs: 30_000, error: true, dryRun: true, now: later });
  deepEqual([dry.removed, dry.dryRun], [1, true]);
  equal((await backend.operations.status()).listeners[0].errors, 1);
  const pruned = await backend.operations.prune({ olderThanMs: 30_000, error: true, now: later });
  deepEqual(pruned.listeners, [{ listener: "a/pruned", archive: 0, error: 1 }]);
  equal((await backend.operations.status()).listeners[0].errors, 0);
  const inspection = await backend.operations.inspect({ listener: "a/pruned", sequence: delivery.sequence });
  deepEqual(inspection.found, []);
});

contract(
  "requeue puts an errored task back: handled again with its sequence and a REQUEUED record",
  async ({ backend }) => {
    await register(backend, ["requeued", "a"]);
    const dispatcher = new Dispatcher(backend);
    const [first] = await dispatcher.dispatch("a", 1);
    const [second] = await dispatcher.dispatch("a", 2);
    await runOnce(backend, { name: "requeued", eventType: "a", handler: () => Task.INVALID });
    equal((await backend.operations.status()).listeners[0].errors, 2);
    const one = await backend.operations.requeue({ listener: "a/requeued", sequences: [first.sequence], by: "test" });
    deepEqual([one.requeued, one.refused], [[first.sequence], []]);
    let status = (await backend.operations.status()).listeners[0];
    deepEqual([status.errors, status.pending], [1, 1]);
    const inspection = await backend.operations.inspect({ listener: "a/requeued", sequence: first.sequence });
    deepEqual(inspection.found.map((f) => f.location), ["inbox"]);
    const seen: TaskContext[] = [];
    const handler = (context: TaskContext) => {
      seen.push(context);
      return Task.SUCCESS;
    };
    equal((await runOnce(backend, { name: "requeued", eventType: "a", handler })).archived, 1);
    equal(seen[0].sequence, first.sequence);
    deepEqual(seen[0].payload, 1);
    equal(seen[0].record.failures?.at(-1)?.result, "REQUEUED");
    ok(seen[0].record.failures?.at(-1)?.message.includes("by test"), seen[0].record.failures?.at(-1)?.message);
    const again = await backend.operations.requeue({ listener: "a/requeued", sequences: [first.sequence] });
    deepEqual([again.requeued, again.refused.map((r) => r.sequence)], [[], [first.sequence]]);
    const all = await backend.operations.requeue({ listener: "a/requeued", all: true });
    deepEqual(all.requeued, [second.sequence]);
    equal((await runOnce(backend, { name: "requeued", eventType: "a", handler })).archived, 1);
    status = (await backend.operations.status()).listeners[0];
    deepEqual([status.errors, status.pending], [0, 0]);
  },
);

contract(
  "pause, resume and discard through the operations (files); NATS refuses them with NotSupportedError",
  async ({ backend, kind }) => {
    await register(backend, ["controlled", "a"]);
    const dispatcher = new Dispatcher(backend);
    for (let i = 1; i <= 3; i++) await dispatcher.dispatch("a", i);
    const listener = "a/controlled";
    if (kind === "nats") {
      await rejects(backend.operations.pause({ listener, reason: "x" }), NotSupportedError);
      await rejects(backend.operations.resume({ listener }), NotSupportedError);
      await rejects(backend.operations.discard({ listener, sequences: [1] }), NotSupportedError);
      return;
    }
    const { paused } = await backend.operations.pause({ listener, reason: "fixing", by: "test" });
    const handler = (context: TaskContext) => context.payload === 1 ? Task.FAILURE : Task.SUCCESS;
    const held = await runOnce(backend, { name: "controlled", eventType: "a", handler });
    deepEqual([held.handled, held.paused], [0, paused]);
    deepEqual((await backend.operations.status()).listeners[0].paused, paused);
    deepEqual((await backend.operations.resume({ listener })).resumed, paused);
    const blocked = await runOnce(backend, { name: "controlled", eventType: "a", handler });
    equal(blocked.failedAt, 1);
    deepEqual((await backend.operations.discard({ listener, sequences: [1], by: "test" })).discarded, [1]);
    equal((await runOnce(backend, { name: "controlled", eventType: "a", handler })).archived, 2);
    const status = (await backend.operations.status()).listeners[0];
    deepEqual([status.errors, status.pending, status.paused], [1, 0, undefined]);
  },
);

contract(
  "tasks lists pending tasks lowest first, errors newest first, with their records (archive: files only)",
  async ({ backend }) => {
    await register(backend, ["listed", "a"]);
    const dispatcher = new Dispatcher(backend);
    const sequences: number[] = [];
    for (let payload = 0; payload < 5; payload++) sequences.push((await dispatcher.dispatch("a", payload))[0].sequence);
    const payloads = (list: { tasks: { task: { payload: unknown } | null }[] }) =>
      list.tasks.map((listed) => listed.task?.payload);
    let inbox = await backend.operations.tasks({ listener: "a/listed", location: "inbox", limit: 3 });
    deepEqual([inbox.listener, inbox.total, payloads(inbox)], ["a/listed", 5, [0, 1, 2]]);
    deepEqual(inbox.tasks.map((listed) => listed.sequence), sequences.slice(0, 3));
    ok(inbox.tasks.every((listed) => listed.since !== null && listed.problem === null), JSON.stringify(inbox));
    inbox = await backend.operations.tasks({ listener: "a/listed", location: "inbox", limit: 2, newest: true });
    deepEqual(payloads(inbox), [4, 3]);
    const handler = {
      // The RETRY last: in ordered mode on NATS, a task put back holds the listener's later ones.
      handleTask: (context: TaskContext) =>
        [Task.INVALID, Task.INVALID, Task.SUCCESS, Task.SUCCESS, Task.RETRY][context.payload as number],
      maxAttempts: () => 3,
      retryDelay: () => 0,
    };
    await runOnce(backend, { name: "listed", eventType: "a", handler });
    inbox = await backend.operations.tasks({ listener: "a/listed", location: "inbox" });
    deepEqual([inbox.total, payloads(inbox), inbox.tasks[0].task?.retry_count], [1, [4], 1]);
    const errors = await backend.operations.tasks({ listener: "a/listed", location: "error", newest: true });
    deepEqual([errors.total, payloads(errors)], [2, [1, 0]]);
    deepEqual(errors.tasks.map((listed) => listed.task?.failures?.at(-1)?.result), ["INVALID", "INVALID"]);
    const archive = await backend.operations.tasks({ listener: "a/listed", location: "archive" });
    // NATS keeps no archive.
    deepEqual([archive.total, payloads(archive)], backend instanceof NatsBackend ? [0, []] : [2, [2, 3]]);
    await backend.operations.requeue({ listener: "a/listed", sequences: [sequences[0]], by: "test" });
    inbox = await backend.operations.tasks({ listener: "a/listed", location: "inbox" });
    deepEqual([inbox.total, payloads(inbox)], [2, [0, 4]]);
    equal(inbox.tasks[0].task?.failures?.at(-1)?.result, "REQUEUED");
  },
);

/**
 * `watch()` in one process, where no real process is needed: a listener
 * whose pass fails on the file system pauses and tries again, while the
 * other listeners of the same watcher go on. The real `hurah watch`
 * processes are in `tests/integration/watch_test.ts`.
 *
 * @module
 */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import {
  decodeTask,
  Dispatcher,
  type FailureRecord,
  Layout,
  listenerPath,
  type RunEvent,
  runOnce,
  Task,
  type TaskContext,
  watch,
} from "../../mod.ts";
import { sequencesIn, tempRoot, waitUntil } from "../_helpers.ts";

const DEADLINE_MS = 30_000;

Deno.test("watch() pauses a listener whose pass fails on the file system, and goes on with the others", async (t) => {
  for (const concurrency of [1, 3]) {
    await t.step(concurrency === 1 ? "ordered" : "parallel (concurrency 3)", async () => {
      await using root = await tempRoot();
      const handled: string[] = [];
      const handlerOf = (name: string) => ({
        handleTask(context: TaskContext) {
          handled.push(`${name}#${context.sequence}`);
          return Task.SUCCESS;
        },
        maxAttempts: () => 100,
      });
      const dirOf = (name: string, eventType: string) => join(root.path, listenerPath(name, eventType));
      const broken = dirOf("broken", "a");
      const healthy = dirOf("healthy", "b");
      for (const [name, eventType] of [["broken", "a"], ["healthy", "b"]]) {
        await runOnce(root.path, { name, eventType, handler: () => Task.SUCCESS });
      }
      const dispatcher = new Dispatcher(root.path, { durable: false });
      for (const type of ["a", "a", "b", "b"]) await dispatcher.dispatch(type, { type });
      // A directory where archive/1.json goes: moving task 1 there fails with EISDIR.
      const trap = join(broken, Layout.ARCHIVE, "1.json");
      await Deno.mkdir(join(trap, "in-the-way"), { recursive: true });

      const events: RunEvent[] = [];
      const faults = () => events.filter((event) => event.type === "fault" && event.listener === "a/broken");
      await using watcher = watch(root.path, {
        listeners: [
          { name: "broken", eventType: "a", handler: handlerOf("broken"), concurrency },
          { name: "healthy", eventType: "b", handler: handlerOf("healthy"), concurrency },
        ],
        failureDelay: () => 200,
        rescanIntervalMs: 100,
        durable: false,
        onEvent: (event) => events.push(event),
      });
      await watcher.ready;
      // Two faults at least: the pass after the first pause only retries the move, and fails again. However many
      // times it does before the repair, the task runs once and its SUCCESS is recorded once.
      await waitUntil("two faults of the broken listener", () => faults().length >= 2, DEADLINE_MS);
      await waitUntil("the healthy listener's tasks", () => sequencesIn(join(healthy, Layout.ARCHIVE)).length === 2);
      const fault = faults()[0];
      ok(fault.type === "fault" && /Is a directory/.test(fault.message), JSON.stringify(fault));
      ok(fault.retryInMs === 200);

      await Deno.remove(trap, { recursive: true }); // repaired: the broken listener goes on by itself
      await waitUntil("the broken listener's tasks", () => sequencesIn(join(broken, Layout.ARCHIVE)).length === 2);
      await watcher.close();

      deepEqual(sequencesIn(join(broken, Layout.INBOX)), []);
      deepEqual(sequencesIn(join(broken, Layout.INFLIGHT), { others: "skip" }), []);
      deepEqual(handled.filter((h) => h.startsWith("healthy")).sort(), ["healthy#1", "healthy#2"]);
      // The task whose archiving failed did not run again: its SUCCESS was recorded, and only the move was retried.
      deepEqual(handled.filter((h) => h.startsWith("broken")).sort(), ["broken#1", "broken#2"], handled.join(" "));
      ok(/TaskMoveError: task 1 of listener a\/broken was handled \(SUCCESS\)/.test(fault.message), fault.message);
      const task = decodeTask(Deno.readTextFileSync(join(broken, Layout.ARCHIVE, "1.json")), 1);
      const records = (task.failures ?? []) as FailureRecord[];
      deepEqual(records.map((f) => [f.result, f.fate]), [["SUCCESS", "archive"]], JSON.stringify(task));
    });
  }
});

Deno.test("watch() works two listeners of one name on different event types, and tells them apart", async () => {
  await using root = await tempRoot();
  const handled: string[] = [];
  const events: RunEvent[] = [];
  const mailer = (eventType: string) => ({
    name: "mailer",
    eventType,
    handler: (context: TaskContext) => {
      handled.push(`${eventType}#${context.sequence}`);
      return Task.SUCCESS;
    },
  });
  const watcher = watch(root.path, {
    listeners: [mailer("a"), mailer("b")],
    rescanIntervalMs: 100,
    durable: false,
    onEvent: (event) => events.push(event),
  });
  try {
    await watcher.ready;
    const dispatcher = new Dispatcher(root.path, { durable: false });
    for (const type of ["a", "b", "b"]) await dispatcher.dispatch(type, { type });
    const archive = (type: string) => join(root.path, listenerPath("mailer", type), Layout.ARCHIVE);
    await waitUntil(
      "3 archived tasks",
      () => sequencesIn(archive("a")).length + sequencesIn(archive("b")).length === 3,
    );
  } finally {
    await watcher.close();
  }
  const report = await watcher.done;
  deepEqual(handled.sort(), ["a#1", "b#1", "b#2"]);
  deepEqual(Object.keys(report).sort(), ["a/mailer", "b/mailer"]);
  deepEqual([report["a/mailer"].archived, report["b/mailer"].archived], [1, 2]);
  deepEqual(
    events.filter((event) => event.type === "task").map((event) => `${event.listener}#${event.sequence}`).sort(),
    ["a/mailer#1", "b/mailer#1", "b/mailer#2"],
  );
});

Deno.test("watch() refuses the same listener twice, before registering anything", async () => {
  await using root = await tempRoot();
  const listener = { name: "mailer", eventType: "a", handler: () => Task.SUCCESS };
  throws(
    () => watch(root.path, { listeners: [listener, { ...listener, concurrency: 2 }] }),
    (error: unknown) => {
      ok(error instanceof RangeError, String(error));
      equal(
        error.message,
        'listeners[1] is listener "a/mailer" again (as listeners[0]); a listener may be watched once',
      );
      return true;
    },
  );
  deepEqual([...Deno.readDirSync(root.path)], [], "nothing registered");
});

Deno.test("watch() in parallel mode takes a task that arrives while another runs, into the free slot", async () => {
  await using root = await tempRoot();
  const started: number[] = [];
  let looks = 0;
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const watcher = watch(root.path, {
    listeners: [{
      name: "worker",
      eventType: "job",
      concurrency: 2,
      handler: {
        async handleTask(context: TaskContext) {
          started.push(context.sequence);
          if (context.sequence === 1) await released; // the long task: holds one slot until the test lets it end
          return context.sequence === 2 && started.length === 2 ? Task.RETRY : Task.SUCCESS; // due again in 50 ms
        },
        retryDelay: () => 50,
        maxAttempts: () => 3,
      },
    }],
    onEvent: (event) => void (event.type === "backlog" && looks++),
    // Longer than the test's wait: the second task must be taken on its file event, not by a later rescan.
    rescanIntervalMs: 60_000,
    durable: false,
  });
  try {
    await watcher.ready;
    const dispatcher = new Dispatcher(root.path, { durable: false });
    await dispatcher.dispatch("job", { n: 1 });
    await waitUntil("the long task to start", () => started.includes(1), DEADLINE_MS);
    await dispatcher.dispatch("job", { n: 2 });
    const archive = join(root.path, listenerPath("worker", "job"), Layout.ARCHIVE);
    await waitUntil(
      "the second task to be handled while the first runs",
      () => sequencesIn(archive).includes(2),
      10_000,
    );
    deepEqual(started, [1, 2, 2], "the retry too, when due");
    deepEqual(sequencesIn(archive), [2], "the first is still running");
    // Its due time has passed: it must not make the watcher look at the inbox again and again (each look logs a backlog).
    const before = looks;
    await new Promise((resolve) => setTimeout(resolve, 500));
    ok(looks - before <= 2, `${looks - before} looks at the inbox in 500 ms while nothing came`);
  } finally {
    release();
    await watcher.close();
  }
  const report = await watcher.done;
  equal(report["job/worker"].archived, 2);
});

/**
 * `Dispatcher.dispatchMany()` against `dispatch()`: the same files in the
 * same order, the whole batch checked before anything is written, slices of
 * the lock, and numbering past files that `tracking.json` does not know of.
 * The multi-process and kill -9 cases are in `tests/integration/`.
 *
 * @module
 */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import {
  decodeTask,
  type Delivery,
  DeliveryError,
  Dispatcher,
  InvalidNameError,
  Layout,
  listenerPath,
  PayloadError,
  runOnce,
  SequenceLimitError,
  Task,
} from "../mod.ts";
import { namesIn, sequencesIn, tempRoot } from "./_helpers.ts";
import { fill, smallTmpfs } from "./_tmpfs.ts";

/** Listeners at every level of `product/created`, two at the root. */
const LISTENERS = [
  { name: "mailer", eventType: "product/created" },
  { name: "search", eventType: "product" },
  { name: "audit", eventType: "" },
  { name: "backup", eventType: "" },
] as const;

async function registered(root: string): Promise<Record<string, string>> {
  const dirs: Record<string, string> = {};
  for (const { name, eventType } of LISTENERS) {
    await runOnce(root, { name, eventType, handler: () => Task.SUCCESS });
    dirs[name] = join(root, listenerPath(name, eventType));
  }
  return dirs;
}

/** A task file's fields that do not change from one run to the next. */
function stable(dir: string, sequence: number) {
  const task = decodeTask(Deno.readTextFileSync(join(dir, Layout.INBOX, `${sequence}.json`)), sequence);
  return { payload: task.payload, sequence: task.sequence, count: task.count, event_type: task.event_type };
}

const EVENTS = [
  { eventType: "product/created", payload: { id: 1 } },
  { eventType: "product", payload: { id: 2 } },
  { eventType: "", payload: [3] },
  { eventType: "order/paid" }, // no payload: null
  { eventType: "product/created", payload: { id: 5 } },
];

Deno.test("dispatchMany() writes what one dispatch() per event writes, and returns it per event", async () => {
  await using one = await tempRoot();
  await using many = await tempRoot();
  const oneDirs = await registered(one.path);
  const manyDirs = await registered(many.path);
  const single: Delivery[][] = [];
  for (const event of EVENTS) {
    single.push(await new Dispatcher(one.path, { durable: false }).dispatch(event.eventType, event.payload ?? null));
  }
  const batched = await new Dispatcher(many.path, { durable: false }).dispatchMany(EVENTS);

  const shape = (deliveries: Delivery[][]) =>
    deliveries.map((each) => each.map((d) => `${d.listener}#${d.sequence}@${d.listenerEventType}`));
  deepEqual(shape(batched), shape(single));
  deepEqual(shape(batched), [
    ["mailer#1@product/created", "search#1@product", "audit#1@", "backup#1@"],
    ["search#2@product", "audit#2@", "backup#2@"],
    ["audit#3@", "backup#3@"],
    ["audit#4@", "backup#4@"],
    ["mailer#2@product/created", "search#3@product", "audit#5@", "backup#5@"],
  ]);
  for (const [k, each] of batched.entries()) {
    for (const [l, delivery] of each.entries()) {
      equal(delivery.path, join(manyDirs[delivery.listener], Layout.INBOX, `${delivery.sequence}.json`));
      deepEqual(
        stable(manyDirs[delivery.listener], delivery.sequence),
        stable(oneDirs[single[k][l].listener], delivery.sequence),
      );
    }
    // One event, one event_id in every listener it reached; one task_id per file.
    const tasks = each.map((d) => decodeTask(Deno.readTextFileSync(d.path), d.sequence));
    equal(new Set(tasks.map((task) => task.event_id)).size, 1);
    equal(new Set(tasks.map((task) => task.task_id)).size, tasks.length);
  }
  for (const { name } of LISTENERS) {
    const tracking = JSON.parse(Deno.readTextFileSync(join(manyDirs[name], Layout.TRACKING)));
    const last = sequencesIn(join(manyDirs[name], Layout.INBOX)).at(-1);
    deepEqual([tracking.sequence, tracking.count], [last, last], `${name}: tracking.json`);
    deepEqual(namesIn(join(manyDirs[name], Layout.TMP)), [], `${name}: nothing left in tmp/`);
  }
  deepEqual(await new Dispatcher(many.path).dispatchMany([]), []);
});

Deno.test("dispatchMany() writes nothing when any event is invalid, and names it", async (t) => {
  const cases: {
    name: string;
    events: { eventType: string; payload?: unknown }[];
    error: RegExp;
    type: typeof InvalidNameError | typeof PayloadError;
  }[] = [
    {
      name: "an invalid event type",
      events: [{ eventType: "product/created", payload: 1 }, { eventType: "product/../x", payload: 2 }],
      error: /^events\[1\]: Invalid event type "product\/\.\.\/x"/,
      type: InvalidNameError,
    },
    {
      name: "a payload JSON cannot hold",
      events: [{ eventType: "product", payload: 1 }, { eventType: "", payload: 2 }, {
        eventType: "product",
        payload: { n: 1n },
      }],
      error: /^events\[2\]: Payload cannot be stored as JSON: payload\.n is a bigint/,
      type: PayloadError,
    },
    {
      name: "an explicit undefined payload",
      events: [{ eventType: "product", payload: undefined }],
      error: /^events\[0\]: Payload cannot be stored as JSON: payload is undefined/,
      type: PayloadError,
    },
  ];
  for (const { name, events, error, type } of cases) {
    await t.step(name, async () => {
      await using root = await tempRoot();
      const dirs = await registered(root.path);
      const before = new Map(LISTENERS.map(({ name }) => [name, namesIn(dirs[name])]));
      await rejects(new Dispatcher(root.path).dispatchMany(events), (thrown: Error) => {
        ok(thrown instanceof type, thrown.name);
        match(thrown.message, error);
        return true;
      });
      for (const { name } of LISTENERS) {
        deepEqual(namesIn(join(dirs[name], Layout.INBOX)), [], `${name}: inbox`);
        deepEqual(namesIn(dirs[name]), before.get(name), `${name}: no tracking.json or anything else`);
      }
    });
  }
});

Deno.test("dispatchMany() beyond one lock slice numbers every task in order", async () => {
  await using root = await tempRoot();
  const dirs = await registered(root.path);
  const events = Array.from({ length: 1_300 }, (_, i) => ({ eventType: "product/created", payload: { i } }));
  const deliveries = await new Dispatcher(root.path, { durable: false }).dispatchMany(events);
  deepEqual(deliveries.map((each) => each[0].sequence), events.map((_, i) => i + 1));
  const inbox = join(dirs.mailer, Layout.INBOX);
  deepEqual(sequencesIn(inbox), events.map((_, i) => i + 1));
  for (const n of [1, 512, 513, 1_024, 1_025, 1_300]) deepEqual(stable(dirs.mailer, n).payload, { i: n - 1 });
  equal(JSON.parse(Deno.readTextFileSync(join(dirs.mailer, Layout.TRACKING))).sequence, 1_300);
  deepEqual(namesIn(join(dirs.mailer, Layout.TMP)), []);
});

Deno.test("dispatchMany() numbers past files that tracking.json does not know of, overwriting none", async (t) => {
  /** Sets tracking.json to `sequence` and plants task files; returns the files' texts. */
  async function damage(
    dir: string,
    sequence: number,
    planted: Record<string, number[]>,
  ): Promise<Map<string, string>> {
    const tracking = JSON.parse(await Deno.readTextFile(join(dir, Layout.TRACKING)));
    await Deno.writeTextFile(join(dir, Layout.TRACKING), JSON.stringify({ ...tracking, sequence, count: sequence }));
    const texts = new Map<string, string>();
    for (const [state, sequences] of Object.entries(planted)) {
      await Deno.mkdir(join(dir, state), { recursive: true });
      for (const n of sequences) {
        const claim = state === Layout.INFLIGHT ? `${Layout.CLAIM_SEPARATOR}host-1-w1` : "";
        const path = join(dir, state, `${n}.json${claim}`);
        await Deno.writeTextFile(path, `{"payload":"planted ${state} ${n}","sequence":${n},"count":${n}}`);
        texts.set(path, await Deno.readTextFile(path));
      }
    }
    return texts;
  }
  const cases: { name: string; planted: Record<string, number[]>; want: number[] }[] = [
    // The links collide part-way: inbox/3..5 exist, tracking.json says 2. The rest is numbered past 7.
    {
      name: "inbox files ahead of tracking.json",
      planted: { [Layout.INBOX]: [3, 4, 5], [Layout.ARCHIVE]: [7] },
      want: [8, 9, 10, 11],
    },
    // Nothing in the inbox collides, but archive/4 would be overwritten by a later run.
    {
      name: "handled files ahead of tracking.json",
      planted: { [Layout.ARCHIVE]: [4], [Layout.ERROR]: [] },
      want: [5, 6, 7, 8],
    },
    // A parallel worker holds task 3 (inflight/3.json~<worker>): 3 must not be given again.
    {
      name: "claimed files ahead of tracking.json",
      planted: { [Layout.INFLIGHT]: [3] },
      want: [4, 5, 6, 7],
    },
  ];
  for (const { name, planted, want } of cases) {
    await t.step(name, async () => {
      await using root = await tempRoot();
      const dirs = await registered(root.path);
      await new Dispatcher(root.path).dispatchMany([{ eventType: "product/created" }, {
        eventType: "product/created",
      }]);
      const texts = await damage(dirs.mailer, 2, planted);
      const events = want.map((_, i) => ({ eventType: "product/created", payload: { i } }));
      const deliveries = await new Dispatcher(root.path).dispatchMany(events);
      deepEqual(deliveries.map((each) => each[0].sequence), want);
      for (const [i, n] of want.entries()) {
        const task = stable(dirs.mailer, n);
        deepEqual([task.payload, task.sequence, task.count], [{ i }, n, n]);
      }
      for (const [path, text] of texts) equal(await Deno.readTextFile(path), text, `${path} is untouched`);
      equal(JSON.parse(Deno.readTextFileSync(join(dirs.mailer, Layout.TRACKING))).sequence, want.at(-1));
      deepEqual(namesIn(join(dirs.mailer, Layout.TMP)), []);
    });
  }
});

Deno.test("dispatch() calls made at once are served together, each with its own files and results", async () => {
  await using root = await tempRoot();
  const dirs = await registered(root.path);
  const dispatcher = new Dispatcher(root.path, { durable: true });
  const typeOf = (i: number) => i % 3 === 0 ? "product" : "product/created";
  const calls = Array.from({ length: 300 }, (_, i) => dispatcher.dispatch(typeOf(i), { i }));
  const results = await Promise.all(calls);
  const byListener = new Map<string, { i: number; sequence: number }[]>();
  for (const [i, deliveries] of results.entries()) {
    const reached = typeOf(i) === "product" ? ["search", "audit", "backup"] : ["mailer", "search", "audit", "backup"];
    deepEqual(deliveries.map((d) => d.listener), reached);
    for (const { listener, sequence } of deliveries) {
      deepEqual(stable(dirs[listener], sequence).payload, { i }, `${listener}/${sequence}.json holds call ${i}`);
      byListener.set(listener, [...byListener.get(listener) ?? [], { i, sequence }]);
    }
  }
  for (const { name } of LISTENERS) {
    const got = byListener.get(name)!;
    deepEqual(got.map((g) => g.sequence).sort((a, b) => a - b), got.map((_, k) => k + 1), `${name}: 1..n once each`);
    // Calls of one event type reach each listener in the order they were made.
    for (const type of ["product", "product/created"]) {
      const sequences = got.filter((g) => typeOf(g.i) === type).map((g) => g.sequence);
      deepEqual(sequences, [...sequences].sort((a, b) => a - b), `${name}: ${type} calls in order`);
    }
    const tracking = JSON.parse(Deno.readTextFileSync(join(dirs[name], Layout.TRACKING)));
    equal(tracking.sequence, got.length, `${name}: tracking.json`);
    deepEqual(namesIn(join(dirs[name], Layout.TMP)), [], `${name}: nothing left in tmp/`);
  }
});

Deno.test("dispatch() writes task files up to maxTaskSize and refuses the next byte, naming both sizes", async () => {
  await using root = await tempRoot();
  await runOnce(root.path, { name: "keeper", eventType: "", handler: () => Task.SUCCESS, durable: false });
  const maxTaskSize = 4096;
  const dispatcher = new Dispatcher(root.path, { durable: false, maxTaskSize });
  // Find the largest payload accepted; its file must fit, with room for the longest sequence number.
  let length = 0;
  for (let step = 2048; step >= 1; step /= 2) {
    try {
      const [delivery] = await dispatcher.dispatch("product", "x".repeat(length + step));
      ok((await Deno.stat(delivery.path)).size <= maxTaskSize - 14, "the bound leaves no room for 15 digits");
      length += step;
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      ok(/makes a task file of \d+ bytes, over the limit of 4096 bytes \(maxTaskSize\)/.test(error.message));
    }
  }
  ok(length > 3000, `only ${length} characters of payload fit in 4096 bytes`);
  await rejects(dispatcher.dispatch("product", "x".repeat(length + 1)), PayloadError);
});

Deno.test("dispatch() refuses a sequence number past 15 digits, naming the listener and the number, writing nothing", async (t) => {
  for (const last of [999_999_999_999_999, Number.MAX_SAFE_INTEGER]) {
    await t.step(`tracking.json at ${last}`, async () => {
      await using root = await tempRoot();
      const dirs = await registered(root.path);
      const tracking = JSON.stringify({ sequence: last, count: last, first: "2030-01-01", last: "2030-01-01" });
      await Deno.writeTextFile(join(dirs.search, Layout.TRACKING), tracking);
      await rejects(new Dispatcher(root.path).dispatch("product", { id: 1 }), SequenceLimitError);
      try {
        await new Dispatcher(root.path).dispatch("product", { id: 1 });
      } catch (thrown) {
        ok(thrown instanceof SequenceLimitError, String(thrown));
        deepEqual([thrown.listener, thrown.eventType, thrown.path, thrown.sequence], [
          "search",
          "product",
          dirs.search,
          last + 1,
        ]);
        match(thrown.message, new RegExp(`product/search.*${last + 1}.*1 to 15 digits`));
      }
      deepEqual(namesIn(join(dirs.search, Layout.INBOX)), [], "nothing written");
      equal(await Deno.readTextFile(join(dirs.search, Layout.TRACKING)), tracking, "tracking.json untouched");
      deepEqual(namesIn(join(dirs.search, Layout.TMP)), []);
      deepEqual(namesIn(join(dirs.audit, Layout.INBOX)), [], "no other listener reached either");
    });
  }
});

Deno.test("dispatch() that fails part-way throws DeliveryError with the deliveries made before, removing its staging files", async () => {
  await using root = await tempRoot();
  // The root's listener lives on a full tmpfs; product/created's does not. The deepest level is served first.
  const audit = join(root.path, "audit_listener");
  const disk = await smallTmpfs("256k", audit);
  if ("skipped" in disk) {
    console.log(`skipped: ${disk.skipped}`);
    return;
  }
  await using _disk = disk;
  for (const [name, eventType] of [["mailer", "product/created"], ["audit", ""]]) {
    await runOnce(root.path, { name, eventType, handler: () => Task.SUCCESS });
  }
  await fill(audit);
  await rejects(new Dispatcher(root.path).dispatch("product/created", { id: 1 }), DeliveryError);
  try {
    await new Dispatcher(root.path).dispatch("product/created", { id: 2 });
  } catch (thrown) {
    ok(thrown instanceof DeliveryError, String(thrown));
    const mailer = join(root.path, listenerPath("mailer", "product/created"));
    deepEqual(thrown.deliveries, [[{
      listener: "mailer",
      listenerEventType: "product/created",
      sequence: 2,
      path: join(mailer, Layout.INBOX, "2.json"),
    }]]);
    equal(thrown.delivered, 1);
    ok(thrown.cause instanceof Error && /No space left/.test(thrown.cause.message), String(thrown.cause));
    deepEqual(sequencesIn(join(mailer, Layout.INBOX)), [1, 2]);
  }
  deepEqual(namesIn(join(audit, Layout.INBOX)), []);
  deepEqual(namesIn(join(audit, Layout.TMP)), [], "no staging file left");
});

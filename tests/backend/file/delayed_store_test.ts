/**
 * The file backend's delayed events: they wait in `.hurah/delayed/`, outside
 * every inbox, and `deliverDue()` delivers each once, to the listeners of
 * that moment, also when a pass was cut short (a journal left behind).
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { decodeTask, Dispatcher, Layout } from "../../../mod.ts";
import { FileBackend } from "../../../src/backend/file/backend.ts";
import { DelayedLayout, encodeJournalLine } from "../../../src/protocol/delayed.ts";
import { checkListener } from "../../../src/protocol/listener_id.ts";
import { encodeNewTask, formatDelivery } from "../../../src/protocol/task_file.ts";
import { namesIn, sequencesIn, tempRoot } from "../../_helpers.ts";

const T0 = Date.parse("2026-12-02T10:00:00Z");

function clock() {
  const state = { now: T0 };
  return { state, now: () => new Date(state.now) };
}

async function registered(root: string, ...ids: [string, string][]) {
  const backend = new FileBackend(root);
  for (const [name, type] of ids) await backend.register(checkListener(name, type));
}

function inbox(root: string, dir: string): string {
  return join(root, dir, Layout.INBOX);
}

function eventIds(dir: string): string[] {
  return sequencesIn(dir).map((n) => decodeTask(Deno.readTextFileSync(join(dir, `${n}.json`)), n).event_id as string);
}

Deno.test("deliverDue() delivers a delayed event once it is due, to the listeners of that moment", async () => {
  await using root = await tempRoot();
  await registered(root.path, ["mailer", "user"]);
  const { state, now } = clock();
  const backend = new FileBackend(root.path, { now });
  const scheduled = await new Dispatcher(backend, { now }).dispatch("user/signup", { id: 7 }, { delay: "10m" });
  equal(scheduled.scheduled, true);
  equal(scheduled.notBefore, "2026-12-02T10:10:00.000Z");
  equal(scheduled.eventType, "user/signup");
  ok(scheduled.location.startsWith(join(root.path, ".hurah", "delayed")));
  deepEqual(namesIn(inbox(root.path, "user/mailer_listener")), [], "nothing in the inbox before it is due");

  deepEqual(await backend.deliverDue(now()), { events: 0, deliveries: 0, nextDueAt: T0 + 600_000 });
  await registered(root.path, ["audit", ""]); // registered after the dispatch, before it is due
  state.now = T0 + 599_999;
  equal((await backend.deliverDue(now())).events, 0, "one millisecond early");
  state.now = T0 + 600_000;
  deepEqual(await backend.deliverDue(now()), { events: 1, deliveries: 2, nextDueAt: undefined });
  for (const dir of ["user/mailer_listener", "audit_listener"]) {
    const text = Deno.readTextFileSync(join(inbox(root.path, dir), "1.json"));
    const task = decodeTask(text, 1);
    deepEqual(task.payload, { id: 7 });
    equal(task.event_id, scheduled.eventId);
    equal(task.event_type, "user/signup");
    equal(task.delivery, formatDelivery(new Date(T0 + 600_000)));
  }
  deepEqual(namesIn(join(root.path, DelayedLayout.DIR)), [DelayedLayout.LOCK, DelayedLayout.TMP]);
  deepEqual(await backend.deliverDue(now()), { events: 0, deliveries: 0, nextDueAt: undefined }, "delivered once");
});

Deno.test("deliverDue() delivers due events in due order and keeps the others, whose time it says", async () => {
  await using root = await tempRoot();
  await registered(root.path, ["worker", "job"]);
  const { state, now } = clock();
  const backend = new FileBackend(root.path, { now });
  const dispatcher = new Dispatcher(backend, { now });
  for (const [n, delay] of [[1, 3000], [2, 1000], [3, 2000], [4, 60_000]]) {
    await dispatcher.dispatch("job", n, { delay });
  }
  await dispatcher.dispatch("job", 5, { notBefore: new Date(T0 - 5000) }); // in the past: due at once
  state.now = T0 + 3000;
  deepEqual(await backend.deliverDue(now()), { events: 4, deliveries: 4, nextDueAt: T0 + 60_000 });
  const dir = inbox(root.path, "job/worker_listener");
  deepEqual(sequencesIn(dir).map((n) => decodeTask(Deno.readTextFileSync(join(dir, `${n}.json`)), n).payload), [
    5,
    2,
    3,
    1,
  ]);
  const report = await backend.operations.status({ now });
  deepEqual(report.delayed, { waiting: 1, nextDueAt: new Date(T0 + 60_000).toISOString() });
});

Deno.test("deliverDue() by two backends at once delivers each event once", async () => {
  await using root = await tempRoot();
  await registered(root.path, ["a", "t"], ["b", "t"]);
  const { state, now } = clock();
  const one = new FileBackend(root.path, { now });
  const two = new FileBackend(root.path, { now });
  const ids = new Set<string>();
  for (let k = 0; k < 40; k++) {
    ids.add((await new Dispatcher(one, { now }).dispatch("t", k, { delay: k * 10 })).eventId);
  }
  state.now = T0 + 1000;
  const results = await Promise.all([
    one.deliverDue(now(), { timeoutMs: 5000 }),
    two.deliverDue(now(), { timeoutMs: 5000 }),
  ]);
  equal(results[0].events + results[1].events, 40);
  for (const name of ["a", "b"]) {
    const found = eventIds(inbox(root.path, `t/${name}_listener`));
    equal(found.length, 40);
    deepEqual(new Set(found), ids);
  }
});

Deno.test("deliverDue() finishes a pass cut short: a listener begun is not delivered twice", async (t) => {
  for (const linked of [true, false]) {
    await t.step(linked ? "after the link into the inbox" : "before the link", async () => {
      await using root = await tempRoot();
      await registered(root.path, ["a", "t"], ["b", "t"]);
      const { now } = clock();
      const backend = new FileBackend(root.path, { now });
      const scheduled = await new Dispatcher(backend, { now }).dispatch("t", "x", { notBefore: new Date(T0) });
      const name = scheduled.location.split("/").at(-1)!;
      // What a process killed while delivering to a/ leaves: the journal, and (maybe) a's task.
      const journal = join(root.path, DelayedLayout.DIR, DelayedLayout.JOURNAL);
      Deno.writeTextFileSync(
        journal,
        encodeJournalLine({ events: [name] }) + encodeJournalLine({ began: "t/a_listener", after: 0 }),
      );
      const a = backend.store.listenersFor(["t"]).find((listener) => listener.name === "a")!;
      if (linked) {
        await backend.store.deliver(a, [(n) => encodeNewTask('"x"', n, "-", "t", scheduled.eventId)], "-");
      }
      deepEqual(await backend.deliverDue(now()), { events: 1, deliveries: linked ? 1 : 2, nextDueAt: undefined });
      deepEqual(eventIds(inbox(root.path, "t/a_listener")), [scheduled.eventId]);
      deepEqual(eventIds(inbox(root.path, "t/b_listener")), [scheduled.eventId]);
      equal(namesIn(join(root.path, DelayedLayout.DIR)).includes(DelayedLayout.JOURNAL), false);
    });
  }
});

Deno.test("deliverDue() sets an unreadable delayed file aside in error/ with its reason", async () => {
  await using root = await tempRoot();
  await registered(root.path, ["a", "t"]);
  const { now } = clock();
  const backend = new FileBackend(root.path, { now });
  const scheduled = await new Dispatcher(backend, { now }).dispatch("t", 1, { notBefore: new Date(T0) });
  Deno.writeTextFileSync(scheduled.location, "{not json");
  deepEqual(await backend.deliverDue(now()), { events: 0, deliveries: 0, nextDueAt: undefined });
  const name = scheduled.location.split("/").at(-1)!;
  const errorDir = join(root.path, DelayedLayout.DIR, DelayedLayout.ERROR);
  deepEqual(namesIn(errorDir), [name, `${name}.reason.txt`]);
  match(Deno.readTextFileSync(join(errorDir, `${name}.reason.txt`)), /^not a delayed event: /);
});

Deno.test("Dispatcher.dispatch() refuses a bad delay before writing anything", async () => {
  await using root = await tempRoot();
  const dispatcher = new Dispatcher(root.path);
  for (const options of [{ delay: -5 }, { delay: "soon" }, { delay: 1, notBefore: new Date() }]) {
    let error: unknown;
    // deno-lint-ignore no-explicit-any
    await dispatcher.dispatch("t", 1, options as any).catch((caught) => error = caught);
    ok(error instanceof RangeError, String(error));
  }
  deepEqual(namesIn(root.path), []);
});

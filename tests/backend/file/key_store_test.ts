import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher, LockTimeoutError } from "../../../mod.ts";
import {
  KEY_SWEEP_INTERVAL_MS,
  keyFileName,
  KEYS_DIR,
  KeyStore,
  STALE_CLAIM_MS,
} from "../../../src/backend/file/key_store.ts";
import { tempRoot } from "../../_helpers.ts";
import { dispatchKeysAtOnce } from "../../integration/_key_dispatch.ts";

/** A root with one listener of `order/paid`, and a clock the test moves. */
async function keyedRoot() {
  const root = await tempRoot();
  await Deno.mkdir(join(root.path, "order", "paid", "mail_listener", "inbox"), { recursive: true });
  let now = Date.parse("2026-12-01T10:00:00Z");
  const clock = { now: () => new Date(now), advance: (ms: number) => void (now += ms) };
  return { root, clock, store: () => new KeyStore(root.path, { durable: false, now: clock.now, wait: {} }) };
}

function inbox(root: string): string[] {
  return [...Deno.readDirSync(join(root, "order", "paid", "mail_listener", "inbox"))].map((each) => each.name).sort();
}

Deno.test("KeyStore.claim() claims a new key once; a second claim is a duplicate with the recorded deliveries", async () => {
  const { root, store: open } = await keyedRoot();
  await using _ = root;
  const store = open();
  const first = await store.claim("order/paid", "k", 60_000, "event-1");
  equal(first.kind, "claimed");
  if (first.kind !== "claimed") return;
  const delivery = { listener: "mail", listenerEventType: "order/paid", sequence: 1, path: "/x/1.json" };
  equal(await store.record(first.claim, [delivery]), true);
  const second = await open().claim("order/paid", "k", 60_000, "event-2");
  equal(second.kind, "duplicate");
  if (second.kind === "duplicate") {
    deepEqual(second.record.deliveries, [delivery]);
    equal(second.record.event_id, "event-1");
  }
  // Scoped per event type: the same key of another type is another event.
  equal((await store.claim("order/refunded", "k", 60_000, "event-3")).kind, "claimed");
  ok(Deno.statSync(join(root.path, KEYS_DIR, keyFileName("order/paid", "k"))).isFile);
  deepEqual([...Deno.readDirSync(join(root.path, KEYS_DIR, "tmp"))], []);
});

Deno.test("KeyStore.claim() claims an expired key anew, and a released one", async () => {
  const { root, clock, store: open } = await keyedRoot();
  await using _ = root;
  const store = open();
  const first = await store.claim("order/paid", "k", 60_000, "event-1");
  if (first.kind !== "claimed") throw new Error("expected a claim");
  await store.record(first.claim, []);
  clock.advance(60_001);
  const again = await store.claim("order/paid", "k", 60_000, "event-2");
  equal(again.kind, "claimed");
  if (again.kind !== "claimed") return;
  equal(again.claim.record.event_id, "event-2");
  await store.release(again.claim);
  equal((await store.claim("order/paid", "k", 60_000, "event-3")).kind, "claimed");
});

Deno.test("KeyStore.claim() waits while another claim is being delivered, then returns its deliveries", async () => {
  const { root, clock, store: open } = await keyedRoot();
  await using _ = root;
  const winner = open();
  const first = await winner.claim("order/paid", "k", 60_000, "event-1");
  if (first.kind !== "claimed") throw new Error("expected a claim");
  const waiting = open().claim("order/paid", "k", 60_000, "event-2");
  await new Promise((resolve) => setTimeout(resolve, 50));
  await winner.record(first.claim, [{ listener: "mail", listenerEventType: "order/paid", sequence: 7, path: "p" }]);
  const outcome = await waiting;
  equal(outcome.kind, "duplicate");
  if (outcome.kind === "duplicate") equal(outcome.record.deliveries[0].sequence, 7);
  // And a bounded wait ends with LockTimeoutError naming the claimer.
  const held = await winner.claim("order/paid", "other", 60_000, "event-3");
  if (held.kind !== "claimed") throw new Error("expected a claim");
  const bounded = new KeyStore(root.path, { durable: false, now: clock.now, wait: { timeoutMs: 30 } });
  await rejects(bounded.claim("order/paid", "other", 60_000, "event-4"), LockTimeoutError);
  await winner.release(held.claim);
});

Deno.test("KeyStore.claim() takes over a claim whose dispatcher is gone, or that is stale, keeping its event id", async (t) => {
  const { root, clock, store: open } = await keyedRoot();
  await using _ = root;
  await t.step("its flock is free: the dispatcher died between claim and record", async () => {
    const first = await open().claim("order/paid", "dead", 60_000, "event-1");
    if (first.kind !== "claimed") throw new Error("expected a claim");
    first.claim.file.close(); // what a kill -9 leaves: the claim, unlocked, with no deliveries
    const outcome = await open().claim("order/paid", "dead", 60_000, "event-2");
    equal(outcome.kind, "claimed");
    if (outcome.kind === "claimed") equal(outcome.claim.record.event_id, "event-1");
  });
  await t.step("held, but older than STALE_CLAIM_MS", async () => {
    const first = await open().claim("order/paid", "frozen", 60_000, "event-3");
    if (first.kind !== "claimed") throw new Error("expected a claim");
    clock.advance(STALE_CLAIM_MS + 1);
    const outcome = await open().claim("order/paid", "frozen", 60_000, "event-4");
    equal(outcome.kind, "claimed");
    // The frozen dispatcher's record no longer replaces the new claim.
    equal(await open().record(first.claim, []), false);
  });
});

Deno.test("KeyStore.sweep() removes expired keys and keeps live ones; dispatchers sweep at most hourly", async () => {
  const { root, clock, store: open } = await keyedRoot();
  await using _ = root;
  const store = open();
  for (const [key, windowMs] of [["short", 1_000], ["long", 3_600_000]] as const) {
    const outcome = await store.claim("order/paid", key, windowMs, key);
    if (outcome.kind === "claimed") await store.record(outcome.claim, []);
  }
  clock.advance(2_000);
  equal(await store.sweep(), 1);
  const names = [...Deno.readDirSync(join(root.path, KEYS_DIR))].map((each) => each.name).filter((name) =>
    name.endsWith(".json")
  );
  deepEqual(names, [keyFileName("order/paid", "long")]);
  // The marker says when the last sweep was: a claim within the interval does not sweep.
  const marker = join(root.path, KEYS_DIR, "swept");
  ok(Date.now() - Deno.statSync(marker).mtime!.getTime() < KEY_SWEEP_INTERVAL_MS);
});

Deno.test("Dispatcher.dispatch() with a key delivers once and returns the first deliveries as duplicates", async () => {
  const { root } = await keyedRoot();
  await using _ = root;
  const dispatcher = new Dispatcher(root.path, { durable: false });
  const first = await dispatcher.dispatch("order/paid", { n: 1 }, { key: "pay-1", window: "1h" });
  equal(first[0].duplicate, undefined);
  const second = await new Dispatcher(root.path).dispatch("order/paid", { n: 2 }, { key: "pay-1" });
  deepEqual(second, first.map((each) => ({ ...each, duplicate: true })));
  deepEqual(inbox(root.path), ["1.json"]);
  await rejects(dispatcher.dispatch("order/paid", null, { key: "" }), RangeError);
  await rejects(dispatcher.dispatch("order/paid", null, { window: "1h" }), RangeError);
  await rejects(dispatcher.dispatch("order/paid", null, { key: "x", window: "soon" }), Error);
  deepEqual(inbox(root.path), ["1.json"]);
});

Deno.test("Dispatcher.dispatch() with one key from 4 processes at once: each of 100 keys delivered exactly once", async () => {
  const { root } = await keyedRoot();
  await using _ = root;
  const results = await dispatchKeysAtOnce(root.path, "order/paid", 4, 100);
  const tasks = inbox(root.path);
  equal(tasks.length, 100, "one task per key");
  const keyOf = new Map<number, string>();
  for (const name of tasks) {
    const task = JSON.parse(Deno.readTextFileSync(join(root.path, "order", "paid", "mail_listener", "inbox", name)));
    keyOf.set(task.sequence, task.payload.key);
  }
  for (let k = 0; k < 100; k++) {
    const key = `key-${k}`;
    const each = results.map((process) => process.find((result) => result.key === key)!);
    equal(each.filter((result) => !result.duplicate).length, 1, `${key}: one winner`);
    // Every process reports the winner's delivery: the one task of that key.
    for (const result of each) {
      equal(result.deliveries.length, 1);
      equal(keyOf.get(result.deliveries[0][1]), key);
    }
  }
});

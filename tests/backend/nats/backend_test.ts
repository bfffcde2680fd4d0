/**
 * What only the NATS backend does: de-duplication by event id, interest
 * retention, lost deliveries found from the delivery count, in-progress acks
 * keeping a long task, the FAILURE pause holding an ordered listener, a
 * consumer deleted by hand, the server's max_payload. A real nats-server per case.
 *
 * @module
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { Dispatcher, PayloadError, runOnce, Task, type TaskContext, watch } from "../../../mod.ts";
import {
  BrokerError,
  consumerName,
  EVENT_STREAM,
  NatsBackend,
  type NatsBackendOptions,
} from "../../../src/backend/nats/mod.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { checkListener } from "../../../src/protocol/listener_id.ts";
import type { RunEvent } from "../../../src/worker/report.ts";
import { waitUntil } from "../../_helpers.ts";
import { NATS_SKIP, type NatsServer, reportSkip, startNatsServer } from "../../_nats.ts";

reportSkip("tests/backend/nats/backend_test.ts");

const ignore = NATS_SKIP !== undefined;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A server and a backend on it, for one case. */
async function natsCase(options: NatsBackendOptions = {}) {
  const server = await startNatsServer();
  const backend = await NatsBackend.connect(server.url, { pollIntervalMs: 100, ...options });
  return {
    server,
    backend,
    async [Symbol.asyncDispose]() {
      await backend.close();
      await server.stop();
    },
  };
}

/** The number of messages the event stream holds. */
async function streamMessages(server: NatsServer): Promise<number> {
  const nc = await connect({ servers: server.url });
  try {
    return (await (await jetstreamManager(nc)).streams.info(EVENT_STREAM)).state.messages;
  } finally {
    await nc.close();
  }
}

const EVENT = { eventType: "a", segments: ["a"], payloadJson: "1", delivery: "2026-12-02T00:00:00+00:00" };

Deno.test({
  name: "publish() with an event id already published stores it once (Nats-Msg-Id)",
  ignore,
  async fn() {
    await using nats = await natsCase();
    await nats.backend.register(checkListener("l", "a"));
    const [[first]] = await nats.backend.publish([{ ...EVENT, eventId: "e-1" }]);
    const [[again]] = await nats.backend.publish([{ ...EVENT, eventId: "e-1" }]);
    equal(again.sequence, first.sequence);
    equal(await streamMessages(nats.server), 1);
    const report = await runOnce(nats.backend, { name: "l", eventType: "a", handler: () => Task.SUCCESS });
    equal(report.archived, 1);
  },
});

Deno.test({
  name: "an event no listener's consumer matches is not stored (interest retention); a later listener does not get it",
  ignore,
  async fn() {
    await using nats = await natsCase();
    await nats.backend.register(checkListener("l", "b"));
    deepEqual(await nats.backend.publish([{ ...EVENT, eventId: "e-1" }]), [[]]);
    equal(await streamMessages(nats.server), 0);
    const report = await runOnce(nats.backend, { name: "l", eventType: "a", handler: () => Task.SUCCESS });
    equal(report.handled, 0);
  },
});

Deno.test({
  name:
    "a delivery nobody settled (its worker gone) is found from the delivery count: one LOST record, retries untouched",
  ignore,
  async fn() {
    await using nats = await natsCase({ ackWaitMs: 500 });
    const listener = checkListener("l", "a");
    await nats.backend.register(listener);
    await new Dispatcher(nats.backend).dispatch("a", { n: 1 });
    // A worker takes the task, then its connection goes away without settling it.
    const gone = await NatsBackend.connect(nats.server.url, { ackWaitMs: 500 });
    const queue = await gone.open(listener, {
      worker: "w-gone",
      maxTaskSize: 1 << 20,
      archive: "keep",
      now: () => new Date(),
      wait: {},
    });
    queue.startPass();
    const take = await queue.take(1, { stopped: () => false, recover: () => Promise.resolve() });
    equal(take.tasks.length, 1);
    await gone.close();
    await queue[Symbol.asyncDispose]();
    const events: RunEvent[] = [];
    let seen: TaskContext | undefined;
    await waitUntil(
      "the task handled after its ack wait",
      async () => {
        await runOnce(nats.backend, {
          name: "l",
          eventType: "a",
          onEvent: (event) => events.push(event),
          handler: (context) => {
            seen = context;
            return Task.SUCCESS;
          },
        });
        return seen !== undefined;
      },
      15_000,
      100,
    );
    const lost = events.filter((e) => e.type === "task" && e.result === "LOST");
    equal(lost.length, 1, JSON.stringify(events));
    equal(seen!.retryCount, 0);
    equal(seen!.record.lost_count, 1);
    equal(seen!.record.failures?.at(-1)?.result, "LOST");
  },
});

Deno.test({
  name: "a parallel queue pulls exactly its free slots; closed, it gives back what it took: no LOST record",
  ignore,
  async fn() {
    await using nats = await natsCase();
    const listener = checkListener("l", "a");
    await nats.backend.register(listener);
    await new Dispatcher(nats.backend).dispatchMany(
      Array.from({ length: 20 }, (_, n) => ({ eventType: "a", payload: n })),
    );
    const parallel = { hostId: "h", leaseMs: 30_000, reapIntervalMs: 60_000 };
    const open = {
      worker: "w",
      maxTaskSize: 1 << 20,
      archive: "keep" as const,
      now: () => new Date(),
      wait: {},
      parallel,
    };
    const queue = await nats.backend.open(listener, open);
    queue.startPass();
    const hooks = { stopped: () => false, recover: () => Promise.resolve() };
    equal((await queue.take(4, hooks)).tasks.length, 4);
    equal((await queue.take(1, hooks)).tasks.length, 1, "one slot freed: one task");
    const nc = await connect({ servers: nats.server.url });
    try {
      const consumers = (await jetstreamManager(nc)).consumers;
      const name = await consumerName(listener.id);
      // Nothing fetched ahead (it would wait out its ack wait if the worker's event loop stalled): 5 delivered.
      await sleep(200);
      equal((await consumers.info(EVENT_STREAM, name)).num_ack_pending, 5);
    } finally {
      await nc.close();
    }
    await queue[Symbol.asyncDispose](); // the 5 are given back (a nak each): the next pass has them at once
    const events: RunEvent[] = [];
    const handled: unknown[] = [];
    await runOnce(nats.backend, {
      name: "l",
      eventType: "a",
      concurrency: 4,
      onEvent: (event) => events.push(event),
      handler: (context) => {
        handled.push(context.payload);
        equal(context.record.lost_count ?? 0, 0);
        return Task.SUCCESS;
      },
    });
    deepEqual(handled.toSorted((a, b) => Number(a) - Number(b)), Array.from({ length: 20 }, (_, n) => n));
    equal(events.filter((e) => e.type === "task" && e.result === "LOST").length, 0, JSON.stringify(events));
  },
});

Deno.test({
  name: "a handler that takes 3 ack waits is not redelivered while it runs (in-progress acks); without them it is",
  ignore,
  async fn(t) {
    for (const inProgressAcks of [true, false]) {
      await t.step(`in-progress acks ${inProgressAcks ? "on" : "off"}`, async () => {
        await using nats = await natsCase({ inProgressAcks });
        await nats.backend.register(checkListener("long", "a"));
        await new Dispatcher(nats.backend).dispatch("a", 1);
        const events: RunEvent[] = [];
        let calls = 0;
        const listeners = [{
          name: "long",
          eventType: "a",
          concurrency: 2,
          handler: async () => {
            if (++calls === 1) await sleep(3300);
            return Task.SUCCESS;
          },
        }];
        // Two workers: the second one would get the task if the server redelivered it.
        await using second = await NatsBackend.connect(nats.server.url, { pollIntervalMs: 100, inProgressAcks });
        await using first = watch(nats.backend, { onEvent: (event) => events.push(event), listeners, leaseMs: 1000 });
        await first.ready;
        await waitUntil("the first attempt to start", () => calls === 1);
        await using other = watch(second, { onEvent: (event) => events.push(event), listeners, leaseMs: 1000 });
        await other.ready;
        await waitUntil("the first attempt done", () => events.some((e) => e.type === "task"), 15_000);
        await sleep(1300); // one more ack wait: a redelivery would show now
        await other.close();
        await first.close();
        const redelivered = events.some((e) => e.type === "task" && e.result === "LOST") || calls > 1;
        equal(redelivered, !inProgressAcks, JSON.stringify({ calls, events }));
      });
    }
  },
});

Deno.test({
  name: "FAILURE in ordered mode holds the listener for the pause (a nak with a delay): nothing is taken meanwhile",
  ignore,
  async fn() {
    await using nats = await natsCase();
    await nats.backend.register(checkListener("l", "a"));
    const dispatcher = new Dispatcher(nats.backend);
    await dispatcher.dispatch("a", 1);
    await dispatcher.dispatch("a", 2);
    const failed = await runOnce(nats.backend, { name: "l", eventType: "a", handler: () => Task.FAILURE });
    ok(failed.failedAt !== undefined);
    // Every pass after the FAILURE records what it handles (a slow pass, past the pause, may handle both tasks).
    const order: unknown[] = [];
    const recording = {
      name: "l",
      eventType: "a",
      handler: (context: TaskContext) => {
        order.push(context.payload);
        return Task.SUCCESS;
      },
    };
    const started = Date.now();
    const right = await runOnce(nats.backend, recording);
    if (Date.now() - started < 400) equal(right.handled, 0, "the next task waits behind the paused one");
    // What the server says of the consumer after each pass: a stall shows where the delivery went.
    let passes = 0;
    let consumer = "";
    const nc = await connect({ servers: nats.server.url });
    const consumers = (await jetstreamManager(nc)).consumers;
    const name = await consumerName("a/l");
    await waitUntil(
      () => `both handled (handled so far: ${JSON.stringify(order)}, after ${passes} passes; consumer: ${consumer})`,
      async () => {
        if (order.length < 2) {
          const result = await runOnce(nats.backend, recording);
          passes++;
          const info = await consumers.info(EVENT_STREAM, name);
          const { num_ack_pending, num_pending, num_redelivered, num_waiting, delivered, ack_floor } = info;
          consumer = JSON.stringify({
            handled: result.handled,
            num_ack_pending,
            num_pending,
            num_redelivered,
            num_waiting,
            delivered,
            ack_floor,
          });
        }
        return order.length === 2;
      },
      15_000,
      100,
    ).finally(() => nc.close());
    deepEqual(order, [1, 2]);
  },
});

Deno.test({
  name: "register() keeps an existing consumer; status() says when a listener's consumer is missing",
  ignore,
  async fn() {
    await using nats = await natsCase();
    const listener = checkListener("l", "a");
    await nats.backend.register(listener);
    await new Dispatcher(nats.backend).dispatch("a", 1);
    await using other = await NatsBackend.connect(nats.server.url);
    await other.register(listener);
    const status = await other.operations.status({ listeners: ["a/l", "a/missing"] });
    deepEqual(
      status.listeners.map((l) => [l.listener, l.pending, l.broker?.missing]),
      [["a/l", 1, false], ["a/missing", 0, true]],
    );
    equal((await other.operations.findListener("a/l")).id, "a/l");
  },
});

Deno.test({
  name: "a pull from a consumer deleted by hand throws BrokerError naming it",
  ignore,
  async fn() {
    await using nats = await natsCase();
    const listener = checkListener("l", "a");
    await nats.backend.register(listener);
    await using queue = await nats.backend.open(listener, {
      worker: "w",
      maxTaskSize: 1 << 20,
      archive: "keep",
      now: () => new Date(),
      wait: {},
    });
    const nc = await connect({ servers: nats.server.url });
    try {
      await (await jetstreamManager(nc)).consumers.delete(EVENT_STREAM, await consumerName(listener.id));
    } finally {
      await nc.close();
    }
    queue.startPass();
    const error = await rejects(
      () => queue.take(1, { stopped: () => false, recover: () => Promise.resolve() }),
      BrokerError,
    );
    void error;
  },
});

Deno.test({
  name: "a payload over the server's max_payload is refused before anything is published (PayloadError)",
  ignore,
  async fn() {
    await using nats = await natsCase();
    await nats.backend.register(checkListener("l", "a"));
    const big = { data: "x".repeat(2 * 1024 * 1024) };
    await rejects(
      () =>
        new Dispatcher(nats.backend).dispatchMany([{ eventType: "a", payload: 1 }, { eventType: "a", payload: big }]),
      PayloadError,
    );
    equal(await streamMessages(nats.server), 0);
  },
});

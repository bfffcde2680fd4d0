/**
 * The puller's answers, on a fake connection that answers when the test says:
 * a loaded server reads a pull late and answers it after the worker gave up on
 * it, even after the queue closed.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { Puller } from "../../../src/backend/nats/_pull.ts";
import { EVENT_STREAM } from "../../../src/backend/nats/subjects.ts";

/** A connection whose server never answers by itself: `deliver()` and `status()` answer for it. */
function fakeLink() {
  let callback: ((error: Error | null, message: Msg) => void) | undefined;
  const requests: string[] = [];
  const nc = {
    subscribe(_subject: string, options: { callback: (error: Error | null, message: Msg) => void }) {
      callback = options.callback;
      return { unsubscribe: () => callback = undefined };
    },
    publish(_subject: string, _data: string, options: { reply: string }) {
      requests.push(options.reply);
    },
  } as unknown as NatsConnection;
  const jsm = { consumers: { info: () => Promise.resolve({}) } } as unknown as JetStreamManager;
  const send = (message: Partial<Msg>) => callback?.(null, message as Msg);
  return {
    link: { nc, jsm },
    requests,
    /** Whether the puller still reads its reply subscription. */
    listening: () => callback !== undefined,
    deliver: (sequence: number) =>
      send({
        subject: "hurah.ev.a",
        reply: `$JS.ACK.${EVENT_STREAM}.c.1.${sequence}.${sequence}.0.0`,
        headers: undefined,
      }),
    status: (reply: string, code: number) =>
      send({ subject: reply, reply: "", headers: { code, description: "" } as unknown as Msg["headers"] }),
  };
}

const OPTIONS = { consumer: "c", pullExpiresMs: 10, requestTimeoutMs: 200 };

Deno.test("a pull answered at once takes its messages, and a status ends it", async () => {
  const fake = fakeLink();
  const puller = new Puller(fake.link, OPTIONS);
  const pulled = puller.pull(EVENT_STREAM, 2);
  fake.deliver(1);
  fake.status(fake.requests[0], 408);
  deepEqual((await pulled).map((message) => message.reply?.split(".").at(-3)), ["1"]);
  equal(puller.unanswered, false);
  puller.close(() => {});
  equal(fake.listening(), false, "nothing outstanding: the subscription ends at once");
});

Deno.test("a delivery answering a pull given up on after the queue closed is handed back, not dropped", async () => {
  const fake = fakeLink();
  const puller = new Puller(fake.link, OPTIONS);
  equal((await puller.pull(EVENT_STREAM, 1)).length, 0); // the server never answered: given up on
  equal(puller.unanswered, true);
  const orphans: Msg[] = [];
  puller.close((message) => orphans.push(message));
  equal(fake.listening(), true, "a pull is outstanding: its answer is still read");
  fake.deliver(7); // the server reads the request late and delivers to it
  equal(orphans.length, 1, "the late delivery reaches the closed queue's hand-back");
  fake.status(fake.requests[0], 408);
  equal(fake.listening(), false, "every outstanding pull answered: the subscription ends");
});

Deno.test("a closed puller stops reading after the request timeout when an outstanding pull is never answered", async () => {
  const fake = fakeLink();
  const puller = new Puller(fake.link, OPTIONS);
  await puller.pull(EVENT_STREAM, 1);
  puller.close(() => {});
  equal(fake.listening(), true);
  await new Promise((resolve) => setTimeout(resolve, OPTIONS.requestTimeoutMs + 50));
  equal(fake.listening(), false);
});

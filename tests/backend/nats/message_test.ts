import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  decodeState,
  encodeState,
  firstRecord,
  parseAckSubject,
  stableTaskId,
} from "../../../src/backend/nats/_message.ts";
import { failurePauseMs } from "../../../src/backend/nats/queue.ts";
import { CorruptFileError } from "../../../src/errors.ts";

Deno.test("parseAckSubject() reads the old and the new ack subject", () => {
  const old = parseAckSubject("$JS.ACK.HURAH_EV_1.mailer.3.42.7.1796177508500302100.5");
  deepEqual(old, { stream: "HURAH_EV_1", consumer: "mailer", deliveryCount: 3, streamSequence: 42, pending: 5 });
  const current = parseAckSubject("$JS.ACK.dom.ACC.HURAH_EV_1.mailer.1.9.9.1796177508500302100.0.xyz");
  deepEqual(current, { stream: "HURAH_EV_1", consumer: "mailer", deliveryCount: 1, streamSequence: 9, pending: 0 });
  throws(() => parseAckSubject("_INBOX.abc"), RangeError);
});

Deno.test("encodeState() and decodeState() keep the record and the deliveries accounted for", () => {
  const state = { accounted: 2, record: { payload: { a: 1 }, sequence: 5, count: 5, delivery: "d", retry_count: 1 } };
  deepEqual(decodeState(encodeState(state)), state);
  throws(() => decodeState("{"), CorruptFileError);
  throws(() => decodeState('{"record":{}}'), CorruptFileError);
});

Deno.test("firstRecord() builds a task record from a message; a payload that does not parse is refused", () => {
  const record = firstRecord('{"id":7}', 12, { delivery: "d", eventType: "a/b", eventId: "e", taskId: "t" });
  deepEqual(record, {
    payload: { id: 7 },
    sequence: 12,
    count: 12,
    delivery: "d",
    event_type: "a/b",
    event_id: "e",
    task_id: "t",
  });
  throws(
    () => firstRecord("{", 1, { delivery: "", eventType: undefined, eventId: undefined, taskId: "t" }),
    CorruptFileError,
  );
  throws(
    () => firstRecord("", 1, { delivery: "", eventType: undefined, eventId: undefined, taskId: "t" }),
    CorruptFileError,
  );
});

Deno.test("stableTaskId() is a UUID, the same for one event and consumer, different otherwise", () => {
  const id = stableTaskId("event-1", "mailer");
  ok(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id), id);
  equal(stableTaskId("event-1", "mailer"), id);
  ok(id !== stableTaskId("event-1", "other"));
  ok(id !== stableTaskId("event-2", "mailer"));
  // The ids of earlier versions (tasks taken before an upgrade keep theirs): the SHA-256's first 16 bytes.
  equal(id, "0d674d5a-84e2-831f-86aa-41c18cbebb30");
  equal(stableTaskId("7", "a_sb"), "a3cb039e-8afa-8dbb-99cf-6bd73c8aee77");
});

Deno.test("failurePauseMs() grows with the FAILURE records in a row at the end, up to 60 s", () => {
  const failure = { result: "FAILURE", message: "", time: "", attempt: 1 };
  const record = (n: number) => ({
    payload: null,
    sequence: 1,
    count: 1,
    delivery: "",
    failures: Array(n).fill(failure),
  });
  const first = failurePauseMs(record(1));
  ok(first >= 500 && first <= 1000, String(first));
  const fourth = failurePauseMs(record(4));
  ok(fourth >= 4000 && fourth <= 8000, String(fourth));
  ok(failurePauseMs(record(20)) <= 60_000);
  const afterRetry = { ...record(3), failures: [...record(3).failures!, { ...failure, result: "RETRY" }] };
  ok(failurePauseMs(afterRetry) <= 1000);
});

import { deepEqual, equal, throws } from "node:assert/strict";
import {
  decodeDelayed,
  decodeJournal,
  delayedFileName,
  dueOfFileName,
  dueTime,
  encodeDelayed,
  encodeJournalLine,
} from "../../src/protocol/delayed.ts";

const NOW = new Date("2026-12-02T10:00:00.000Z");
const ID = "0add4ab8-0983-4055-a580-331ebd5a63de";

Deno.test("dueTime() adds a delay in milliseconds or as a duration text, or takes notBefore", () => {
  const table: [Parameters<typeof dueTime>[0], Date | undefined, string | undefined][] = [
    [undefined, undefined, undefined],
    [0, undefined, "2026-12-02T10:00:00.000Z"],
    [1500, undefined, "2026-12-02T10:00:01.500Z"],
    ["10m", undefined, "2026-12-02T10:10:00.000Z"],
    ["90", undefined, "2026-12-02T10:01:30.000Z"], // a bare number in a text is seconds, as on the command line
    ["500ms", undefined, "2026-12-02T10:00:00.500Z"],
    [undefined, new Date("2026-12-24T18:00:00Z"), "2026-12-24T18:00:00.000Z"],
    [undefined, new Date("2020-01-01T00:00:00Z"), "2020-01-01T00:00:00.000Z"], // past: due at once
  ];
  for (const [delay, notBefore, expected] of table) {
    equal(dueTime(delay, notBefore, NOW)?.toISOString(), expected, `${delay} ${notBefore}`);
  }
});

Deno.test("dueTime() refuses both options, negative or malformed delays and invalid or far dates", () => {
  throws(() => dueTime(1, new Date(), NOW), /give delay or notBefore, not both/);
  throws(() => dueTime(-1, undefined, NOW), /delay must be 0 or more milliseconds, found -1/);
  throws(() => dueTime(NaN, undefined, NOW), RangeError);
  throws(() => dueTime("soon", undefined, NOW), /delay must be a duration like 500ms.*found "soon"/);
  throws(() => dueTime(undefined, new Date("nope"), NOW), /notBefore must be a valid Date/);
  throws(() => dueTime("999999999d", undefined, NOW), /before the year 10000/);
});

Deno.test("delayedFileName() sorts by due time and dueOfFileName() reads it back", () => {
  const early = delayedFileName(new Date(5), ID);
  const late = delayedFileName(new Date("2026-12-24T18:00:00Z"), ID);
  equal(early, `000000000000005-${ID}.json`);
  equal(dueOfFileName(late), Date.parse("2026-12-24T18:00:00Z"));
  deepEqual([late, early].sort(), [early, late]);
  for (const other of ["deliver.lock", "journal.jsonl", "tmp", `5-${ID}.json`, `${early}.tmp`]) {
    equal(dueOfFileName(other), undefined, other);
  }
});

Deno.test("encodeDelayed() writes PHP's JSON with the payload last, and decodeDelayed() reads it", () => {
  const record = {
    eventType: "mail/reminder",
    eventId: ID,
    notBefore: new Date("2026-12-24T18:00:00Z"),
    scheduledAt: NOW,
    payloadJson: '{"url":"a\\/b","name":"\\u00e9"}',
  };
  const text = encodeDelayed(record);
  equal(
    text,
    `{"event_type":"mail\\/reminder","event_id":"${ID}","not_before":"2026-12-24T18:00:00.000Z",` +
      `"scheduled_at":"2026-12-02T10:00:00.000Z","payload":{"url":"a\\/b","name":"\\u00e9"}}`,
  );
  deepEqual(decodeDelayed(text), record);
  throws(() => decodeDelayed("[]"), /not a JSON object/);
  throws(() => decodeDelayed(`{"event_type":"a","event_id":"x","not_before":"2026-01-01T00:00:00Z"}`), /payload/);
  throws(() => decodeDelayed(`{"event_type":"a","event_id":"x","not_before":"later","payload":1}`), /not_before/);
});

Deno.test("decodeJournal() leaves out a line cut short, and a listener done stays done", () => {
  const full = encodeJournalLine({ events: ["a.json", "b.json"] }) +
    encodeJournalLine({ began: "x/one_listener", after: 7 }) +
    encodeJournalLine({ done: "x/one_listener" }) +
    encodeJournalLine({ began: "two_listener", after: 0 });
  const journal = decodeJournal(full + '{"done":"two_li');
  deepEqual(journal?.events, ["a.json", "b.json"]);
  deepEqual([...journal!.listeners], [["x/one_listener", "done"], ["two_listener", 0]]);
  equal(decodeJournal('{"events":["a.js'), undefined, "a first line cut short: the pass began nothing");
  equal(decodeJournal(""), undefined);
});

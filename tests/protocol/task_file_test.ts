import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { CorruptFileError } from "../../src/errors.ts";
import {
  decodeTask,
  decodeTracking,
  encodeTask,
  encodeTracking,
  type FailureRecord,
  formatDelivery,
  MAX_FAILURE_RECORDS,
  sequenceOf,
  type TaskRecord,
  withFailure,
} from "../../src/protocol/task_file.ts";
import { FIXTURES } from "../_helpers.ts";

const IMAGE_SCALER = join(FIXTURES, "01-dispatched", "product", "created", "image_scaler_listener");

Deno.test("encodeTask() writes a task byte for byte as the PHP library did", async () => {
  const phpText = await Deno.readTextFile(join(IMAGE_SCALER, "inbox", "2.json"));
  const { delivery } = JSON.parse(phpText);
  const task: TaskRecord = { payload: { product_id: 2 }, sequence: 2, count: 2, delivery };
  equal(encodeTask(task), phpText);
});

Deno.test("encodeTask() appends retry_count last, as PHP does after Task::RETRY", async () => {
  const phpText = await Deno.readTextFile(
    join(FIXTURES, "06-retry-max2", "after-run-2", "audit_listener", "inbox", "3.json"),
  );
  const { delivery } = JSON.parse(phpText);
  const task: TaskRecord = { payload: { product_id: 3 }, sequence: 3, count: 3, delivery, retry_count: 2 };
  equal(encodeTask(task), phpText);
});

Deno.test("decodeTask() then encodeTask() gives back every PHP task file unchanged", async () => {
  const inbox = join(IMAGE_SCALER, "inbox");
  for (const sequence of [1, 2, 3]) {
    const phpText = await Deno.readTextFile(join(inbox, `${sequence}.json`));
    equal(encodeTask(decodeTask(phpText, sequence)), phpText);
  }
});

Deno.test("decodeTask() keeps unknown fields and their order", () => {
  const text = '{"payload":{"a":"x\\/y"},"sequence":4,"count":4,"delivery":"2026-11-29T03:39:28+00:00",' +
    '"extra":[1],"retry_count":1,"failures":[]}';
  const task = decodeTask(text, 4);
  deepEqual(Object.keys(task), ["payload", "sequence", "count", "delivery", "extra", "retry_count", "failures"]);
  deepEqual(task.payload, { a: "x/y" });
  equal(encodeTask(task), text);
});

Deno.test("decodeTask() accepts a null payload and a file without count or delivery", () => {
  deepEqual(decodeTask('{"payload":null,"sequence":1}', 1), { payload: null, sequence: 1 });
});

// Text, the number in the file name, and what the error must say.
const CORRUPT_TASKS: [string, string, number, RegExp][] = [
  ["empty", "", 1, /^empty file; expected a JSON task record$/],
  ["not JSON", "{not json", 1, /^not valid JSON \(.+\)$/],
  ["truncated", '{"payload":{"product_id":1},"seq', 1, /^not valid JSON/],
  ["JSON array", "[1,2]", 1, /^expected a JSON object, found an array$/],
  ["JSON null", "null", 1, /^expected a JSON object, found null$/],
  ["JSON number", "42", 1, /^expected a JSON object, found 42$/],
  ["JSON string", '"task"', 1, /^expected a JSON object, found task$/],
  ["missing payload", '{"sequence":1,"count":1}', 1, /^no 'payload' field$/],
  ["missing sequence", '{"payload":{}}', 1, /^'sequence' must be a positive integer, found undefined$/],
  ["sequence as a string", '{"payload":{},"sequence":"1"}', 1, /^'sequence' must be a positive integer, found "1"$/],
  ["sequence 0", '{"payload":{},"sequence":0}', 1, /must be a positive integer, found 0$/],
  ["negative sequence", '{"payload":{},"sequence":-1}', 1, /must be a positive integer, found -1$/],
  ["fractional sequence", '{"payload":{},"sequence":1.5}', 1, /must be a positive integer, found 1\.5$/],
  ["unsafe sequence", '{"payload":{},"sequence":1e300}', 1, /must be a positive integer, found 1e\+300$/],
  ["sequence/file-name mismatch", '{"payload":{},"sequence":6}', 5, /^'sequence' is 6 but the file is named 5\.json$/],
  [
    "negative retry_count",
    '{"payload":{},"sequence":1,"retry_count":-1}',
    1,
    /^'retry_count' must be a non-negative integer, found -1$/,
  ],
  [
    "huge retry_count",
    '{"payload":{},"sequence":1,"retry_count":1e20}',
    1,
    /non-negative integer, found 100000000000000000000$/,
  ],
  ["string retry_count", '{"payload":{},"sequence":1,"retry_count":"2"}', 1, /non-negative integer, found "2"$/],
  ["null retry_count", '{"payload":{},"sequence":1,"retry_count":null}', 1, /non-negative integer, found null$/],
  ["failures not an array", '{"payload":{},"sequence":1,"failures":{}}', 1, /^'failures' must be an array$/],
];

Deno.test("decodeTask() rejects what is not a task record, saying what is wrong", async (t) => {
  for (const [name, text, sequence, reason] of CORRUPT_TASKS) {
    await t.step(name, () => {
      throws(() => decodeTask(text, sequence), (error: unknown) => {
        ok(error instanceof CorruptFileError, `expected CorruptFileError, got ${error}`);
        ok(reason.test(error.message), `${JSON.stringify(error.message)} does not match ${reason}`);
        return true;
      });
    });
  }
});

Deno.test("decodeTask() keeps the JSON error as the cause", () => {
  throws(
    () => decodeTask("{", 1),
    (error: unknown) => error instanceof CorruptFileError && error.cause instanceof SyntaxError,
  );
});

const INSTANT = Date.UTC(2026, 10, 29, 3, 39, 28);

// Minutes east of UTC and PHP's DateTime::format('c') of INSTANT there.
const DELIVERIES: [string, number, number, string][] = [
  ["UTC", INSTANT, 0, "2026-11-29T03:39:28+00:00"],
  ["one hour east", INSTANT, 60, "2026-11-29T04:39:28+01:00"],
  ["five hours west, previous day", INSTANT, -300, "2026-11-28T22:39:28-05:00"],
  ["half hour east (India)", INSTANT, 330, "2026-11-29T09:09:28+05:30"],
  ["quarter hour east (Nepal)", INSTANT, 345, "2026-11-29T09:24:28+05:45"],
  ["half hour west (Newfoundland)", INSTANT, -210, "2026-11-29T00:09:28-03:30"],
  ["half hour west, under one hour (-00:30)", INSTANT, -30, "2026-11-29T03:09:28-00:30"],
  ["+14:00 into the next year", Date.UTC(2026, 11, 31, 12, 0, 0), 840, "2027-01-01T02:00:00+14:00"],
  ["-12:00 into the previous year", Date.UTC(2027, 0, 1, 5, 6, 7), -720, "2026-12-31T17:06:07-12:00"],
  ["milliseconds dropped, not rounded", INSTANT + 999, 0, "2026-11-29T03:39:28+00:00"],
  ["leap day", Date.UTC(2028, 1, 29, 23, 59, 59), 0, "2028-02-29T23:59:59+00:00"],
];

Deno.test("formatDelivery() writes PHP's DateTime::format('c')", async (t) => {
  for (const [name, time, offset, expected] of DELIVERIES) {
    await t.step(name, () => equal(formatDelivery(new Date(time), offset), expected));
  }
});

Deno.test("formatDelivery() uses the machine's offset by default", () => {
  const date = new Date(INSTANT);
  equal(formatDelivery(date), formatDelivery(date, -date.getTimezoneOffset()));
  ok(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/.test(formatDelivery(date)));
});

const FILE_NAMES: [string, number | undefined][] = [
  ["1.json", 1],
  ["12.json", 12],
  ["999999999999999.json", 999999999999999],
  ["1234567890123456.json", undefined],
  ["0.json", undefined],
  ["007.json", undefined],
  ["-1.json", undefined],
  ["1.5.json", undefined],
  ["abc.json", undefined],
  ["x12.json", undefined],
  ["12x.json", undefined],
  ["1.json.tmp", undefined],
  ["1.JSON", undefined],
  ["1.jsonx", undefined],
  ["1", undefined],
  [".1.json", undefined],
  [" 1.json", undefined],
  ["1.json\n", undefined],
  ["", undefined],
];

Deno.test("sequenceOf() reads N from <N>.json and nothing else", async (t) => {
  for (const [name, sequence] of FILE_NAMES) {
    await t.step(JSON.stringify(name), () => equal(sequenceOf(name), sequence));
  }
});

function failure(attempt: number): FailureRecord {
  return { result: "RETRY", message: `attempt ${attempt}`, time: "2026-11-29T03:39:28.000Z", attempt };
}

const TASK: TaskRecord = { payload: { id: 1 }, sequence: 1, count: 1, delivery: "2026-11-29T03:39:28+00:00" };

Deno.test("withFailure() appends a record to a copy of the task", () => {
  const updated = withFailure(TASK, failure(1));
  deepEqual(updated, { ...TASK, failures: [failure(1)] });
  equal(TASK.failures, undefined, "the original task must not change");
  deepEqual(Object.keys(updated).slice(0, 4), ["payload", "sequence", "count", "delivery"]);
});

Deno.test("withFailure() keeps only the last MAX_FAILURE_RECORDS records", async (t) => {
  await t.step("one below the cap", () => {
    const task = { ...TASK, failures: Array.from({ length: MAX_FAILURE_RECORDS - 1 }, (_, i) => failure(i + 1)) };
    equal(withFailure(task, failure(MAX_FAILURE_RECORDS)).failures?.length, MAX_FAILURE_RECORDS);
  });
  await t.step("at the cap, the oldest is dropped", () => {
    const full = Array.from({ length: MAX_FAILURE_RECORDS }, (_, i) => failure(i + 1));
    const updated = withFailure({ ...TASK, failures: full }, failure(MAX_FAILURE_RECORDS + 1));
    equal(updated.failures?.length, MAX_FAILURE_RECORDS);
    deepEqual(updated.failures?.[0], failure(2));
    deepEqual(updated.failures?.at(-1), failure(MAX_FAILURE_RECORDS + 1));
    equal(full.length, MAX_FAILURE_RECORDS, "the original list must not change");
  });
  await t.step("over the cap already (written by hand), trimmed", () => {
    const many = Array.from({ length: MAX_FAILURE_RECORDS + 5 }, (_, i) => failure(i + 1));
    const updated = withFailure({ ...TASK, failures: many }, failure(99));
    equal(updated.failures?.length, MAX_FAILURE_RECORDS);
    deepEqual(updated.failures?.at(-1), failure(99));
  });
});

Deno.test("decodeTracking() then encodeTracking() gives back PHP's tracking.json unchanged", async () => {
  const phpText = await Deno.readTextFile(join(IMAGE_SCALER, "tracking.json"));
  const tracking = decodeTracking(phpText);
  equal(tracking.sequence, 3);
  equal(encodeTracking(tracking), phpText);
});

Deno.test("encodeTracking() writes PHP's key order and only PHP's keys", () => {
  const tracking = JSON.parse(
    '{"last":"2026-11-29T03:40:00+00:00","extra":1,"first":"2026-11-29T03:39:28+00:00","count":7,"sequence":7}',
  );
  equal(
    encodeTracking(tracking),
    '{"sequence":7,"count":7,"first":"2026-11-29T03:39:28+00:00","last":"2026-11-29T03:40:00+00:00"}',
  );
});

const CORRUPT_TRACKING: [string, string, RegExp][] = [
  ["empty", "", /^tracking\.json is not valid JSON/],
  ["not JSON", "{oops", /^tracking\.json is not valid JSON/],
  ["null", "null", /^tracking\.json has no valid 'sequence': null$/],
  ["array", "[4]", /has no valid 'sequence'/],
  ["no sequence", '{"count":4}', /has no valid 'sequence': \{"count":4\}$/],
  ["negative sequence", '{"sequence":-1}', /has no valid 'sequence'/],
  ["string sequence", '{"sequence":"4"}', /has no valid 'sequence'/],
];

Deno.test("decodeTracking() rejects what is not a tracking record", async (t) => {
  for (const [name, text, reason] of CORRUPT_TRACKING) {
    await t.step(name, () => {
      throws(() => decodeTracking(text), (error: unknown) => {
        ok(error instanceof CorruptFileError, `expected CorruptFileError, got ${error}`);
        ok(reason.test(error.message), `${JSON.stringify(error.message)} does not match ${reason}`);
        return true;
      });
    });
  }
});

Deno.test("decodeTracking() quotes at most 200 characters of a bad file", () => {
  const text = JSON.stringify({ sequence: "x", filler: "y".repeat(500) });
  throws(() => decodeTracking(text), (error: unknown) => {
    ok(error instanceof CorruptFileError);
    ok(error.message.length < 260, `message is ${error.message.length} characters long`);
    return true;
  });
});

Deno.test("decodeTask() decodes bytes as strict UTF-8, naming the first bad byte", async (t) => {
  const encoder = new TextEncoder();
  const around = (raw: number[]) =>
    new Uint8Array([...encoder.encode('{"payload":"'), ...raw, ...encoder.encode('","sequence":1}')]);
  await t.step("valid UTF-8 bytes give the same record as the text", () => {
    deepEqual(decodeTask(around([0xc3, 0xa9]), 1).payload, "é");
  });
  const bad: [string, number[]][] = [
    ["0xff", [0xff]],
    ["a lone continuation byte", [0x80]],
    ["a sequence cut short", [0xe2, 0x82]],
    ["an overlong form", [0xc0, 0xaf]],
    ["an encoded surrogate", [0xed, 0xa0, 0x80]],
  ];
  for (const [label, raw] of bad) {
    await t.step(label, () => {
      throws(() => decodeTask(around(raw), 1), (error: unknown) => {
        ok(error instanceof CorruptFileError);
        ok(error.message.startsWith(`not valid UTF-8: byte 0x${raw[0].toString(16)} at offset 12 `), error.message);
        return true;
      });
    });
  }
});

/** A task file whose payload is `levels` arrays, one inside the other. */
function nestedTask(levels: number): string {
  return `{"payload":${"[".repeat(levels)}${"]".repeat(levels)},"sequence":1}`;
}

Deno.test("decodeTask() refuses nesting that PHP's json_decode does not read, and accepts what it reads", async (t) => {
  // The task record is one level; its payload adds the rest.
  await t.step("511 levels (the record and 510 arrays) are read", () => {
    deepEqual(decodeTask(nestedTask(510), 1).sequence, 1);
  });
  for (const levels of [511, 150_000]) {
    await t.step(`the record and ${levels} arrays are refused`, () => {
      throws(() => decodeTask(nestedTask(levels), 1), /^CorruptFileError: arrays and objects nested deeper than 511/);
    });
  }
  await t.step("brackets inside strings do not count", () => {
    const text = `{"payload":"${"[".repeat(2000)}\\"${"{".repeat(2000)}","sequence":1}`;
    equal(decodeTask(text, 1).sequence, 1);
  });
  await t.step("PHP agrees (json_decode with its default depth)", async () => {
    const php = "echo json_decode(stream_get_contents(STDIN), true) === null ? 'refused' : 'read';";
    for (const [levels, expected] of [[510, "read"], [511, "refused"]] as const) {
      const child = new Deno.Command("php", { args: ["-r", php], stdin: "piped", stdout: "piped" }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(nestedTask(levels)));
      await writer.close();
      const { stdout } = await child.output();
      equal(new TextDecoder().decode(stdout), expected, `PHP on the record and ${levels} arrays`);
    }
  });
});

import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  type Admission,
  admit,
  decideFate,
  decideLost,
  decideThrown,
  decideTimeout,
  type Destination,
  type Ending,
  type Fate,
  isTaskResult,
  judgeIncomplete,
  resultName,
  retryFate,
  Task,
  transition,
} from "../../src/protocol/transition.ts";
import type { TaskRecord } from "../../src/protocol/task_file.ts";

// What the handler returned, retry_count before the attempt, maxAttempts(), and the fate.
const FATES: [string, unknown, number, number, Fate][] = [
  ["SUCCESS archives", Task.SUCCESS, 0, 0, { fate: "archive" }],
  ["SUCCESS after retries archives", Task.SUCCESS, 2, 3, { fate: "archive" }],
  ["FAILURE stops the pass", Task.FAILURE, 0, 0, { fate: "stop" }],
  ["FAILURE does not count as a retry", Task.FAILURE, 5, 0, { fate: "stop" }],
  [
    "INVALID errors",
    Task.INVALID,
    0,
    3,
    { fate: "error", result: "INVALID", message: "the handler returned Task.INVALID" },
  ],
  ["RETRY with retries left", Task.RETRY, 0, 2, { fate: "retry", retryCount: 1 }],
  ["RETRY on the last allowed retry", Task.RETRY, 1, 2, { fate: "retry", retryCount: 2 }],
  [
    "RETRY past maxAttempts errors, counting the last retry (PHP 06-retry-max2 run 3)",
    Task.RETRY,
    2,
    2,
    {
      fate: "error",
      retryCount: 3,
      result: "RETRY",
      message: "the handler returned Task.RETRY 3 times; maxAttempts() is 2",
    },
  ],
  [
    "RETRY with maxAttempts 0 errors at once with retry_count 1 (PHP 05-retry-max0)",
    Task.RETRY,
    0,
    0,
    {
      fate: "error",
      retryCount: 1,
      result: "RETRY",
      message: "the handler returned Task.RETRY 1 time; maxAttempts() is 0",
    },
  ],
];

Deno.test("decideFate() follows the Task code", async (t) => {
  for (const [name, returned, retryCount, maxAttempts, fate] of FATES) {
    await t.step(name, () => deepEqual(decideFate(returned, retryCount, maxAttempts), fate));
  }
});

/** Runs one task through decideFate() as a pass would, with a handler that always returns RETRY. */
function attemptsUntilError(maxAttempts: number): { runs: number; retryCounts: number[]; fate: Fate } {
  let retryCount = 0;
  const retryCounts: number[] = [];
  for (let runs = 1; runs <= 100; runs++) {
    const fate = decideFate(Task.RETRY, retryCount, maxAttempts);
    if (fate.fate !== "retry") return { runs, retryCounts, fate };
    retryCount = fate.retryCount;
    retryCounts.push(retryCount);
  }
  throw new Error("RETRY never ended");
}

Deno.test("decideFate() lets a handler that always returns RETRY run maxAttempts + 1 times, as PHP does", async (t) => {
  for (const maxAttempts of [0, 1, 2, 5]) {
    await t.step(`maxAttempts ${maxAttempts}`, () => {
      const { runs, retryCounts, fate } = attemptsUntilError(maxAttempts);
      equal(runs, maxAttempts + 1);
      deepEqual(retryCounts, Array.from({ length: maxAttempts }, (_, i) => i + 1));
      equal(fate.fate, "error");
      equal(fate.fate === "error" && fate.retryCount, maxAttempts + 1);
    });
  }
});

// Values that are not Task codes, and how the message must name them.
const NOT_TASK_CODES: [string, unknown, string][] = [
  ["undefined (no return)", undefined, "undefined"],
  ["null", null, "null"],
  ['the string "0"', "0", '"0"'],
  ['the string "SUCCESS"', "SUCCESS", '"SUCCESS"'],
  ["4", 4, "4"],
  ["-1", -1, "-1"],
  ["1.5", 1.5, "1.5"],
  ["NaN", NaN, "NaN"],
  ["true", true, "true"],
  ["false", false, "false"],
  ["0n", 0n, "bigint"],
  ["an object", { result: Task.SUCCESS }, "object"],
  ["an array", [Task.SUCCESS], "object"],
  ["a function", () => Task.SUCCESS, "function"],
];

Deno.test("decideFate() sends anything but a Task code to error/, naming what was returned", async (t) => {
  for (const [name, returned, shown] of NOT_TASK_CODES) {
    await t.step(name, () => {
      const fate = decideFate(returned, 0, 3);
      equal(fate.fate, "error");
      if (fate.fate !== "error") return;
      equal(fate.result, "ERROR");
      equal(fate.retryCount, undefined, "a bad return value must not count as a retry");
      ok(fate.message.startsWith("the handler returned "), fate.message);
      ok(fate.message.includes(shown), `${JSON.stringify(fate.message)} does not name ${shown}`);
      ok(fate.message.includes("expected Task.SUCCESS (0), Task.FAILURE (1), Task.RETRY (2) or Task.INVALID (3)"));
    });
  }
});

// What went wrong, retry_count before the attempt, maxAttempts(), and the fate: one budget for all three.
const NOT_RETURNED: [string, () => Fate, Fate][] = [
  [
    "a throw with maxAttempts 0 errors at once, retry_count untouched (PHP 07-exception)",
    () => decideThrown({ name: "RuntimeException", message: "boom" }, 0, 0),
    { fate: "error", result: "ERROR", message: "RuntimeException: boom" },
  ],
  [
    "a throw with retries left is retried like RETRY",
    () => decideThrown({ name: "Error", message: "boom" }, 0, 3),
    { fate: "retry", retryCount: 1 },
  ],
  [
    "a throw on the last allowed retry is retried",
    () => decideThrown({ name: "Error", message: "boom" }, 2, 3),
    { fate: "retry", retryCount: 3 },
  ],
  [
    "a throw past maxAttempts errors, counting it",
    () => decideThrown({ name: "Error", message: "boom" }, 3, 3),
    {
      fate: "error",
      retryCount: 4,
      result: "ERROR",
      message: "the handler threw 4 times; maxAttempts() is 3; last: Error: boom",
    },
  ],
  ["a timeout with retries left is retried", () => decideTimeout(1000, 0, 1), { fate: "retry", retryCount: 1 }],
  [
    "a timeout past maxAttempts errors",
    () => decideTimeout(1000, 0, 0),
    {
      fate: "error",
      retryCount: 1,
      result: "TIMEOUT",
      message: "the task timed out (limit 1000 ms) 1 time; maxAttempts() is 0",
    },
  ],
  [
    "retryFate() is the rule RETRY follows",
    () => retryFate(2, 2, "RETRY", "the handler returned Task.RETRY"),
    decideFate(Task.RETRY, 2, 2),
  ],
];

Deno.test("decideThrown() and decideTimeout() spend the retry budget as RETRY does", async (t) => {
  for (const [name, decide, fate] of NOT_RETURNED) await t.step(name, () => deepEqual(decide(), fate));
});

Deno.test("decideLost() has a budget of its own, and leaves retry_count alone", async (t) => {
  const why = "worker w-1 is no longer running";
  const cases: [string, number, number, ReturnType<typeof decideLost>][] = [
    ["the first loss goes back", 0, 3, { fate: "retry", lostCount: 1 }],
    ["the third loss of 3 goes back", 2, 3, { fate: "retry", lostCount: 3 }],
    [
      "the fourth loss of 3 errors",
      3,
      3,
      { fate: "error", lostCount: 4, message: `${why}; lost 4 times; maxLost is 3` },
    ],
    ["maxLost 0 errors at the first loss", 0, 0, {
      fate: "error",
      lostCount: 1,
      message: `${why}; lost 1 time; maxLost is 0`,
    }],
  ];
  for (const [name, lostCount, maxLost, fate] of cases) {
    await t.step(name, () => deepEqual(decideLost(why, lostCount, maxLost), fate));
  }
});

Deno.test("Task codes are the PHP library's numbers", () => {
  deepEqual(Task, { SUCCESS: 0, FAILURE: 1, RETRY: 2, INVALID: 3 });
  deepEqual([0, 1, 2, 3].map((code) => resultName(code as 0 | 1 | 2 | 3)), ["SUCCESS", "FAILURE", "RETRY", "INVALID"]);
  deepEqual([0, 1, 2, 3, 4, -1, "0", null, undefined].map(isTaskResult), [
    true,
    true,
    true,
    true,
    false,
    false,
    false,
    false,
    false,
  ]);
});

// transition(): every way an attempt can end, crossed with the retry budget. No disk, no timers.

const NOW = new Date("2026-12-01T00:00:00.000Z");
const CONTEXT = { now: NOW, worker: "host:1", output: "" };
const base = (retryCount: number, lostCount = 0): TaskRecord => ({
  payload: { id: 1 },
  sequence: 7,
  count: 7,
  delivery: "2026-11-30T00:00:00+00:00",
  ...(retryCount > 0 ? { retry_count: retryCount } : {}),
  ...(lostCount > 0 ? { lost_count: lostCount } : {}),
});

/** The budget: retry_count before the attempt and maxAttempts(). */
const BUDGETS: [string, number, number][] = [
  ["no retries allowed", 0, 0],
  ["retries left", 0, 2],
  ["on the last allowed retry", 1, 2],
  ["retries used up", 2, 2],
];

const ENDINGS: [string, Ending][] = [
  ["returned SUCCESS", { kind: "returned", value: Task.SUCCESS }],
  ["returned FAILURE", { kind: "returned", value: Task.FAILURE }],
  ["returned RETRY", { kind: "returned", value: Task.RETRY }],
  ["returned INVALID", { kind: "returned", value: Task.INVALID }],
  ["returned a bad value", { kind: "returned", value: "ok" }],
  ["threw", { kind: "thrown", error: { name: "Error", message: "down", stack: "Error: down\n    at x" } }],
  ["threw with output", { kind: "thrown", error: { name: "ExecError", message: "exit 9", stack: "s", output: "e" } }],
  ["timed out", { kind: "timeout", timeoutMs: 1000 }],
  ["ran past the grace period", { kind: "shutdown", graceMs: 500 }],
];

/** What a transition must be: destination, fate, result, retry_count after, and the last failure record's fate. */
interface Expected {
  to: Destination;
  fate: Fate["fate"];
  result: string;
  retryCount?: number;
  recorded?: "error" | "kept" | "none";
}

function expected(ending: string, retryCount: number, maxAttempts: number): Expected {
  const left = retryCount + 1 <= maxAttempts;
  const spend = (result: string): Expected =>
    left
      ? { to: "inbox", fate: "retry", result, retryCount: retryCount + 1, recorded: "kept" }
      : { to: "error", fate: "error", result, retryCount: retryCount + 1, recorded: "error" };
  switch (ending) {
    case "returned SUCCESS":
      return { to: "archive", fate: "archive", result: "SUCCESS", retryCount, recorded: "none" };
    case "returned FAILURE":
      return { to: "first", fate: "stop", result: "FAILURE", retryCount, recorded: "kept" };
    case "returned RETRY": {
      const spent = spend("RETRY");
      return left ? { ...spent, recorded: "none" } : spent; // a silent RETRY leaves no record
    }
    case "returned INVALID":
      return { to: "error", fate: "error", result: "INVALID", retryCount, recorded: "error" };
    case "returned a bad value":
      return { to: "error", fate: "error", result: "ERROR", retryCount, recorded: "error" };
    case "threw":
    case "threw with output":
      // With maxAttempts 0 a throw errors at once, retry_count untouched (PHP).
      return maxAttempts === 0
        ? { to: "error", fate: "error", result: "ERROR", retryCount, recorded: "error" }
        : spend("ERROR");
    case "timed out":
      return spend("TIMEOUT");
    case "ran past the grace period":
      return { to: "untouched", fate: "stop", result: "ABORTED" };
  }
  throw new Error(`no expectation for ${ending}`);
}

Deno.test("transition() decides every ending crossed with the retry budget", async (t) => {
  for (const [endingName, ending] of ENDINGS) {
    for (const [budgetName, retryCount, maxAttempts] of BUDGETS) {
      await t.step(`${endingName}, ${budgetName}`, () => {
        const task = base(retryCount);
        const next = transition(task, ending, { maxAttempts, maxLost: 3, retryDelay: () => 0 }, CONTEXT);
        const want = expected(endingName, retryCount, maxAttempts);
        equal(next.to, want.to);
        equal(next.event.fate, want.fate);
        equal(next.event.result, want.result);
        if (want.recorded === undefined) {
          equal(next.record, undefined, "nothing is rewritten");
          return;
        }
        const record = next.record ?? task;
        equal(record.retry_count ?? 0, want.retryCount);
        equal(record.sequence, 7);
        deepEqual(record.payload, { id: 1 });
        const last = record.failures?.at(-1);
        if (want.recorded === "none") return equal(last, undefined);
        ok(last, "a failure record");
        equal(last.result, want.result);
        equal(last.fate, want.recorded === "error" ? "error" : undefined);
        equal(last.time, NOW.toISOString());
        equal(last.attempt, retryCount + 1);
        equal(last.worker, "host:1");
        equal(last.stack, endingName === "threw" ? "Error: down\n    at x" : undefined);
        ok(last.message.length > 0);
        if (want.to !== "first") equal(next.event.message, last.message, "the event says what the record says");
        equal(task.failures, undefined, "the task read is not changed");
      });
    }
  }
});

Deno.test("transition() puts a retry's delay in not_before, and keeps the handler's output", async (t) => {
  const policy = { maxAttempts: 3, maxLost: 3, retryDelay: (attempt: number) => attempt * 1000 };
  await t.step("a delayed RETRY is due later", () => {
    const next = transition(base(1), { kind: "returned", value: Task.RETRY }, policy, CONTEXT);
    equal(next.to, "inbox");
    equal(next.dueAt, NOW.getTime() + 2000);
    equal(next.record?.not_before, new Date(NOW.getTime() + 2000).toISOString());
    equal(next.event.retryInMs, 2000);
    equal(next.event.message, undefined, "a returned RETRY says nothing more");
  });
  await t.step("a retry without delay clears an old not_before", () => {
    const task = { ...base(0), not_before: "2026-11-30T00:00:00.000Z" };
    const next = transition(task, { kind: "returned", value: Task.RETRY }, { ...policy, retryDelay: () => 0 }, CONTEXT);
    equal(next.dueAt, undefined);
    equal(next.record?.not_before, undefined);
    equal(next.event.retryInMs, undefined);
  });
  await t.step("a returned RETRY with output leaves a record with it", () => {
    const next = transition(base(0), { kind: "returned", value: Task.RETRY }, policy, { ...CONTEXT, output: "busy" });
    equal(next.record?.failures?.at(-1)?.output, "busy");
    equal(next.record?.failures?.at(-1)?.message, "the handler returned Task.RETRY");
  });
  await t.step("a throw's retry says why", () => {
    const next = transition(base(0), { kind: "thrown", error: { name: "Error", message: "down" } }, policy, CONTEXT);
    equal(next.event.message, "Error: down");
  });
  await t.step("a retryDelay that returns no number throws", () => {
    const bad = { ...policy, retryDelay: () => NaN };
    throws(() => transition(base(0), { kind: "returned", value: Task.RETRY }, bad, CONTEXT), TypeError);
  });
});

Deno.test("transition() spends the lost budget on a lost worker, never the retry budget", async (t) => {
  const why = "worker w-1 is no longer running";
  const cases: [string, number, number, Destination][] = [
    ["the first loss goes back", 0, 3, "inbox"],
    ["the third loss of 3 goes back", 2, 3, "inbox"],
    ["the fourth loss of 3 errors", 3, 3, "error"],
    ["maxLost 0 errors at once", 0, 0, "error"],
  ];
  for (const [name, lostCount, maxLost, to] of cases) {
    await t.step(name, () => {
      const next = transition(base(2, lostCount), { kind: "lost", why }, {
        maxAttempts: 0,
        maxLost,
        retryDelay: () => 0,
      }, CONTEXT);
      equal(next.to, to);
      equal(next.record?.lost_count, lostCount + 1);
      equal(next.record?.retry_count, 2);
      const last = next.record?.failures?.at(-1);
      equal(last?.result, "LOST");
      equal(last?.attempt, 2 + lostCount + 1);
      equal(last?.fate, to === "error" ? "error" : undefined);
      equal(next.event.fate, to === "error" ? "error" : "retry");
      equal(next.event.message, to === "error" ? last?.message : `${why}; back in the inbox`);
    });
  }
});

Deno.test("admit() completes a recorded fate, waits for not_before, and runs the rest", async (t) => {
  const failure = { result: "RETRY", message: "m", time: "", attempt: 1 };
  const cases: [string, TaskRecord, Admission][] = [
    ["a new task runs", base(0), { kind: "run" }],
    ["a task due now runs", { ...base(0), not_before: NOW.toISOString() }, { kind: "run" }],
    ["a task not due yet waits", { ...base(0), not_before: "2026-12-01T00:00:01.000Z" }, {
      kind: "later",
      dueAt: NOW.getTime() + 1000,
    }],
    ["an unparsable not_before runs", { ...base(0), not_before: "soon" }, { kind: "run" }],
    ["an error fate already recorded is completed", { ...base(0), failures: [{ ...failure, fate: "error" }] }, {
      kind: "complete",
      fate: "error",
      result: "RETRY",
    }],
    ["a success recorded is archived", { ...base(0), failures: [{ ...failure, result: "SUCCESS", fate: "archive" }] }, {
      kind: "complete",
      fate: "archive",
      result: "SUCCESS",
    }],
    ["an earlier record without a fate runs", { ...base(0), failures: [failure] }, { kind: "run" }],
    ["a recorded fate wins over not_before", {
      ...base(0),
      not_before: "2027-01-01T00:00:00.000Z",
      failures: [{ ...failure, fate: "error" }],
    }, { kind: "complete", fate: "error", result: "RETRY" }],
  ];
  for (const [name, task, admission] of cases) await t.step(name, () => deepEqual(admit(task, NOW), admission));
});

Deno.test("judgeIncomplete() waits for a young half-written file, then quarantines it", async (t) => {
  const cases: [string, number, number, ReturnType<typeof judgeIncomplete>][] = [
    ["young and just found", 100, 0, { kind: "wait" }],
    ["old by its mtime", 20_000, 0, { kind: "quarantine", note: "" }],
    ["young by its mtime but corrupt for longer than the grace", 100, 10_000, { kind: "quarantine", note: "" }],
    ["slightly in the future", -100, 0, { kind: "wait" }],
    ["far in the future", -3_600_000, 0, {
      kind: "quarantine",
      note: "; its mtime is 1h ahead of this host's clock",
    }],
  ];
  for (const [name, ageMs, corruptForMs, judged] of cases) {
    await t.step(name, () => deepEqual(judgeIncomplete(ageMs, corruptForMs, 10_000), judged));
  }
});

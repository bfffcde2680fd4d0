import { deepEqual, equal, ok } from "node:assert/strict";
import {
  decideFate,
  decideLost,
  decideThrown,
  decideTimeout,
  type Fate,
  isTaskResult,
  resultName,
  retryFate,
  Task,
} from "../../src/protocol/fate.ts";

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

import { deepEqual, equal, throws } from "node:assert/strict";
import { ScheduleError } from "../../src/errors.ts";
import { nextTick, parseCron, TimeZone } from "../../src/schedule/cron.ts";

const UTC = new TimeZone("UTC");

/** The next `count` ticks after `start`, as ISO strings. */
function ticks(expression: string, start: string, zone = UTC, count = 3): string[] {
  const cron = parseCron(expression);
  const out: string[] = [];
  let after = new Date(start);
  for (let i = 0; i < count; i++) out.push((after = nextTick(cron, after, zone)).toISOString().slice(0, 16) + "Z");
  return out;
}

Deno.test("parseCron() reads lists, ranges, steps and names", async (t) => {
  const table: [string, keyof ReturnType<typeof parseCron>, number[]][] = [
    ["*/15 * * * *", "minutes", [0, 15, 30, 45]],
    ["1-10/3 * * * *", "minutes", [1, 4, 7, 10]],
    ["5/20 * * * *", "minutes", [5, 25, 45]],
    ["0 1,3,5-7 * * *", "hours", [1, 3, 5, 6, 7]],
    ["0 0 * jan,MAR-may *", "months", [1, 3, 4, 5]],
    ["0 0 * * sun,Sat", "daysOfWeek", [0, 6]],
    ["0 0 * * 7", "daysOfWeek", [0]],
    ["0 0 * * 5-7", "daysOfWeek", [5, 6, 0]],
    ["0 0 1,15 * *", "daysOfMonth", [1, 15]],
  ];
  for (const [expression, field, expected] of table) {
    await t.step(`${expression} (${field})`, () => {
      const value = parseCron(expression)[field] as Iterable<number>;
      deepEqual([...value].sort((a, b) => a - b), expected.sort((a, b) => a - b));
    });
  }
});

Deno.test("parseCron() knows the macros", () => {
  const same = (macro: string, expression: string) => {
    const { source: _a, ...a } = parseCron(macro);
    const { source: _b, ...b } = parseCron(expression);
    deepEqual(a, b, macro);
  };
  same("@yearly", "0 0 1 1 *");
  same("@annually", "0 0 1 1 *");
  same("@monthly", "0 0 1 * *");
  same("@weekly", "0 0 * * 0");
  same("@daily", "0 0 * * *");
  same("@midnight", "0 0 * * *");
  same("@HOURLY", "0 * * * *");
});

Deno.test("parseCron() names the field of a bad expression", async (t) => {
  const table: [string, string, RegExp][] = [
    ["61 * * * *", "minute", /minute field "61": 61 is out of range 0-59/],
    ["* 24 * * *", "hour", /hour field "24": 24 is out of range 0-23/],
    ["* * 0 * *", "day of month", /day of month field "0": 0 is out of range 1-31/],
    ["* * * 13 *", "month", /month field "13"/],
    ["* * * * 8", "day of week", /day of week field "8": 8 is out of range 0-7/],
    ["* * * * FUN", "day of week", /expected a number 0-7 or a name \(SUN-SAT\), found "FUN"/],
    ["*/0 * * * *", "minute", /the step must be a whole number of at least 1/],
    ["10-5 * * * *", "minute", /range 10-5 runs backwards/],
    ["1,,2 * * * *", "minute", /empty list item/],
    ["JAN * * * *", "minute", /expected a number 0-59, found "JAN"/],
    ["* * * *", "expression", /expected 5 fields .*found 4/],
    ["* * * * * *", "expression", /found 6/],
    ["@reboot", "expression", /unknown macro @reboot/],
    ["0 0 30 2 *", "day of month", /day 30 never occurs/],
    ["0 0 31 4,6 *", "day of month", /day 31 never occurs/],
  ];
  for (const [expression, field, message] of table) {
    await t.step(expression, () => {
      throws(() => parseCron(expression), (error: unknown) => {
        equal(error instanceof ScheduleError, true);
        equal((error as ScheduleError).field, field);
        equal((error as ScheduleError).value, expression);
        return message.test((error as Error).message);
      });
    });
  }
});

Deno.test("TimeZone refuses an unknown zone, naming it", () => {
  throws(() => new TimeZone("Mars/Olympus"), (error: unknown) => {
    equal((error as ScheduleError).field, "timezone");
    return /Unknown time zone "Mars\/Olympus": expected an IANA name/.test((error as Error).message);
  });
  equal(new TimeZone().name, "UTC");
});

Deno.test("nextTick() follows the day-of-month/day-of-week rule", async (t) => {
  await t.step("both restricted: either matches (the 13th, and Fridays)", () => {
    // 2026-02-13 is a Friday; 2026-03-13 too; Fridays in between count.
    deepEqual(ticks("0 12 13 * 5", "2026-02-01T00:00:00Z", UTC, 4), [
      "2026-02-06T12:00Z",
      "2026-02-13T12:00Z",
      "2026-02-20T12:00Z",
      "2026-02-27T12:00Z",
    ]);
  });
  await t.step("day of week *: the day of month only", () => {
    deepEqual(ticks("0 12 13 * *", "2026-02-01T00:00:00Z", UTC, 2), ["2026-02-13T12:00Z", "2026-03-13T12:00Z"]);
  });
  await t.step("day of month *: the day of week only", () => {
    deepEqual(ticks("0 12 * * MON", "2026-02-01T00:00:00Z", UTC, 2), ["2026-02-02T12:00Z", "2026-02-09T12:00Z"]);
  });
  await t.step("*/2 is restricted: odd days or Mondays", () => {
    deepEqual(ticks("0 0 */2 * 1", "2026-02-01T12:00:00Z", UTC, 3), [
      "2026-02-02T00:00Z",
      "2026-02-03T00:00Z",
      "2026-02-05T00:00Z",
    ]);
  });
  await t.step("February 29th waits for a leap year", () => {
    deepEqual(ticks("0 0 29 2 *", "2026-03-01T00:00:00Z", UTC, 2), ["2028-02-29T00:00Z", "2032-02-29T00:00Z"]);
  });
});

Deno.test("nextTick() is strictly after the time given, on whole minutes", () => {
  deepEqual(ticks("* * * * *", "2026-01-01T00:00:00Z", UTC, 2), ["2026-01-01T00:01Z", "2026-01-01T00:02Z"]);
  deepEqual(ticks("* * * * *", "2026-01-01T00:00:30.5Z", UTC, 1), ["2026-01-01T00:01Z"]);
});

Deno.test("nextTick() across DST changes", async (t) => {
  const amsterdam = new TimeZone("Europe/Amsterdam");
  const newYork = new TimeZone("America/New_York");
  await t.step("spring forward: a wall time in the gap runs once, with the offset before", () => {
    // Amsterdam, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC). 02:30 does not exist: 01:30 UTC.
    deepEqual(ticks("30 2 * * *", "2026-03-28T12:00:00Z", amsterdam, 2), ["2026-03-29T01:30Z", "2026-03-30T00:30Z"]);
    deepEqual(ticks("0 2 * * *", "2026-03-08T00:00:00Z", newYork, 2), ["2026-03-08T07:00Z", "2026-03-09T06:00Z"]);
  });
  await t.step("spring forward: every hour goes on, with no tick twice", () => {
    deepEqual(ticks("30 * * * *", "2026-03-29T00:00:00Z", amsterdam, 3), [
      "2026-03-29T00:30Z",
      "2026-03-29T01:30Z",
      "2026-03-29T02:30Z",
    ]);
  });
  await t.step("fall back: a fixed hour runs at its first occurrence only", () => {
    // Amsterdam, 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:30 happens at 00:30 and 01:30 UTC.
    deepEqual(ticks("30 2 * * *", "2026-10-24T12:00:00Z", amsterdam, 2), ["2026-10-25T00:30Z", "2026-10-26T01:30Z"]);
    deepEqual(ticks("*/20 1 * * *", "2026-11-01T04:00:00Z", newYork, 4), [
      "2026-11-01T05:00Z",
      "2026-11-01T05:20Z",
      "2026-11-01T05:40Z",
      "2026-11-02T06:00Z",
    ]);
  });
  await t.step("fall back: an hour field of * runs through the repeated hour", () => {
    deepEqual(ticks("*/30 * * * *", "2026-10-24T23:50:00Z", amsterdam, 5), [
      "2026-10-25T00:00Z",
      "2026-10-25T00:30Z",
      "2026-10-25T01:00Z",
      "2026-10-25T01:30Z",
      "2026-10-25T02:00Z",
    ]);
  });
});

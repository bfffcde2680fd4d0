import { deepEqual, equal, match, notEqual, rejects, throws } from "node:assert/strict";
import { InvalidNameError, ScheduleError } from "../../src/errors.ts";
import { checkSchedule, latestTick, parseScheduleFlag, tickPayload } from "../../src/schedule/schedule.ts";

Deno.test("checkSchedule() names a schedule the same way for the same schedule only", async () => {
  const a = await checkSchedule({ cron: "0 3 * * *", timezone: "Europe/Amsterdam", eventType: "report/nightly" });
  const b = await checkSchedule({ cron: " 0  3 * * * ", timezone: "Europe/Amsterdam", eventType: "report/nightly" });
  equal(a.id, b.id);
  match(a.id, /^report\.nightly-[0-9a-f]{16}$/);
  notEqual((await checkSchedule({ cron: "0 3 * * *", eventType: "report/nightly" })).id, a.id);
  notEqual((await checkSchedule({ cron: "0 3 * * *", eventType: "report/nightly", payload: { a: 1 } })).id, a.id);
  match((await checkSchedule({ cron: "@daily", eventType: "" })).id, /^_root-/);
});

Deno.test("checkSchedule() refuses a bad expression, zone, event type or missed", async () => {
  await rejects(checkSchedule({ cron: "* * *", eventType: "a" }), ScheduleError);
  await rejects(checkSchedule({ cron: "* * * * *", timezone: "Nowhere/Else", eventType: "a" }), /Unknown time zone/);
  await rejects(checkSchedule({ cron: "* * * * *", eventType: "a//b" }), InvalidNameError);
  await rejects(checkSchedule({ cron: "* * * * *", eventType: "a", missed: "all" as "skip" }), /missed must be/);
});

Deno.test("parseScheduleFlag() splits <cron>=<event_type>", () => {
  deepEqual(parseScheduleFlag("*/5 * * * *=report/often"), { cron: "*/5 * * * *", eventType: "report/often" });
  throws(() => parseScheduleFlag("*/5 * * * *"), /expects "<cron>=<event_type>"/);
  throws(() => parseScheduleFlag("*/5 * * *=a"), /expected 5 fields/);
  throws(() => parseScheduleFlag("* * * * *=a/../b"), InvalidNameError);
});

Deno.test("tickPayload() adds the tick to an object payload only", async () => {
  const tick = new Date("2026-12-02T03:00:00Z");
  const object = await checkSchedule({ cron: "@daily", eventType: "a", payload: { kind: "full" } });
  deepEqual(tickPayload(object, tick), { kind: "full", tick: "2026-12-02T03:00:00.000Z" });
  deepEqual(tickPayload(await checkSchedule({ cron: "@daily", eventType: "a" }), tick), {
    tick: "2026-12-02T03:00:00.000Z",
  });
  deepEqual(tickPayload(await checkSchedule({ cron: "@daily", eventType: "a", payload: [1] }), tick), [1]);
});

Deno.test("latestTick() finds the one tick to dispatch after downtime", async () => {
  const minutely = await checkSchedule({ cron: "* * * * *", eventType: "a" });
  const at = (iso: string) => new Date(iso);
  equal(
    latestTick(minutely, at("2026-01-01T00:00:00Z"), at("2026-01-01T00:07:30Z"))?.toISOString(),
    "2026-01-01T00:07:00.000Z",
  );
  // A year of downtime: still one tick, found quickly.
  equal(
    latestTick(minutely, at("2025-01-01T00:00:00Z"), at("2026-01-01T00:07:30Z"))?.toISOString(),
    "2026-01-01T00:07:00.000Z",
  );
  equal(latestTick(minutely, at("2026-01-01T00:07:00Z"), at("2026-01-01T00:07:59Z")), undefined);
  const nightly = await checkSchedule({ cron: "0 3 * * *", eventType: "a" });
  equal(
    latestTick(nightly, at("2026-01-01T00:00:00Z"), at("2026-01-05T12:00:00Z"))?.toISOString(),
    "2026-01-05T03:00:00.000Z",
  );
  equal(latestTick(nightly, at("2026-01-05T03:00:00Z"), at("2026-01-06T02:59:00Z")), undefined);
});

/**
 * The ticks `hurah watch` dispatches across the daylight saving time changes
 * of 2026 in Europe/Amsterdam and America/New_York, under a fake clock
 * (faketime, 200 times as fast) that runs through each change: a wall time in
 * a spring-forward gap is dispatched once, with the offset before the change;
 * a repeated wall time once (fixed hour) or at both occurrences (hour `*`).
 * Each watcher stops at a sentinel tick (UTC) after the change; all four run
 * at once. The fake clock starts when deno does, so the CLI is compiled
 * first (a type check would eat the fake minutes before the first tick), and
 * the clock starts 20 fake minutes (6 s) before it.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { tempRoot } from "../_helpers.ts";
import { collectedTicks, FAKETIME, fakeTimeProbe, registerCollector, startWatch, warmUp } from "./_schedule_watch.ts";

if (FAKETIME === undefined) {
  const seen = fakeTimeProbe === "" ? "" : ` (its probe saw ${fakeTimeProbe})`;
  console.log(`skipped: faketime is not installed or does not set Deno's clock${seen}`);
}

interface Change {
  name: string;
  zone: string;
  /** The fake clock's start (UTC): a few minutes before the ticks of interest. */
  start: string;
  /** The fixed-hour wall time's expression, and the ticks it must give (UTC). */
  fixed: [string, string[]];
  /** `*\/30 * * * *`'s ticks. */
  everyHalfHour: string[];
  /** The sentinel (UTC): the watcher is stopped once it is dispatched. */
  sentinel: [string, string];
}

const CHANGES: Change[] = [
  {
    name: "Europe/Amsterdam spring forward (02:00 CET -> 03:00 CEST, 01:00 UTC)",
    zone: "Europe/Amsterdam",
    start: "2026-03-29 00:38:00",
    fixed: ["30 2 * * *", ["2026-03-29T01:30Z"]],
    everyHalfHour: ["2026-03-29T01:00Z", "2026-03-29T01:30Z"],
    sentinel: ["40 1 29 3 *", "2026-03-29T01:40Z"],
  },
  {
    name: "Europe/Amsterdam fall back (03:00 CEST -> 02:00 CET, 01:00 UTC)",
    zone: "Europe/Amsterdam",
    start: "2026-10-25 00:08:00",
    fixed: ["30 2 * * *", ["2026-10-25T00:30Z"]],
    everyHalfHour: ["2026-10-25T00:30Z", "2026-10-25T01:00Z", "2026-10-25T01:30Z"],
    sentinel: ["40 1 25 10 *", "2026-10-25T01:40Z"],
  },
  {
    name: "America/New_York spring forward (02:00 EST -> 03:00 EDT, 07:00 UTC)",
    zone: "America/New_York",
    start: "2026-03-08 06:38:00",
    fixed: ["30 2 * * *", ["2026-03-08T07:30Z"]],
    everyHalfHour: ["2026-03-08T07:00Z", "2026-03-08T07:30Z"],
    sentinel: ["40 7 8 3 *", "2026-03-08T07:40Z"],
  },
  {
    name: "America/New_York fall back (02:00 EDT -> 01:00 EST, 06:00 UTC)",
    zone: "America/New_York",
    start: "2026-11-01 05:08:00",
    fixed: ["30 1 * * *", ["2026-11-01T05:30Z"]],
    everyHalfHour: ["2026-11-01T05:30Z", "2026-11-01T06:00Z", "2026-11-01T06:30Z"],
    sentinel: ["40 6 1 11 *", "2026-11-01T06:40Z"],
  },
];

Deno.test({
  name: "hurah watch dispatches each tick once across DST changes (faketime)",
  ignore: FAKETIME === undefined,
  async fn(t) {
    await warmUp();
    const runs = CHANGES.map(async (change) => {
      await using root = await tempRoot();
      for (const type of ["dst/fixed", "dst/half", "dst/end"]) await registerCollector(root.path, type);
      const watcher = await startWatch(root.path, [
        { cron: change.fixed[0], timezone: change.zone, event_type: "dst/fixed" },
        { cron: "*/30 * * * *", timezone: change.zone, event_type: "dst/half" },
        { cron: change.sentinel[0], timezone: "UTC", event_type: "dst/end" },
      ], { start: change.start, speed: 200 });
      try {
        await watcher.waitFor(/dispatched "dst\/end"/, 120_000);
      } finally {
        const { code, stderr } = await watcher.stop();
        equal(code, 0, stderr);
      }
      return {
        stderr: watcher.stderr(),
        change,
        fixed: await collectedTicks(root.path, "dst/fixed"),
        half: await collectedTicks(root.path, "dst/half"),
        end: await collectedTicks(root.path, "dst/end"),
      };
    });
    for (const { change, fixed, half, end, stderr } of await Promise.all(runs)) {
      await t.step(change.name, () => {
        deepEqual(fixed, change.fixed[1], `${change.fixed[0]} in ${change.zone}:\n${stderr}`);
        deepEqual(half, change.everyHalfHour, `*/30 * * * * in ${change.zone}:\n${stderr}`);
        deepEqual(end, [change.sentinel[1]]);
      });
    }
  },
});

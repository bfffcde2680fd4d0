/**
 * Schedules with real `hurah watch` processes under a fake clock (faketime):
 * - downtime: a watcher that was down for seven ticks dispatches one, the
 *   latest, when it starts again; with `--schedule-missed skip`, none;
 * - exactly once: three watchers on one root, the clock ten times as fast,
 *   dispatch `* * * * *` ticks, each once between them and none skipped,
 *   until three were.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { tempRoot, waitUntil } from "../_helpers.ts";
import { collectedTicks, FAKETIME, fakeTimeProbe, registerCollector, startWatch, warmUp } from "./_schedule_watch.ts";

if (FAKETIME === undefined) {
  const seen = fakeTimeProbe === "" ? "" : ` (its probe saw ${fakeTimeProbe})`;
  console.log(`skipped: faketime is not installed or does not set Deno's clock${seen}`);
}

const EVERY_MINUTE = { cron: "* * * * *", event_type: "job/minutely" };

Deno.test({
  name: "hurah watch dispatches one missed tick after downtime, or none with missed: skip (faketime)",
  ignore: FAKETIME === undefined,
  async fn() {
    await warmUp();
    await using root = await tempRoot();
    await registerCollector(root.path, "job/minutely");
    {
      await using first = await startWatch(root.path, [EVERY_MINUTE], { start: "2026-06-01 09:59:52", speed: 2 });
      await first.waitFor(/tick 2026-06-01T10:00:00.000Z dispatched/);
    }
    deepEqual(await collectedTicks(root.path, "job/minutely"), ["2026-06-01T10:00Z"]);
    // Down from 10:00 to 10:07:30: seven ticks missed, the latest (10:07) is dispatched, once.
    {
      await using second = await startWatch(root.path, [EVERY_MINUTE], { start: "2026-06-01 10:07:30" });
      await second.waitFor(/tick 2026-06-01T10:07:00.000Z \(missed\) dispatched/);
      // The watcher goes on to wait for 10:08; nothing else is due meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    deepEqual(await collectedTicks(root.path, "job/minutely"), ["2026-06-01T10:00Z", "2026-06-01T10:07Z"]);
    // Down again until 10:15:30, now with missed: skip: nothing is dispatched at start.
    {
      await using third = await startWatch(root.path, [{ ...EVERY_MINUTE, missed: "skip" }], {
        start: "2026-06-01 10:15:30",
      });
      await third.waitFor(/hurah watch: watching/);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      equal(/dispatched/.test(third.stderr()), false, third.stderr());
    }
    deepEqual(await collectedTicks(root.path, "job/minutely"), ["2026-06-01T10:00Z", "2026-06-01T10:07Z"]);
    // Old markers are cleaned up after a day; the latest stays.
    const dirs = [...Deno.readDirSync(join(root.path, ".hurah", "schedules"))].map((entry) => entry.name);
    equal(dirs.length, 1);
    const markers = [...Deno.readDirSync(join(root.path, ".hurah", "schedules", dirs[0]))].map((e) => e.name).sort();
    deepEqual(markers, ["20260601T1000Z.tick", "20260601T1007Z.tick", "schedule.json"]);
  },
});

Deno.test({
  name: "three hurah watch processes dispatch each tick exactly once (faketime, 10x)",
  ignore: FAKETIME === undefined,
  async fn() {
    await warmUp();
    await using root = await tempRoot();
    await registerCollector(root.path, "job/minutely");
    const watchers = await Promise.all(
      [0, 1, 2].map(() => startWatch(root.path, [EVERY_MINUTE], { start: "2026-06-01 10:00:00", speed: 10 })),
    );
    // Which ticks come first depends on how fast the watchers start (a loaded machine: after 10:01): any 3 will do.
    const reported = () => watchers.flatMap((watcher) => [...watcher.stderr().matchAll(/tick (\S+) dispatched/g)]);
    let logs = "";
    try {
      await waitUntil(
        () => `3 ticks dispatched:\n${logs}`,
        () => {
          logs = watchers.map((watcher) => watcher.stderr()).join("\n");
          return reported().length >= 3;
        },
        120_000,
        100,
      );
    } finally {
      for (const watcher of watchers) equal((await watcher.stop()).code, 0);
    }
    logs = watchers.map((watcher) => watcher.stderr()).join("\n");
    const ticks = await collectedTicks(root.path, "job/minutely");
    const dispatched = reported().map((m) => m[1].replace(":00.000Z", "Z")).sort();
    deepEqual([...new Set(ticks)], ticks, `a tick dispatched twice:\n${logs}`);
    deepEqual(dispatched, ticks, `the tasks are the ticks the watchers reported, each by one:\n${logs}`);
    for (const [k, tick] of ticks.entries()) {
      if (k > 0) equal(Date.parse(tick) - Date.parse(ticks[k - 1]), 60_000, `ticks in a row:\n${logs}`);
    }
  },
});

/**
 * Schedules with real `hurah watch` processes under a fake clock (faketime):
 * - downtime: a watcher that was down for seven ticks dispatches one, the
 *   latest, when it starts again; with `--schedule-missed skip`, none;
 * - exactly once: three watchers on one root, the clock ten times as fast,
 *   dispatch each of three `* * * * *` ticks once between them.
 *
 * @module
 */
import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { tempRoot } from "../_helpers.ts";
import { collectedTicks, FAKETIME, registerCollector, startWatch, warmUp } from "./_schedule_watch.ts";

if (FAKETIME === undefined) console.log("skipped: faketime is not installed or does not set Deno's clock");

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
      [0, 1, 2].map(() => startWatch(root.path, [EVERY_MINUTE], { start: "2026-06-01 10:00:40", speed: 10 })),
    );
    let logs = "";
    try {
      // Each tick is dispatched by one of the three; wait until the third tick has been, by any.
      const dispatched = () => watchers.map((watcher) => watcher.stderr()).join("");
      for (const minute of ["01", "02", "03"]) {
        await Promise.any(watchers.map((watcher) => watcher.waitFor(new RegExp(`tick 2026-06-01T10:${minute}`))));
      }
      logs = dispatched();
    } finally {
      for (const watcher of watchers) equal((await watcher.stop()).code, 0);
    }
    const ticks = await collectedTicks(root.path, "job/minutely");
    // Stopped some fake seconds after 10:03: a fourth tick may have come by then; each only once.
    deepEqual(ticks.slice(0, 3), ["2026-06-01T10:01Z", "2026-06-01T10:02Z", "2026-06-01T10:03Z"], logs);
    deepEqual([...new Set(ticks)], ticks, `a tick dispatched twice:\n${logs}`);
    for (const tick of ticks) match(tick, /^2026-06-01T10:0[1-4]Z$/);
  },
});

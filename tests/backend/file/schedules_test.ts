import { deepEqual, equal, rejects } from "node:assert/strict";
import { join } from "node:path";
import { FileSchedules, markerName } from "../../../src/backend/file/schedules.ts";
import { listListeners } from "../../../src/backend/file/listeners.ts";
import { UnsafePathError } from "../../../src/errors.ts";
import { tempRoot } from "../../_helpers.ts";

const RECORD = {
  id: "report.nightly-0123456789abcdef",
  cron: "0 3 * * *",
  timezone: "UTC",
  eventType: "report/nightly",
};

Deno.test("FileSchedules.claim() succeeds once per tick among many claimers", async () => {
  await using root = await tempRoot();
  const claims = Array.from({ length: 8 }, () => new FileSchedules(root.path, false));
  await claims[0].announce(RECORD, new Date("2026-12-01T00:00:00Z"));
  const tick = new Date("2026-12-02T03:00:00Z");
  const won = await Promise.all(claims.map((each, k) => each.claim(RECORD.id, tick, `worker-${k}`)));
  equal(won.filter(Boolean).length, 1);
  equal(markerName(tick), "20261202T0300Z.tick");
  const marker = JSON.parse(
    await Deno.readTextFile(join(root.path, ".hurah", "schedules", RECORD.id, markerName(tick))),
  );
  equal(marker.tick, tick.toISOString());
  equal(marker.claimed_by, `worker-${won.indexOf(true)}`);
});

Deno.test("FileSchedules.announce() keeps the first since; list() gives the latest tick", async () => {
  await using root = await tempRoot();
  const claims = new FileSchedules(root.path, false);
  const first = await claims.announce(RECORD, new Date("2026-12-01T00:00:00Z"));
  const again = await claims.announce(RECORD, new Date("2026-12-05T00:00:00Z"));
  deepEqual(first, { record: RECORD, since: new Date("2026-12-01T00:00:00Z"), latest: null });
  deepEqual(again.since, first.since);
  for (const day of [2, 3, 4]) await claims.claim(RECORD.id, new Date(`2026-12-0${day}T03:00:00Z`), "w");
  deepEqual(await claims.list(), [{ record: RECORD, since: first.since, latest: new Date("2026-12-04T03:00:00Z") }]);
  // No staging file is left, and .hurah is no listener nor event type.
  deepEqual([...Deno.readDirSync(join(root.path, ".hurah", "schedules", RECORD.id))].map((e) => e.name).sort(), [
    "20261202T0300Z.tick",
    "20261203T0300Z.tick",
    "20261204T0300Z.tick",
    "schedule.json",
  ]);
  deepEqual(await listListeners(root.path), []);
});

Deno.test("FileSchedules.cleanup() removes old markers, always keeping the latest", async () => {
  await using root = await tempRoot();
  const claims = new FileSchedules(root.path, false);
  await claims.announce(RECORD, new Date("2026-12-01T00:00:00Z"));
  for (const day of [2, 3, 4]) await claims.claim(RECORD.id, new Date(`2026-12-0${day}T03:00:00Z`), "w");
  equal(await claims.cleanup(RECORD.id, new Date("2026-12-03T12:00:00Z")), 2);
  equal(await claims.cleanup(RECORD.id, new Date("2027-01-01T00:00:00Z")), 0); // the latest stays
  deepEqual((await claims.list())[0].latest, new Date("2026-12-04T03:00:00Z"));
  equal(await claims.cleanup("unknown-0000000000000000", new Date()), 0);
});

Deno.test("FileSchedules refuses a link standing for .hurah/schedules", async () => {
  await using root = await tempRoot();
  await using elsewhere = await tempRoot();
  await Deno.mkdir(join(root.path, ".hurah"));
  await Deno.symlink(elsewhere.path, join(root.path, ".hurah", "schedules"));
  const claims = new FileSchedules(root.path, false);
  await rejects(claims.list(), UnsafePathError);
  await rejects(claims.announce(RECORD, new Date()), UnsafePathError);
});

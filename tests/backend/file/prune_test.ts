import { deepEqual, equal, rejects } from "node:assert/strict";
import { join } from "node:path";
import { prune } from "../../../src/backend/file/prune.ts";
import { buildOpsRoot, LIVE_WORKER } from "../../_ops_root.ts";
import { tempRoot } from "../../_helpers.ts";

const DAY = 86_400_000;
/** A clock a year ahead: everything on disk is a year old by it. */
const NEXT_YEAR = () => new Date(Date.now() + 365 * DAY);

async function names(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
  } catch {
    return [];
  }
}

Deno.test("prune() removes archived tasks older than the limit, by the clock it is given", async () => {
  await using root = await tempRoot();
  const { scaler, audit } = await buildOpsRoot(root.path);
  const young = await prune(root.path, { olderThanMs: 30 * DAY });
  deepEqual(young, {
    listeners: [{ listener: "audit", archive: 0, error: 0 }, {
      listener: "product/created/image_scaler",
      archive: 0,
      error: 0,
    }],
    removed: 0,
    dryRun: false,
  });
  equal((await names(join(scaler, "archive"))).length, 4);
  const dry = await prune(root.path, { olderThanMs: 30 * DAY, now: NEXT_YEAR, dryRun: true });
  equal(dry.removed, 5);
  equal((await names(join(scaler, "archive"))).length, 4, "a dry run removes nothing");
  const old = await prune(root.path, { olderThanMs: 30 * DAY, now: NEXT_YEAR });
  deepEqual(old.listeners.map((listener) => listener.archive), [1, 4]);
  deepEqual(await names(join(scaler, "archive")), []);
  deepEqual(await names(join(audit, "archive")), []);
  deepEqual(await names(join(audit, "error")), ["2.json", "3.json", "4.json", "junk.txt", "junk.txt.reason.txt"]);
  deepEqual(await names(join(scaler, "inbox")), ["5.json"], "pending tasks stay");
  deepEqual((await names(join(scaler, "inflight"))).length, 2, "tasks in flight stay");
  deepEqual(await names(join(scaler, "workers")), [`${LIVE_WORKER}.json`]);
});

Deno.test("prune() with error removes error/ entries with their notes, links without following them", async () => {
  await using root = await tempRoot();
  await using outside = await tempRoot();
  const { audit } = await buildOpsRoot(root.path);
  const target = join(outside.path, "precious.json");
  await Deno.writeTextFile(target, "{}");
  await Deno.symlink(target, join(audit, "error", "8.json"));
  await Deno.writeTextFile(join(audit, "error", "8.json.reason.txt"), "not a task file: a symbolic link\n");
  await Deno.writeTextFile(join(audit, "error", "orphan.json.reason.txt"), "its file was removed by hand\n");
  await Deno.mkdir(join(audit, "error", "quarantined_dir"));
  const report = await prune(root.path, {
    olderThanMs: DAY,
    error: true,
    archive: false,
    listeners: ["audit"],
    now: NEXT_YEAR,
  });
  deepEqual(report, { listeners: [{ listener: "audit", archive: 0, error: 5 }], removed: 5, dryRun: false });
  deepEqual(await names(join(audit, "error")), ["quarantined_dir"], "directories are left alone");
  equal(await Deno.readTextFile(target), "{}", "the link's target is untouched");
  equal((await names(join(audit, "archive"))).length, 1);
});

Deno.test("prune() checks its limit", async () => {
  await using root = await tempRoot();
  await rejects(() => prune(root.path, { olderThanMs: -1 }), RangeError);
  await rejects(() => prune(root.path, { olderThanMs: NaN }), RangeError);
});

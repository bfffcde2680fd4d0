import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher, runOnce, Task } from "../../../mod.ts";
import { ListenerNotFoundError, UnsafePathError } from "../../../src/errors.ts";
import { status } from "../../../src/backend/file/status.ts";
import { claim, writeLease } from "../../_ops_root.ts";
import { tempRoot } from "../../_helpers.ts";

const listener = { name: "worker", eventType: "jobs", handler: () => Task.SUCCESS, durable: false };

async function jobsRoot(root: string, tasks: number): Promise<string> {
  await runOnce(root, listener);
  const dispatcher = new Dispatcher(root, { durable: false });
  for (let n = 1; n <= tasks; n++) await dispatcher.dispatch("jobs", { n });
  return join(root, "jobs", "worker_listener");
}

Deno.test("status() tells the lease of each in-flight task's worker", async () => {
  await using root = await tempRoot();
  const dir = await jobsRoot(root.path, 4);
  // A little ahead, so that the claims made below are not younger than it (their ctime is the kernel's clock).
  const now = new Date(Date.now() + 5_000);
  await claim(dir, 1, "live-1-a");
  await writeLease(dir, "live-1-a", 60_000, new Date(now.getTime() - 30_000));
  await claim(dir, 2, "expired-2-b");
  await writeLease(dir, "expired-2-b", 60_000, new Date(now.getTime() - 90_000));
  await claim(dir, 3, "gone-3-c");
  await claim(dir, 4, "broken-4-d");
  await Deno.writeTextFile(join(dir, "workers", "broken-4-d.json"), "{");
  await Deno.writeTextFile(join(dir, "inflight", "not-a-claim.json"), "{}");
  const report = await status(root.path, { now: () => now });
  const [jobs] = report.listeners;
  deepEqual(
    jobs.inFlight.map(({ sequence, worker, lease }) => ({ sequence, worker, lease })),
    [
      { sequence: 1, worker: "live-1-a", lease: "live" },
      { sequence: 2, worker: "expired-2-b", lease: "expired" },
      { sequence: 3, worker: "gone-3-c", lease: "missing" },
      { sequence: 4, worker: "broken-4-d", lease: "invalid" },
    ],
  );
  for (const task of jobs.inFlight) {
    ok(task.ageMs !== null && task.ageMs >= 0 && task.ageMs < 60_000, `age ${task.ageMs}`);
    equal(typeof task.since, "string");
  }
  equal(jobs.pending, 0);
  equal(jobs.oldestPending, null);
  equal(jobs.oldestPendingAgeMs, null);
});

Deno.test("status() counts retries and waits among the first scanLimit pending tasks", async () => {
  await using root = await tempRoot();
  const dir = await jobsRoot(root.path, 5);
  const now = new Date("2030-01-01T00:00:00Z");
  const rewrite = async (sequence: number, extra: object) => {
    const path = join(dir, "inbox", `${sequence}.json`);
    await Deno.writeTextFile(path, JSON.stringify({ ...JSON.parse(await Deno.readTextFile(path)), ...extra }));
  };
  await rewrite(1, { retry_count: 1, not_before: "2030-01-01T00:05:00.000Z" });
  await rewrite(2, { retry_count: 1, not_before: "2029-12-31T23:00:00.000Z" });
  await rewrite(5, { retry_count: 3, not_before: "2030-01-01T00:01:00.000Z" });
  const full = (await status(root.path, { now: () => now })).listeners[0];
  deepEqual(
    [full.state, full.pending, full.scanned, full.retrying, full.waiting, full.nextDueAt],
    ["retrying", 5, 5, 3, 2, "2030-01-01T00:01:00.000Z"],
  );
  const limited = (await status(root.path, { now: () => now, scanLimit: 2 })).listeners[0];
  deepEqual(
    [limited.state, limited.pending, limited.scanned, limited.retrying, limited.waiting, limited.nextDueAt],
    ["retrying", 5, 2, 2, 1, "2030-01-01T00:05:00.000Z"],
  );
  ok(full.oldestPendingAgeMs! > 0, "age from the delivery time");
});

Deno.test("status() ages an unreadable first task by its mtime and reads no tracking.json when there is none", async () => {
  await using root = await tempRoot();
  await runOnce(root.path, listener);
  const dir = join(root.path, "jobs", "worker_listener");
  await Deno.writeTextFile(join(dir, "inbox", "3.json"), "{half");
  const written = new Date("2030-01-01T00:00:00Z");
  await Deno.utime(join(dir, "inbox", "3.json"), written, written);
  const [jobs] = (await status(root.path, { now: () => new Date("2030-01-01T00:00:10Z") })).listeners;
  deepEqual(
    [jobs.state, jobs.pending, jobs.oldestPending, jobs.oldestPendingAgeMs, jobs.lastDelivery, jobs.lastSequence],
    ["ok", 1, 3, 10_000, null, null],
  );
});

Deno.test("status() refuses a linked state directory and an unknown listener", async () => {
  await using root = await tempRoot();
  await using outside = await tempRoot();
  const dir = await jobsRoot(root.path, 1);
  await rejects(() => status(root.path, { listeners: ["jobs/nobody"] }), ListenerNotFoundError);
  equal((await status(root.path, { listeners: ["jobs/worker"] })).listeners.length, 1);
  await Deno.symlink(outside.path, join(dir, "archive"));
  await rejects(() => status(root.path), UnsafePathError);
});

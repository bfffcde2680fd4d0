import { deepEqual, equal, match, rejects } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher, runOnce, Task } from "../../../mod.ts";
import { ListenerNotFoundError } from "../../../src/errors.ts";
import { requeue } from "../../../src/backend/file/requeue.ts";
import { claim } from "../../_ops_root.ts";
import { tempRoot } from "../../_helpers.ts";

/** A listener whose tasks 1..n all went to error/ (INVALID). */
async function failedRoot(root: string, tasks: number): Promise<string> {
  const listener = { name: "worker", eventType: "jobs", handler: () => Task.INVALID, durable: false };
  await runOnce(root, listener);
  const dispatcher = new Dispatcher(root, { durable: false });
  for (let n = 1; n <= tasks; n++) await dispatcher.dispatch("jobs", { n });
  await runOnce(root, listener);
  return join(root, "jobs", "worker_listener");
}

const NOW = () => new Date("2030-01-01T00:00:00.000Z");

Deno.test("requeue() appends a REQUEUED record and removes retry_count and not_before", async () => {
  await using root = await tempRoot();
  const dir = await failedRoot(root.path, 1);
  const path = join(dir, "error", "1.json");
  const failed = JSON.parse(await Deno.readTextFile(path));
  failed.retry_count = 3;
  failed.not_before = "2029-01-01T00:00:00.000Z";
  failed.extra = "kept";
  await Deno.writeTextFile(path, JSON.stringify(failed));
  const report = await requeue(root.path, { listener: "jobs/worker", sequences: [1], by: "alice", now: NOW });
  deepEqual(report, { listener: "jobs/worker", requeued: [1], refused: [], skipped: [] });
  const text = await Deno.readTextFile(join(dir, "inbox", "1.json"));
  match(text, /^\{"payload":\{"n":1\},"sequence":1,/, "PHP encoding, fields in place");
  const task = JSON.parse(text);
  deepEqual(Object.keys(task), [
    "payload",
    "sequence",
    "count",
    "delivery",
    "event_type",
    "event_id",
    "task_id",
    "failures",
    "extra",
  ]);
  const { worker, ...record } = task.failures.at(-1);
  deepEqual(record, {
    result: "REQUEUED",
    message: "put back into inbox/ from error/ by alice at 2030-01-01T00:00:00.000Z; retry_count 3 reset",
    time: "2030-01-01T00:00:00.000Z",
    attempt: 4,
  });
  match(worker, new RegExp(`:${Deno.pid}$`), "this process");
  deepEqual(task.failures.slice(0, -1), failed.failures);
  deepEqual(await Array.fromAsync(Deno.readDir(join(dir, "error"))), []);
  deepEqual(await Array.fromAsync(Deno.readDir(join(dir, "tmp"))), [], "no staging file left");
});

Deno.test("requeue() also resets lost_count, so a task sent to error/ by its lost budget gets it back", async () => {
  await using root = await tempRoot();
  const dir = await failedRoot(root.path, 1);
  const path = join(dir, "error", "1.json");
  const failed = JSON.parse(await Deno.readTextFile(path));
  failed.lost_count = 4;
  await Deno.writeTextFile(path, JSON.stringify(failed));
  await requeue(root.path, { listener: "jobs/worker", sequences: [1], by: "alice", now: NOW });
  const task = JSON.parse(await Deno.readTextFile(join(dir, "inbox", "1.json")));
  equal("lost_count" in task, false);
  equal(
    task.failures.at(-1).message,
    "put back into inbox/ from error/ by alice at 2030-01-01T00:00:00.000Z; lost_count 4 reset",
  );
});

Deno.test("requeue() refuses tasks whose number is in flight, missing or unreadable", async () => {
  await using root = await tempRoot();
  const dir = await failedRoot(root.path, 3);
  await new Dispatcher(root.path, { durable: false }).dispatch("jobs", { n: 4 });
  const claimed = await claim(dir, 4, "host-1-abc");
  await Deno.copyFile(claimed, join(dir, "error", "4.json"));
  await Deno.writeTextFile(join(dir, "error", "2.json"), "{broken");
  await Deno.writeTextFile(join(dir, "error", "2.json.reason.txt"), "corrupt task file: not valid JSON\n");
  const report = await requeue(root.path, { listener: "jobs/worker", sequences: [4, 2, 9, 3], durable: false });
  deepEqual(report.requeued, [3]);
  deepEqual(report.refused.map((refusal) => [refusal.file, refusal.sequence]), [["4.json", 4], ["2.json", 2], [
    "9.json",
    9,
  ]]);
  equal(report.refused[0].reason, "inflight/4.json~host-1-abc already exists; left in error/");
  match(
    report.refused[1].reason,
    /^error\/2\.json is a corrupt task file \(not valid JSON .*\), so it is not put back \(quarantined: corrupt task file: not valid JSON\)$/,
  );
  equal(report.refused[2].reason, "not found: expected error/9.json");
  const again = await requeue(root.path, { listener: "jobs/worker", sequences: [3] });
  deepEqual(again.refused, [{ file: "3.json", sequence: 3, reason: "not in error/: it is pending in inbox/" }]);
});

Deno.test("requeue() with all puts back every task file and skips quarantined files", async () => {
  await using root = await tempRoot();
  const dir = await failedRoot(root.path, 2);
  await Deno.writeTextFile(join(dir, "error", "7.json.1"), "{}");
  await Deno.symlink("/etc/passwd", join(dir, "error", "8.json"));
  const report = await requeue(root.path, { listener: "jobs/worker", all: true });
  deepEqual(report.requeued, [1, 2]);
  deepEqual(report.refused, []);
  deepEqual(report.skipped.map((skip) => [skip.file, skip.sequence]).sort(), [["7.json.1", null], ["8.json", 8]]);
  match(report.skipped.find((skip) => skip.file === "8.json")!.reason, /is a symbolic link, so it is not put back/);
});

Deno.test("requeue() checks its arguments", async () => {
  await using root = await tempRoot();
  await failedRoot(root.path, 1);
  await rejects(() => requeue(root.path, { listener: "jobs/worker", sequences: [1], all: true }), TypeError);
  await rejects(() => requeue(root.path, { listener: "jobs/worker", sequences: [0] }), RangeError);
  await rejects(() => requeue(root.path, { listener: "jobs/nobody", all: true }), ListenerNotFoundError);
  equal((await requeue(root.path, { listener: "jobs/worker" })).requeued.length, 0, "nothing asked, nothing done");
});

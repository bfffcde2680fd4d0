import { deepEqual, equal, rejects } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher, runOnce, Task } from "../../mod.ts";
import { tempRoot } from "../_helpers.ts";

const listener = { name: "worker", eventType: "job", handler: () => Task.SUCCESS } as const;

async function names(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

Deno.test("runOnce() with archive 'delete' deletes successful tasks and keeps failed ones", async () => {
  await using root = await tempRoot();
  await runOnce(root.path, listener);
  const dispatcher = new Dispatcher(root.path, { durable: false });
  await dispatcher.dispatch("job", { ok: true });
  await dispatcher.dispatch("job", { ok: false });
  const report = await runOnce(root.path, {
    ...listener,
    handler: (context) => (context.payload as { ok: boolean }).ok ? Task.SUCCESS : Task.INVALID,
    archive: "delete",
  });
  equal(report.archived, 1);
  const dir = join(root.path, "job", "worker_listener");
  deepEqual(await names(join(dir, "archive")), []);
  deepEqual(await names(join(dir, "inbox")), []);
  deepEqual(await names(join(dir, "error")), ["2.json"]);
});

Deno.test("runOnce() with archive { keepMs } deletes archived tasks older than that after the pass", async () => {
  await using root = await tempRoot();
  await runOnce(root.path, listener);
  const dispatcher = new Dispatcher(root.path, { durable: false });
  await dispatcher.dispatch("job", 1);
  await runOnce(root.path, listener);
  await dispatcher.dispatch("job", 2);
  const dir = join(root.path, "job", "worker_listener");
  // A day later, with a retention of one hour, both archived tasks are old enough to go.
  const later = () => new Date(Date.now() + 24 * 3600_000);
  await runOnce(root.path, { ...listener, archive: { keepMs: 3600_000 }, now: later });
  deepEqual(await names(join(dir, "archive")), []);
  await dispatcher.dispatch("job", 3);
  await runOnce(root.path, { ...listener, archive: { keepMs: 3600_000 } });
  deepEqual(await names(join(dir, "archive")), ["3.json"]);
});

Deno.test("runOnce() refuses an archive policy it does not know", async () => {
  await using root = await tempRoot();
  // deno-lint-ignore no-explicit-any
  await rejects(runOnce(root.path, { ...listener, archive: { keepMs: -1 } as any }), /archive must be/);
});

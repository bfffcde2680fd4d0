import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { InvalidNameError, ListenerNotFoundError, UnsafePathError } from "../../../src/errors.ts";
import { listTasks } from "../../../src/backend/file/task_list.ts";
import { connect } from "../../../src/backend/connect.ts";
import { buildOpsRoot } from "../../_ops_root.ts";
import { tempRoot } from "../../_helpers.ts";

Deno.test("listTasks() lists the pending tasks lowest first, with their records and ages", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  const now = new Date(Date.now() + 60_000);
  const list = await listTasks(root.path, { listener: "audit", location: "inbox", now: () => now });
  equal(list.listener, "audit");
  equal(list.location, "inbox");
  equal(list.total, 3);
  deepEqual(list.tasks.map((task) => task.sequence), [5, 6, 7]);
  deepEqual(list.tasks[0].task?.payload, { n: 5, audit: "failure" });
  equal(list.tasks[0].task?.failures?.at(-1)?.result, "FAILURE");
  ok(list.tasks.every((task) => task.ageMs !== null && task.ageMs >= 60_000 && task.problem === null));
});

Deno.test("listTasks() lists errors newest first, bounded by limit, quarantined files not counted", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  const list = await listTasks(root.path, { listener: "audit", location: "error", newest: true, limit: 2 });
  equal(list.total, 3);
  deepEqual(list.tasks.map((task) => task.sequence), [4, 3]);
  deepEqual(list.tasks.map((task) => task.task?.failures?.at(-1)?.result), ["RETRY", "ERROR"]);
  deepEqual((await listTasks(root.path, { listener: "audit", location: "error", limit: 0 })).tasks, []);
  const archived = await listTasks(root.path, { listener: "product/created/image_scaler", location: "archive" });
  deepEqual(archived.tasks.map((task) => task.sequence), [1, 2, 3, 4]);
});

Deno.test("listTasks() reports a file that is not a task, and follows no link", async () => {
  await using root = await tempRoot();
  const { audit } = await buildOpsRoot(root.path);
  await Deno.writeTextFile(join(audit, "error", "9.json"), "{not json");
  await Deno.symlink("/etc/passwd", join(audit, "error", "10.json"));
  const list = await listTasks(root.path, { listener: "audit", location: "error", newest: true });
  equal(list.total, 4, "a link is no task file");
  equal(list.tasks[0].sequence, 9);
  equal(list.tasks[0].task, null);
  ok(list.tasks[0].problem?.startsWith("corrupt task file"), list.tasks[0].problem ?? "");
});

Deno.test("listTasks() refuses bad listener ids, unknown listeners, a bad limit and a linked state directory", async () => {
  await using root = await tempRoot();
  const { scaler } = await buildOpsRoot(root.path);
  await rejects(() => listTasks(root.path, { listener: "../../etc", location: "inbox" }), InvalidNameError);
  await rejects(() => listTasks(root.path, { listener: "nobody", location: "inbox" }), ListenerNotFoundError);
  await rejects(() => listTasks(root.path, { listener: "audit", location: "inbox", limit: -1 }), RangeError);
  await Deno.remove(join(scaler, "error"), { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error; // made at the first error only
  });
  await Deno.symlink("/etc", join(scaler, "error"));
  await rejects(
    () => listTasks(root.path, { listener: "product/created/image_scaler", location: "error" }),
    UnsafePathError,
  );
});

Deno.test("Operations.tasks() of the file backend is listTasks() on its root", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  const options = { listener: "audit", location: "error", newest: true } as const;
  const viaPort = await connect({ root: root.path }).operations.tasks(options);
  deepEqual(
    viaPort.tasks.map((task) => task.sequence),
    (await listTasks(root.path, options)).tasks.map((t) => t.sequence),
  );
});

Deno.test("listTasks() picks the lowest or highest numbers of many, whatever the directory's order", async () => {
  await using root = await tempRoot();
  const { scaler } = await buildOpsRoot(root.path);
  const numbers = Array.from({ length: 300 }, (_, k) => ((k * 7919) % 300) + 100); // 100..399, shuffled
  for (const n of numbers) {
    await Deno.writeTextFile(
      join(scaler, "archive", `${n}.json`),
      JSON.stringify({ payload: n, sequence: n, count: n, delivery: "2026-01-01T00:00:00+00:00" }),
    );
  }
  const listener = "product/created/image_scaler";
  const newest = await listTasks(root.path, { listener, location: "archive", newest: true, limit: 5 });
  equal(newest.total, 304);
  deepEqual(newest.tasks.map((task) => task.sequence), [399, 398, 397, 396, 395]);
  const oldest = await listTasks(root.path, { listener, location: "archive", limit: 6 });
  deepEqual(oldest.tasks.map((task) => task.sequence), [1, 2, 3, 4, 100, 101]);
  deepEqual(oldest.tasks[4].task?.payload, 100);
});

import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { Task } from "../../mod.ts";
import { FileStore } from "../../src/store/file_store.ts";
import { passSettings } from "../../src/worker/run_once.ts";
import { emptyReport, TaskRunner } from "../../src/worker/_task_runner.ts";
import { tempRoot } from "../_helpers.ts";

Deno.test("TaskRunner.handle() quarantines a corrupt file it has waited for longer than the grace period, whatever its mtime says", async () => {
  await using root = await tempRoot();
  const store = new FileStore(root.path, { durable: false });
  const listener = store.register("keeper", "");
  const graceMs = 300;
  const runner = new TaskRunner(
    store,
    listener,
    { handleTask: () => Task.SUCCESS },
    passSettings({ incompleteGraceMs: graceMs, durable: false }),
  );
  const path = join(listener.dir, "inbox", "1.json");
  await Deno.writeTextFile(path, '{"payload":');
  const spot = { dir: "inbox", file: "1.json", task: "1.json", sequence: 1 } as const;
  // Its mtime stays a little ahead of the clock (a writer that keeps touching it, or a clock set slightly wrong):
  // by the mtime alone it would look "still being written" for ever.
  const keepYoung = async () => {
    const soon = new Date(Date.now() + graceMs / 2);
    await Deno.utime(path, soon, soon);
  };
  await keepYoung();
  const report = emptyReport(listener.dir);
  deepEqual(await runner.handle(report, spot), { kind: "incomplete" });
  await new Promise((resolve) => setTimeout(resolve, graceMs + 50));
  await keepYoung();
  deepEqual(await runner.handle(report, spot), { kind: "next" });
  equal(report.quarantined, 1);
  match(
    await Deno.readTextFile(join(listener.dir, "error", "1.json.reason.txt")),
    /^corrupt task file: not valid JSON/,
  );
});

import { deepEqual, equal, rejects } from "node:assert/strict";
import { join } from "node:path";
import { ListenerNotFoundError } from "../../../src/errors.ts";
import { inspectTask } from "../../../src/backend/file/inspect.ts";
import { buildOpsRoot } from "../../_ops_root.ts";
import { tempRoot } from "../../_helpers.ts";

Deno.test("inspectTask() finds every file of a task, quarantined copies and links included", async () => {
  await using root = await tempRoot();
  const { audit } = await buildOpsRoot(root.path);
  // Task 1 is archived; a quarantined copy and a linked entry of the same number sit in error/.
  await Deno.writeTextFile(join(audit, "error", "1.json.1"), "[]");
  await Deno.writeTextFile(join(audit, "error", "1.json.1.reason.txt"), "corrupt task file: expected a JSON object\n");
  await Deno.symlink("/etc/passwd", join(audit, "error", "1.json"));
  const inspection = await inspectTask(root.path, { listener: "audit", sequence: 1 });
  equal(inspection.listener, "audit");
  equal(inspection.dir, audit);
  deepEqual(
    inspection.found.map(({ location, file, problem, reason, text }) => ({ location, file, problem, reason, text })),
    [
      { location: "archive", file: "1.json", problem: null, reason: null, text: null },
      { location: "error", file: "1.json", problem: "a symbolic link (not followed)", reason: null, text: null },
      {
        location: "error",
        file: "1.json.1",
        problem: "corrupt task file: expected a JSON object, found an array",
        reason: "corrupt task file: expected a JSON object",
        text: "[]",
      },
    ],
  );
  deepEqual(inspection.found[0].task?.payload, { n: 1 });
  equal(inspection.found[0].path, join(audit, "archive", "1.json"));
});

Deno.test("inspectTask() finds nothing for an unknown number and throws for an unknown listener", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  deepEqual((await inspectTask(root.path, { listener: "audit", sequence: 99 })).found, []);
  await rejects(() => inspectTask(root.path, { listener: "nobody", sequence: 1 }), ListenerNotFoundError);
  await rejects(() => inspectTask(root.path, { listener: "audit", sequence: 1.5 }), RangeError);
});

/**
 * The file backend given in place of the root path: `Dispatcher`, `runOnce()`
 * and `watch()` work through it as through the path, and its operations see
 * the same tasks.
 */
import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { connect } from "../../../src/backend/connect.ts";
import { Dispatcher, listenerPath, runOnce, Task, watch } from "../../../mod.ts";
import { namesIn, tempRoot } from "../../_helpers.ts";

Deno.test("Dispatcher, runOnce() and watch() work on a backend given in place of the root", async () => {
  await using root = await tempRoot();
  const backend = connect({ root: root.path }, { durable: false });
  equal(backend.location, root.path);
  const seen: unknown[] = [];
  const handler = (context: { payload: unknown }) => {
    seen.push(context.payload);
    return Task.SUCCESS;
  };
  equal((await runOnce(backend, { name: "mailer", eventType: "user", handler })).handled, 0);
  const dispatcher = new Dispatcher(backend);
  const [delivery] = await dispatcher.dispatch("user/signup", { id: 1 });
  deepEqual({ ...delivery, path: undefined }, {
    listener: "mailer",
    listenerEventType: "user",
    sequence: 1,
    path: undefined,
  });
  equal(delivery.path, join(root.path, listenerPath("mailer", "user"), "inbox", "1.json"));
  deepEqual((await backend.operations.status()).listeners.map((each) => [each.listener, each.pending]), [
    ["user/mailer", 1],
  ]);
  const report = await runOnce(backend, { name: "mailer", eventType: "user", handler });
  deepEqual([report.listener, report.handled, report.archived], ["user/mailer", 1, 1]);

  const controller = new AbortController();
  const watcher = watch(backend, {
    signal: controller.signal,
    listeners: [{ name: "mailer", eventType: "user", handler }],
  });
  await watcher.ready;
  await dispatcher.dispatch("user/login", { id: 2 });
  const archive = join(root.path, listenerPath("mailer", "user"), "archive");
  for (let waited = 0; namesIn(archive).length < 2 && waited < 10_000; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  controller.abort();
  const reports = await watcher.done;
  deepEqual(seen, [{ id: 1 }, { id: 2 }]);
  equal(reports["user/mailer"].archived, 1);
});

/**
 * Ordering keys across real processes: two `hurah watch --concurrency 4`
 * on one listener, one of them killed with SIGKILL midway and replaced.
 * Per key, tasks still run one at a time in sequence order (checked from the
 * handler's log), and keys run at the same time. The large run (5,000 tasks,
 * 50 keys, concurrency 8) is `scripts/acceptance/ordering.ts`.
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher, Layout, listenerPath } from "../../mod.ts";
import { runCli, sequencesIn, spawnCli, tempRoot, waitUntil } from "../_helpers.ts";
import { checkOrdering, readRuns } from "./_ordering_log.ts";

const HANDLER = join(import.meta.dirname!, "handlers", "ordering_log.ts");
const NAME = "ordered";
const EVENT_TYPE = "customer/event";
const TASKS = 300;
const KEYS = 10;

Deno.test("hurah watch --concurrency 4 in two processes keeps each ordering key in order across a kill -9", async () => {
  await using root = await tempRoot();
  const log = join(root.path, "handler.log");
  const registered = await runCli(["run", NAME, EVENT_TYPE, HANDLER, root.path]);
  equal(registered.code, 0, registered.stderr);
  const dispatcher = new Dispatcher(root.path, { durable: false });
  await dispatcher.dispatchMany(
    Array.from(
      { length: TASKS },
      (_, i) => ({ eventType: EVENT_TYPE, payload: { i }, orderingKey: `key-${i % KEYS}` }),
    ),
  );
  const env = { HURAH_TEST_LOG: log, HURAH_TEST_DELAY_MS: "6" };
  const watch = () => spawnCli(["watch", NAME, EVENT_TYPE, HANDLER, root.path, "--concurrency", "4"], { env });
  const ended = () => (Deno.readTextFileSync(log).match(/^end /gm) ?? []).length;
  const watchers = [watch(), watch()];
  try {
    await waitUntil("100 tasks handled", () => {
      try {
        return ended() >= 100;
      } catch {
        return false;
      }
    }, 60_000);
    watchers[0].kill("SIGKILL");
    await watchers[0].status;
    watchers.push(watch());
    const archive = join(root.path, listenerPath(NAME, EVENT_TYPE), Layout.ARCHIVE);
    await waitUntil(() => `all ${TASKS} tasks archived`, () => sequencesIn(archive).length === TASKS, 60_000);
  } finally {
    for (const child of watchers.slice(1)) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.output();
    }
  }
  const check = checkOrdering(readRuns(Deno.readTextFileSync(log)));
  deepEqual(check.violations, []);
  equal(check.completed, TASKS);
  ok(check.mostKeysAtOnce > 1, `keys ran at the same time (at most ${check.mostKeysAtOnce} at once)`);
});

/**
 * Acceptance of ordering keys in parallel mode (issue 12): 5,000 tasks over
 * 50 ordering keys, `hurah watch --concurrency 8` (run with deno itself),
 * the handler logging each start and end. The watcher is killed with
 * SIGKILL midway and started again. Checked from the log: per key, tasks ran
 * strictly in sequence order, one at a time (a task cut off by the kill ran
 * again before the next of its key); keys overlapped in time; every task
 * completed.
 *
 * ```sh
 * deno run -A scripts/acceptance/ordering.ts [--tasks 5000] [--keys 50] [--concurrency 8] [--delay-ms 10]
 * ```
 *
 * Prints its measurements; exits 1 when a check fails.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { Dispatcher, Layout, listenerPath } from "../../mod.ts";
import { checkOrdering, readRuns } from "../../tests/integration/_ordering_log.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    tasks: { type: "string" },
    keys: { type: "string" },
    concurrency: { type: "string" },
    "delay-ms": { type: "string" },
  },
});
const TASKS = Number(args.values.tasks ?? 5000);
const KEYS = Number(args.values.keys ?? 50);
const CONCURRENCY = args.values.concurrency ?? "8";
const DELAY_MS = args.values["delay-ms"] ?? "10";
const NAME = "ordered";
const EVENT_TYPE = "customer/event";
const CLI = join(import.meta.dirname!, "..", "..", "cli.ts");
const HANDLER = join(import.meta.dirname!, "..", "..", "tests", "integration", "handlers", "ordering_log.ts");

const root = await Deno.makeTempDir({ prefix: "hurah_accept_order_" });
const log = join(root, "handler.log");
const archive = join(root, listenerPath(NAME, EVENT_TYPE), Layout.ARCHIVE);
const archived = () => {
  try {
    return [...Deno.readDirSync(archive)].length;
  } catch {
    return 0;
  }
};
const watcher = () =>
  new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, "watch", NAME, EVENT_TYPE, HANDLER, root, "--concurrency", CONCURRENCY],
    env: { HURAH_TEST_LOG: log, HURAH_TEST_DELAY_MS: DELAY_MS },
    stdout: "null",
    stderr: "null",
  }).spawn();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let failures: string[] = [];
try {
  const registered = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, "run", NAME, EVENT_TYPE, HANDLER, root],
  }).output();
  if (registered.code !== 0) throw new Error("registering the listener failed");
  await new Dispatcher(root, { durable: false }).dispatchMany(
    Array.from(
      { length: TASKS },
      (_, i) => ({ eventType: EVENT_TYPE, payload: { i }, orderingKey: `key-${i % KEYS}` }),
    ),
  );
  const started = performance.now();
  let child = watcher();
  while (archived() < TASKS / 2) await sleep(50);
  child.kill("SIGKILL");
  await child.status;
  const atKill = archived();
  console.log(`killed the watcher (SIGKILL) with ${atKill} of ${TASKS} tasks archived; starting it again`);
  child = watcher();
  const deadline = Date.now() + 600_000;
  while (archived() < TASKS && Date.now() < deadline) await sleep(100);
  const elapsedS = (performance.now() - started) / 1000;
  child.kill("SIGTERM");
  await child.status;
  const check = checkOrdering(readRuns(Deno.readTextFileSync(log)));
  console.log(
    `${TASKS} tasks over ${KEYS} keys, --concurrency ${CONCURRENCY}, handler up to ${DELAY_MS} ms: ` +
      `${archived()} archived in ${elapsedS.toFixed(1)} s (${
        Math.round(TASKS / elapsedS)
      } tasks/s, kill and restart included)`,
  );
  console.log(
    `handler runs: ${check.runs} (${check.unfinished} cut off by the kill, run again), ${check.completed} tasks completed, ` +
      `per-key order violations: ${check.violations.length}, most keys running at once: ${check.mostKeysAtOnce}`,
  );
  failures = [...check.violations];
  if (check.completed !== TASKS) failures.push(`${check.completed} of ${TASKS} tasks completed`);
  if (archived() !== TASKS) failures.push(`${archived()} of ${TASKS} tasks archived`);
  if (check.mostKeysAtOnce < 2) failures.push("keys never ran at the same time");
} finally {
  await Deno.remove(root, { recursive: true });
}
if (failures.length > 0) {
  console.error(`FAILED:\n  ${failures.slice(0, 20).join("\n  ")}`);
  Deno.exit(1);
}
console.log("OK: each key strictly in order, keys in parallel, across a kill -9 and a restart");

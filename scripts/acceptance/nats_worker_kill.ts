/**
 * Issue 10's worker-kill acceptance on NATS: two `hurah watch --broker ...
 * --concurrency 4` processes (deno itself, so that SIGKILL reaches the
 * worker) handle 5,000 tasks while 50 SIGKILLs hit a random one of them (it
 * is started again at once). Checks: every task handled to SUCCESS, none
 * lost; a task handled twice was in flight at a kill and its later run
 * carries a LOST record (duplicates are counted: at-least-once); 20 tasks
 * that always return RETRY (2 retries allowed) run with retry counts 0, 1
 * and 2 exactly and end in error. Prints its measurements; exits 1 when a
 * check fails.
 *
 * ```sh
 * deno run -A scripts/acceptance/nats_worker_kill.ts [--tasks 5000] [--kills 50]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Dispatcher } from "../../mod.ts";
import { NatsBackend } from "../../src/backend/nats/mod.ts";
import { checkListener } from "../../src/protocol/listener_id.ts";
import { startNatsServer } from "../../tests/_nats.ts";
import { check, lines, type Run, sleep, startWatcher, stopAll, watchArgs } from "./_common.ts";

const { values } = parseArgs({ args: Deno.args, options: { tasks: { type: "string" }, kills: { type: "string" } } });
const TASKS = Number(values.tasks ?? 5000);
const KILLS = Number(values.kills ?? 50);
const RETRY_TASKS = 20;
const MAX_ATTEMPTS = 2;
const CONCURRENCY = 4;

const started = performance.now();
await using server = await startNatsServer();
const out = await Deno.makeTempFile({ prefix: "hurah_accept_", suffix: ".txt" });
const listener = checkListener("kill", "accept");
{
  await using backend = await NatsBackend.connect(server.url);
  await backend.register(listener);
  const events = Array.from({ length: TASKS }, (_, id) => ({
    eventType: "accept",
    payload: id < RETRY_TASKS ? { id, retry: true } : { id },
  }));
  await new Dispatcher(backend).dispatchMany(events);
}
const args = watchArgs(listener, server.url, [
  "--concurrency",
  String(CONCURRENCY),
  "--lease",
  "2s",
  "--max-lost",
  "50",
]);
const env = { HURAH_ACCEPT_OUT: out };
const watchers = [startWatcher(args, env), startWatcher(args, env)];
const handledIds = (runs: Run[]) => new Set(runs.filter((run) => run.result === "SUCCESS").map((run) => run.id));
let killed = 0;
try {
  const step = Math.max(1, Math.floor((TASKS - RETRY_TASKS) / (KILLS + 10)));
  for (; killed < KILLS; killed++) {
    const before = handledIds(await lines(out)).size;
    for (let waited = 0; handledIds(await lines(out)).size < before + step; waited += 50) {
      if (waited > 120_000) throw new Error(`no progress before kill ${killed + 1} in 120 s`);
      await sleep(50);
    }
    const index = Math.floor(Math.random() * watchers.length);
    watchers[index].kill("SIGKILL");
    await watchers[index].status;
    watchers[index] = startWatcher(args, env);
  }
  // Done when every task is handled and the RETRY tasks reached their error; bounded by a stall of 120 s.
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const runs = await lines(out);
    const done = handledIds(runs).size;
    const retries = runs.filter((run) => run.result === "RETRY" && run.retryCount === MAX_ATTEMPTS).length;
    if (done === TASKS - RETRY_TASKS && retries >= RETRY_TASKS) break;
    if (runs.length !== last) [last, lastChange] = [runs.length, Date.now()];
    if (Date.now() - lastChange > 120_000) break; // the checks below say what is missing
    await sleep(100);
  }
  await sleep(3000); // a last RETRY's settlement (error record) after its line
} finally {
  await stopAll(watchers);
}
const wallS = (performance.now() - started) / 1000;
const runs = await lines(out);
await Deno.remove(out);
const byId = new Map<number, Run[]>();
for (const run of runs) byId.set(run.id, [...byId.get(run.id) ?? [], run]);
const successIds = [...byId].filter(([id]) => id >= RETRY_TASKS);
const missing = TASKS - RETRY_TASKS - successIds.filter(([, each]) => each.some((r) => r.result === "SUCCESS")).length;
const duplicated = successIds.filter(([, each]) => each.length > 1);
const withoutLost = duplicated.filter(([, each]) => each.at(-1)!.lost < 1);
const lostRecords = successIds.filter(([, each]) => each.some((run) => run.lost > 0)).length;
const maxLost = Math.max(0, ...runs.map((run) => run.lost));
const retryRuns = [...byId].filter(([id]) => id < RETRY_TASKS);
const badBoundary = retryRuns.filter(([, each]) => {
  const counts = [...new Set(each.map((run) => run.retryCount))].sort();
  return counts.join(",") !== "0,1,2";
});
let errors = 0;
{
  await using backend = await NatsBackend.connect(server.url);
  errors = (await backend.operations.tasks({ listener: listener.id, location: "error" })).total;
}
console.log(
  `tasks: ${TASKS} (${RETRY_TASKS} always RETRY, maxAttempts ${MAX_ATTEMPTS}), watchers: 2 x concurrency ` +
    `${CONCURRENCY}, SIGKILLs: ${killed}, wall: ${wallS.toFixed(1)} s`,
);
console.log(
  `runs: ${runs.length}; SUCCESS tasks missing: ${missing}; handled more than once: ${duplicated.length} ` +
    `(${(duplicated.length / Math.max(1, killed)).toFixed(2)} per kill); with a LOST record: ${lostRecords}; ` +
    `highest lost_count: ${maxLost}`,
);
console.log(
  `RETRY tasks: ${retryRuns.length} seen, ${badBoundary.length} without exactly retry counts 0,1,2; ` +
    `error records: ${errors}`,
);
const failures = [
  check(killed === KILLS, `${killed} of ${KILLS} kills done`),
  check(missing === 0, `${missing} tasks never handled to SUCCESS`),
  check(
    withoutLost.length === 0,
    `${withoutLost.length} re-runs without a LOST record: ${JSON.stringify(withoutLost.slice(0, 3))}`,
  ),
  check(duplicated.length <= CONCURRENCY * killed, `${duplicated.length} duplicates for ${killed} kills`),
  check(
    retryRuns.length === RETRY_TASKS && badBoundary.length === 0,
    `maxAttempts boundary: ${JSON.stringify(badBoundary.slice(0, 3))}`,
  ),
  check(errors === RETRY_TASKS, `${errors} error records, expected ${RETRY_TASKS}`),
].filter((ok) => !ok).length;
console.log(failures === 0 ? "PASS" : `FAIL: ${failures} checks failed`);
Deno.exitCode = failures === 0 ? 0 : 1; // not Deno.exit(): the servers are stopped by their disposal first

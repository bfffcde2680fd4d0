/**
 * Workers killed with SIGKILL while they handle tasks on NATS: every task is
 * handled to SUCCESS, and a task handled more than once was in flight at a
 * kill and carries a LOST record (its `lost_count`). A small version of
 * issue 10's worker-kill acceptance (which runs `hurah watch --broker`).
 *
 * @module
 */
import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Dispatcher } from "../../../mod.ts";
import { NatsBackend } from "../../../src/backend/nats/mod.ts";
import { checkListener } from "../../../src/protocol/listener_id.ts";
import { killQuietly, tempRoot, waitUntil } from "../../_helpers.ts";
import { NATS_SKIP, reportSkip, startNatsServer } from "../../_nats.ts";

reportSkip("tests/backend/nats/kill_test.ts");

const WORKER = fileURLToPath(new URL("./_kill_worker.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../../../deno.json", import.meta.url));

/** Starts a worker process and waits until it is watching. */
async function startWorker(url: string, out: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", CONFIG, WORKER, url, out],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  ok(value?.includes("ready"), `the worker started: ${value}`);
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return child;
}

/** The SUCCESS lines so far: payload and lost count. */
async function successes(out: string): Promise<{ payload: number; lost: number }[]> {
  const text = await Deno.readTextFile(out).catch(() => "");
  return text.split("\n").filter(Boolean).map((line) => {
    const [payload, lost] = line.split(" ").map(Number);
    return { payload, lost };
  });
}

Deno.test({
  name: "workers killed with SIGKILL mid-task: every task handled to SUCCESS, re-runs only with a LOST record",
  ignore: NATS_SKIP !== undefined,
  async fn() {
    await using server = await startNatsServer();
    await using dir = await tempRoot();
    const out = join(dir.path, "successes.txt");
    const TASKS = 600;
    const KILLS = 5;
    {
      await using backend = await NatsBackend.connect(server.url);
      await backend.register(checkListener("kill", "a"));
      await new Dispatcher(backend).dispatchMany(
        Array.from({ length: TASKS }, (_, payload) => ({ eventType: "a", payload })),
      );
    }
    const workers: Deno.ChildProcess[] = [await startWorker(server.url, out), await startWorker(server.url, out)];
    try {
      for (let kill = 0; kill < KILLS; kill++) {
        const before = (await successes(out)).length;
        let now = before;
        await waitUntil(() => `progress before kill ${kill + 1} (${now} handled)`, async () => {
          now = (await successes(out)).length;
          return now > before + 30;
        }, 30_000);
        const victim = workers.shift()!;
        killQuietly(victim, "SIGKILL");
        await victim.status;
        workers.push(await startWorker(server.url, out));
      }
      let handled = 0;
      await waitUntil(
        () => `every task handled (${handled} of ${TASKS})`,
        async () => {
          handled = new Set((await successes(out)).map((s) => s.payload)).size;
          return handled === TASKS;
        },
        60_000,
        100,
      );
    } finally {
      for (const worker of workers) killQuietly(worker, "SIGKILL");
      for (const worker of workers) await worker.status;
    }
    const lines = await successes(out);
    const runs = new Map<number, { lost: number }[]>();
    for (const line of lines) runs.set(line.payload, [...(runs.get(line.payload) ?? []), line]);
    equal(runs.size, TASKS);
    const rerun = [...runs].filter(([, each]) => each.length > 1);
    // A task handled twice was in flight at a kill (its ack not in yet): its later run carries the LOST record.
    for (const [payload, each] of rerun) ok(each.at(-1)!.lost >= 1, `task ${payload}: ${JSON.stringify(each)}`);
    // At most the tasks in flight at the kills: 4 slots each (the parallel worker pulls exactly its free slots).
    ok(rerun.length <= 4 * KILLS, `${rerun.length} re-runs for ${KILLS} kills`);
    const lostOnce = [...runs].filter(([, each]) => each.some((line) => line.lost > 0)).length;
    ok(lostOnce <= 4 * KILLS, `${lostOnce} tasks with a LOST record for ${KILLS} kills`);
    console.log(`${KILLS} SIGKILLs over ${TASKS} tasks: ${rerun.length} run again, ${lostOnce} with a LOST record`);
  },
});

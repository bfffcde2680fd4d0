/**
 * Acceptance: two `hurah run` processes started together on 2,000 tasks;
 * every task is handled exactly once, in order. And no task is left behind
 * when one arrives just as a runner finishes. (The PHP library's overlapping
 * runners handled tasks twice.)
 *
 * The handler is `handlers/append_log.ts`: it appends `<sequence>\n` to a log
 * file (on the working disk) with one append-mode write per task, so the
 * combined log of both runners is the order tasks were handled in.
 *
 * Disk and durability: the event root is on /dev/shm (reached through
 * subprocesses, see `_tree.ts`) and everything runs with `--no-fsync`:
 * what is tested is the runner lock and the order of the pass, not fsync.
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { decodeTask, Layout, listenerPath } from "../../mod.ts";
import { killQuietly, runCli, spawnCli, tempRoot } from "../_helpers.ts";
import { spawnDispatchLoop, withTimeout } from "./_dispatch_loop.ts";
import { dumpTree, shmRoot } from "./_tree.ts";

const HANDLER = join(import.meta.dirname!, "handlers", "append_log.ts");
const NAME = "logger";
const EVENT_TYPE = "product/created";

/** What `hurah run --json` reports. */
interface RunReport {
  handled: number;
  archived: number;
  errored: number;
  retried: number;
  quarantined: number;
}

/** A `hurah run` process of the logging handler, with a way to end it for sure. */
interface Runner {
  /** Whether it has exited. */
  readonly exited: () => boolean;
  /** Its exit code and `--json` report, once it has exited. */
  readonly done: Promise<{ code: number; report: RunReport; stderr: string }>;
  /** Kills it if it is still running, and waits for it. */
  [Symbol.asyncDispose](): Promise<void>;
}

function startRunner(root: string, log: string, delayMs = 0): Runner {
  const child = spawnCli(["run", NAME, EVENT_TYPE, HANDLER, root, "--no-fsync", "--json"], {
    env: { HURAH_TEST_LOG: log, HURAH_TEST_DELAY_MS: String(delayMs) },
  });
  let exited = false;
  const output = child.output().finally(() => exited = true);
  const done = withTimeout(output, 120_000, "hurah run").then(({ code, stdout, stderr }) => {
    const decoder = new TextDecoder();
    const err = decoder.decode(stderr);
    equal(code, 0, `hurah run failed: ${err}`);
    return { code, report: JSON.parse(decoder.decode(stdout)) as RunReport, stderr: err };
  });
  done.catch(() => {}); // awaited by the test; a failure is reported there
  return {
    exited: () => exited,
    done,
    async [Symbol.asyncDispose]() {
      if (!exited) killQuietly(child);
      await output;
    },
  };
}

async function readLog(log: string): Promise<string> {
  try {
    return await Deno.readTextFile(log);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  }
}

async function logSize(log: string): Promise<number> {
  try {
    return (await Deno.stat(log)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

/** `"from\n...\nto\n"`. */
function sequenceLines(from: number, to: number): string {
  let text = "";
  for (let n = from; n <= to; n++) text += `${n}\n`;
  return text;
}

/** The sequence numbers of the task files in one state directory of the listener. */
function filesIn(tree: Map<string, string>, state: string): number[] {
  const prefix = `${listenerPath(NAME, EVENT_TYPE)}/${state}/`;
  const numbers: number[] = [];
  for (const [path, text] of tree) {
    if (!path.startsWith(prefix)) continue;
    const name = path.slice(prefix.length);
    const match = /^([1-9][0-9]*)\.json$/.exec(name);
    ok(match, `unexpected file ${path}`);
    const sequence = Number(match[1]);
    decodeTask(text, sequence); // valid JSON, sequence agrees with the name
    numbers.push(sequence);
  }
  return numbers.sort((a, b) => a - b);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, k) => from + k);
}

async function register(root: string): Promise<void> {
  const registered = await runCli(["run", NAME, EVENT_TYPE, HANDLER, root], { env: { HURAH_TEST_LOG: "/dev/null" } });
  equal(registered.code, 0, registered.stderr);
}

Deno.test("hurah run twice at once on 2,000 tasks handles each exactly once, in order", async () => {
  await using root = await shmRoot();
  await using logs = await tempRoot();
  const log = join(logs.path, "handled.log");
  await register(root.path);
  {
    await using dispatcher = spawnDispatchLoop(root.path, EVENT_TYPE, 2_000, { noFsync: true });
    const status = await withTimeout(dispatcher.exited, 120_000, "the dispatcher");
    equal(status.code, 0, await dispatcher.stderr);
    equal(dispatcher.reported.length, 2_000);
  }

  await using first = startRunner(root.path, log);
  await using second = startRunner(root.path, log);
  const reports = [(await first.done).report, (await second.done).report];

  // One runner takes the lock and handles all; the other waits, then finds the inbox empty.
  deepEqual(reports.map((r) => r.handled).sort((a, b) => a - b), [0, 2_000], JSON.stringify(reports));
  equal(reports[0].archived + reports[1].archived, 2_000);
  equal(await readLog(log), sequenceLines(1, 2_000), "the combined log is 1..2000 in order, each once");
  const tree = await dumpTree(root.path);
  deepEqual(filesIn(tree, Layout.ARCHIVE), range(1, 2_000));
  deepEqual(filesIn(tree, Layout.INBOX), []);
  deepEqual(filesIn(tree, Layout.ERROR), []);
});

Deno.test("hurah run started as another finishes handles a task that arrived meanwhile", async (t) => {
  // Each round: P tasks wait; runner A starts with a slow-ish handler; when A's
  // log shows it is at (or just before) its last task, a warm dispatcher is
  // fired at a random jitter so its M tasks land around A's last look at the
  // inbox; once they are reported, runner B starts. Whatever A did not take, B
  // must: the log ends as exactly the round's sequences in order. Rounds in
  // which B handled any of them while A was still alive when the tasks were
  // reported are the race this test is about; they are counted.
  await using root = await shmRoot();
  await using logs = await tempRoot();
  await register(root.path);
  await using dispatcher = spawnDispatchLoop(root.path, EVENT_TYPE, 0, { noFsync: true, stdin: true });
  const rounds = 24;
  let dispatched = 0;
  let handedOver = 0;
  let aliveAtLate = 0;
  for (let round = 1; round <= rounds; round++) {
    const pre = 1 + Math.floor(Math.random() * 20);
    const late = 1 + Math.floor(Math.random() * 3);
    const delayMs = Math.floor(Math.random() * 4);
    // Fire once A has logged its last waiting task (now and then one or two before), plus a jitter.
    const fireAt = Math.max(1, pre - (Math.random() < 0.7 ? 0 : 1 + Math.floor(Math.random() * 2)));
    const fireAtBytes = sequenceLines(dispatched + 1, dispatched + fireAt).length;
    const jitterMs = Math.random() * 2;
    const log = join(logs.path, `round-${round}.log`);
    const passed = await t.step(`round ${round}: ${pre} waiting, ${late} late, handler ${delayMs} ms`, async () => {
      await dispatcher.send(pre);
      await withTimeout(dispatcher.waitForReports(dispatched + pre), 60_000, "the waiting tasks");
      equal(dispatcher.reported.length, dispatched + pre, "the dispatcher stopped early");
      await using a = startRunner(root.path, log, delayMs);
      const deadline = performance.now() + 60_000;
      while (await logSize(log) < fireAtBytes && !a.exited()) {
        ok(performance.now() < deadline, "runner A neither logged nor exited within 60 s"); // poll: a timer adds ms
      }
      const until = performance.now() + jitterMs;
      while (performance.now() < until) { /* a sub-millisecond delay */ }
      await dispatcher.send(late);
      await withTimeout(dispatcher.waitForReports(dispatched + pre + late), 60_000, "the late tasks");
      equal(dispatcher.reported.length, dispatched + pre + late);
      const aliveWhenReported = !a.exited();
      await using b = startRunner(root.path, log, delayMs);
      const [byA, byB] = [(await a.done).report.handled, (await b.done).report.handled];
      equal(byA + byB, pre + late, `A handled ${byA}, B ${byB}`);
      equal(await readLog(log), sequenceLines(dispatched + 1, dispatched + pre + late), "log of the round");
      if (byB > 0 && aliveWhenReported) handedOver++;
      if (aliveWhenReported) aliveAtLate++;
      dispatched += pre + late;
    });
    if (!passed) break; // the next rounds would count from a wrong base
  }
  await dispatcher.close();
  equal((await withTimeout(dispatcher.exited, 60_000, "the dispatcher")).code, 0, await dispatcher.stderr);
  const tree = await dumpTree(root.path);
  deepEqual(filesIn(tree, Layout.ARCHIVE), range(1, dispatched), "every task archived exactly once");
  deepEqual(filesIn(tree, Layout.INBOX), []);
  deepEqual(filesIn(tree, Layout.ERROR), []);
  console.log(
    `${rounds} rounds, ${dispatched} tasks; A still running when the late tasks were reported: ${aliveAtLate}; ` +
      `of those, B handled late tasks (they arrived after A's last look): ${handedOver}`,
  );
});

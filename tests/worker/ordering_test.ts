/**
 * Ordering keys in parallel mode, in one process: tasks with one key run one
 * at a time in sequence order, different keys in parallel, and a RETRY or
 * FAILURE holds only its key. The real processes (several watchers, kill -9)
 * are in `tests/integration/ordering_test.ts`.
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { decodeTask, Dispatcher, Layout, listenerPath, runOnce, Task, type TaskContext } from "../../mod.ts";
import { sequencesIn, tempRoot } from "../_helpers.ts";

const NAME = "ordered";
const EVENT_TYPE = "customer/event";

/** One handler call: its task, key, and when it started and ended. */
interface Run {
  sequence: number;
  key: string | null;
  start: number;
  end: number;
}

/** Registers the listener and dispatches `count` events, the i-th with ordering key `keyOf(i)` (none when null). */
async function setUp(root: string, count: number, keyOf: (i: number) => string | null): Promise<string> {
  await runOnce(root, { name: NAME, eventType: EVENT_TYPE, handler: () => Task.SUCCESS });
  const dispatcher = new Dispatcher(root, { durable: false });
  for (let i = 0; i < count; i++) {
    const key = keyOf(i);
    await dispatcher.dispatch(EVENT_TYPE, { i, key }, key === null ? {} : { orderingKey: key });
  }
  return join(root, listenerPath(NAME, EVENT_TYPE));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Checks that each key's runs started in sequence order, each after the one before it ended. */
export function checkPerKeyOrder(runs: readonly Run[]): void {
  const byKey = new Map<string, Run[]>();
  for (const run of runs) if (run.key !== null) byKey.set(run.key, [...byKey.get(run.key) ?? [], run]);
  for (const [key, each] of byKey) {
    const byStart = [...each].sort((a, b) => a.start - b.start);
    for (let k = 1; k < byStart.length; k++) {
      ok(byStart[k].sequence > byStart[k - 1].sequence, `${key}: ${byStart[k].sequence} started after a later task`);
      ok(
        byStart[k].start >= byStart[k - 1].end,
        `${key}: ${byStart[k].sequence} overlapped ${byStart[k - 1].sequence}`,
      );
    }
  }
}

/** Whether runs of different keys overlapped in time. */
function keysOverlap(runs: readonly Run[]): boolean {
  return runs.some((a) => runs.some((b) => a.key !== b.key && a.start < b.end && b.start < a.end));
}

Deno.test("runOnce() with concurrency 4 runs each ordering key in order, one at a time, and keys in parallel", async () => {
  await using root = await tempRoot();
  // 200 tasks over 10 keys, every fifth without a key.
  const dir = await setUp(root.path, 200, (i) => i % 5 === 4 ? null : `customer-${i % 10}`);
  const runs: Run[] = [];
  let running = 0;
  let most = 0;
  const report = await runOnce(root.path, {
    name: NAME,
    eventType: EVENT_TYPE,
    concurrency: 4,
    handler: async (context: TaskContext) => {
      const start = performance.now();
      most = Math.max(most, ++running);
      await sleep(1 + (context.sequence * 7) % 4);
      running--;
      runs.push({
        sequence: context.sequence,
        key: (context.payload as { key: string | null }).key,
        start,
        end: performance.now(),
      });
      return Task.SUCCESS;
    },
  });
  equal(report.archived, 200);
  equal(runs.length, 200);
  checkPerKeyOrder(runs);
  ok(keysOverlap(runs), "different keys ran at the same time");
  ok(most > 1, `up to ${most} at once`);
  deepEqual(sequencesIn(join(dir, Layout.INBOX)), []);
});

Deno.test("runOnce() in parallel: a RETRY or FAILURE of a key's task holds only that key", async (t) => {
  for (const result of ["RETRY", "FAILURE"] as const) {
    await t.step(result, async () => {
      await using root = await tempRoot();
      const dir = await setUp(root.path, 12, (i) => i % 2 === 0 ? "held" : "free");
      const runs: Run[] = [];
      let answered = false;
      const options = {
        name: NAME,
        eventType: EVENT_TYPE,
        concurrency: 3,
        retryDelay: () => 60_000,
        handler: {
          maxAttempts: () => 3,
          handleTask(context: TaskContext) {
            const key = (context.payload as { key: string }).key;
            runs.push({ sequence: context.sequence, key, start: performance.now(), end: performance.now() });
            if (key === "held" && !answered) {
              answered = true;
              return result === "RETRY" ? Task.RETRY : Task.FAILURE;
            }
            return Task.SUCCESS;
          },
        },
      };
      const first = await runOnce(root.path, options);
      // The other key went on to the end; the held key's first task is back in the inbox, its others behind it.
      deepEqual(runs.filter((run) => run.key === "free").map((run) => run.sequence), [2, 4, 6, 8, 10, 12]);
      deepEqual(runs.filter((run) => run.key === "held").map((run) => run.sequence), [1]);
      deepEqual(sequencesIn(join(dir, Layout.INBOX)), [1, 3, 5, 7, 9, 11]);
      equal(first.archived, 6);
      const held = decodeTask(Deno.readTextFileSync(join(dir, Layout.INBOX, "1.json")), 1);
      ok(typeof held.not_before === "string", "not due again at once");
      // Once it is due, the key goes on, in order.
      const now = () => new Date(Date.parse(held.not_before as string) + 1);
      await runOnce(root.path, { ...options, now });
      deepEqual(runs.filter((run) => run.key === "held").map((run) => run.sequence), [1, 1, 3, 5, 7, 9, 11]);
      deepEqual(sequencesIn(join(dir, Layout.INBOX)), []);
    });
  }
});

Deno.test("a dispatch with an ordering key leaves the listener's ordering_keys marker; one without leaves none", async () => {
  await using root = await tempRoot();
  await using dispatcher = new Dispatcher(root.path);
  for (const name of ["plain", "keyed"]) {
    await runOnce(root.path, { name, eventType: name, handler: () => Task.SUCCESS, durable: false });
  }
  const marker = (name: string) => join(root.path, listenerPath(name, name), Layout.KEYED);
  await dispatcher.dispatch("plain", 1);
  await dispatcher.dispatch("keyed", 1);
  await dispatcher.dispatch("keyed", 2, { orderingKey: "customer-7" });
  await dispatcher.dispatch("keyed", 3, { orderingKey: "customer-8" });
  equal((await Deno.lstat(marker("keyed"))).size, 0);
  ok(!(await Deno.lstat(marker("plain")).then(() => true, () => false)), "no marker where no task had a key");
});

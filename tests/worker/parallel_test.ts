/**
 * Parallel mode in one process: `runOnce()` with `concurrency` above 1, its
 * fates (RETRY, FAILURE), and what becomes of claims in `inflight/` whose
 * worker is gone or alive. The real processes (kill -9, SIGSTOP, several
 * hosts) are in `tests/integration/parallel_test.ts`.
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import {
  decodeTask,
  Dispatcher,
  type FailureRecord,
  Layout,
  listenerPath,
  runOnce,
  Task,
  type TaskContext,
  type TaskRecord,
  type TaskResult,
} from "../../mod.ts";
import { namesIn, sequencesIn, tempRoot } from "../_helpers.ts";

const NAME = "parallel";
const EVENT_TYPE = "job/queued";

/** The listener's directory and its state directories under `root`. */
function dirsOf(root: string) {
  const dir = join(root, listenerPath(NAME, EVENT_TYPE));
  return {
    dir,
    inbox: join(dir, Layout.INBOX),
    inflight: join(dir, Layout.INFLIGHT),
    archive: join(dir, Layout.ARCHIVE),
    error: join(dir, Layout.ERROR),
    workers: join(dir, Layout.WORKERS),
  };
}

function readTask(dir: string, file: string): TaskRecord {
  return decodeTask(Deno.readTextFileSync(join(dir, file)), Number(file.split(".")[0]));
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, k) => k + 1);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Registers the listener and dispatches `count` events to it. */
async function setUp(root: string, count: number): Promise<ReturnType<typeof dirsOf>> {
  await runOnce(root, { name: NAME, eventType: EVENT_TYPE, handler: () => Task.SUCCESS });
  const dispatcher = new Dispatcher(root, { durable: false });
  for (let i = 0; i < count; i++) await dispatcher.dispatch(EVENT_TYPE, { i });
  return dirsOf(root);
}

/** A handler that records each call and answers with `result(context)`; `maxAttempts` 3. */
function recorder(result: (context: TaskContext) => TaskResult | Promise<TaskResult> = () => Task.SUCCESS) {
  const calls: TaskContext[] = [];
  return {
    calls,
    maxAttempts: () => 3,
    handleTask(context: TaskContext) {
      calls.push(context);
      return result(context);
    },
  };
}

Deno.test("runOnce() with concurrency 4 handles each of 200 tasks once, up to 4 at a time", async () => {
  await using root = await tempRoot();
  const dirs = await setUp(root.path, 200);
  let running = 0;
  let most = 0;
  const handler = recorder(async () => {
    most = Math.max(most, ++running);
    await sleep(2);
    running--;
    return Task.SUCCESS;
  });
  const report = await runOnce(root.path, { name: NAME, eventType: EVENT_TYPE, handler, concurrency: 4 });
  deepEqual(handler.calls.map((context) => context.sequence).sort((a, b) => a - b), range(200));
  deepEqual(
    [report.handled, report.archived, report.errored, report.retried, report.recovered, report.lost],
    [200, 200, 0, 0, 0, 0],
  );
  ok(most <= 4, `${most} tasks ran at once`);
  ok(most > 1, "the tasks ran one at a time");
  deepEqual(sequencesIn(dirs.archive), range(200));
  deepEqual(namesIn(dirs.inbox), []);
  deepEqual(namesIn(dirs.inflight), []);
  deepEqual(namesIn(dirs.workers), [], "the lease is given up");
});

Deno.test("runOnce() in parallel mode puts a RETRY back into the inbox", async (t) => {
  await t.step("with retry_count and not_before", async () => {
    await using root = await tempRoot();
    const dirs = await setUp(root.path, 3);
    const handler = recorder((context) => context.sequence === 2 ? Task.RETRY : Task.SUCCESS);
    const before = Date.now();
    const report = await runOnce(root.path, {
      name: NAME,
      eventType: EVENT_TYPE,
      handler,
      concurrency: 2,
      retryDelay: () => 60_000,
    });
    const after = Date.now();
    deepEqual([report.handled, report.archived, report.retried], [3, 2, 1]);
    deepEqual(sequencesIn(dirs.inbox), [2]);
    deepEqual(sequencesIn(dirs.archive), [1, 3]);
    deepEqual(namesIn(dirs.inflight), []);
    const task = readTask(dirs.inbox, "2.json");
    equal(task.retry_count, 1);
    const due = Date.parse(task.not_before as string);
    ok(due >= before + 60_000 && due <= after + 60_000, `not_before ${task.not_before}`);
    equal(report.nextDueAt, due);

    // Not due yet: left alone. Once due: handled, with its retry count.
    const again = await runOnce(root.path, { name: NAME, eventType: EVENT_TYPE, handler, concurrency: 2 });
    deepEqual([again.handled, again.nextDueAt], [0, due]);
    deepEqual(sequencesIn(dirs.inbox), [2]);
    const later = await runOnce(root.path, {
      name: NAME,
      eventType: EVENT_TYPE,
      handler: recorder(),
      concurrency: 2,
      now: () => new Date(due + 1),
    });
    deepEqual([later.handled, later.archived], [1, 1]);
    deepEqual(sequencesIn(dirs.archive), [1, 2, 3]);
  });

  await t.step("without delay: tried again in the next pass, not in the same one", async () => {
    await using root = await tempRoot();
    const dirs = await setUp(root.path, 20);
    const handler = recorder(async (context) => {
      await sleep(1);
      return context.sequence === 1 ? Task.RETRY : Task.SUCCESS;
    });
    const report = await runOnce(root.path, { name: NAME, eventType: EVENT_TYPE, handler, concurrency: 2 });
    deepEqual([report.handled, report.archived, report.retried, report.errored], [20, 19, 1, 0]);
    deepEqual(handler.calls.filter((context) => context.sequence === 1).map((context) => context.retryCount), [0]);
    deepEqual(sequencesIn(dirs.inbox), [1]);
    equal(readTask(dirs.inbox, "1.json").retry_count, 1);
    equal(readTask(dirs.inbox, "1.json").not_before, undefined);

    const next = await runOnce(root.path, { name: NAME, eventType: EVENT_TYPE, handler, concurrency: 2 });
    deepEqual([next.handled, next.retried], [1, 1]);
    equal(readTask(dirs.inbox, "1.json").retry_count, 2);
  });
});

Deno.test("runOnce() in parallel mode stops claiming after a FAILURE, which goes back into the inbox", async () => {
  await using root = await tempRoot();
  const dirs = await setUp(root.path, 10);
  // Task 1 fails at once; task 2, claimed beside it, is still running then and finishes.
  const handler = recorder(async (context) => {
    if (context.sequence === 1) return Task.FAILURE;
    await sleep(50);
    return Task.SUCCESS;
  });
  const report = await runOnce(root.path, { name: NAME, eventType: EVENT_TYPE, handler, concurrency: 2 });
  equal(report.failedAt, 1);
  const handled = handler.calls.map((context) => context.sequence).sort((a, b) => a - b);
  ok(handled.length <= 2 && handled[0] === 1 && handled.every((sequence) => sequence <= 2), `handled ${handled}`);
  equal(report.archived, handled.length - 1);
  deepEqual(sequencesIn(dirs.inbox), range(10).filter((sequence) => sequence === 1 || !handled.includes(sequence)));
  deepEqual(namesIn(dirs.inflight), []);
  const failures = readTask(dirs.inbox, "1.json").failures as FailureRecord[];
  deepEqual(failures.map((failure) => [failure.result, failure.attempt]), [["FAILURE", 1]]);
});

/** Turns `inbox/<sequence>.json` into a claim of `owner`, as a worker's claim does. */
async function claimAs(dirs: ReturnType<typeof dirsOf>, sequence: number, owner: string): Promise<string> {
  await Deno.mkdir(dirs.inflight, { recursive: true });
  const file = `${sequence}.json~${owner}`;
  await Deno.rename(join(dirs.inbox, `${sequence}.json`), join(dirs.inflight, file));
  return file;
}

Deno.test("runOnce() in order puts an orphan claim back into the inbox", async (t) => {
  await t.step("with lost_count 1 and a LOST record, then handles it", async () => {
    await using root = await tempRoot();
    const dirs = await setUp(root.path, 5);
    await claimAs(dirs, 5, "ghost-1-abc");
    const handler = recorder();
    const report = await runOnce(root.path, { name: NAME, eventType: EVENT_TYPE, handler });
    deepEqual([report.handled, report.archived, report.recovered, report.errored], [5, 5, 1, 0]);
    deepEqual(handler.calls.map((context) => context.sequence), [1, 2, 3, 4, 5]);
    const fifth = handler.calls[4];
    equal(fifth.retryCount, 0, "a lost attempt is not a retry");
    deepEqual(sequencesIn(dirs.archive), range(5));
    deepEqual(namesIn(dirs.inflight), []);
    const task = readTask(dirs.archive, "5.json");
    equal(task.retry_count, undefined);
    equal(task.lost_count, 1);
    const failures = task.failures as FailureRecord[];
    equal(failures.length, 1);
    deepEqual([failures[0].result, failures[0].attempt, failures[0].fate], ["LOST", 1, undefined]);
    ok(failures[0].message.includes("ghost-1-abc"), failures[0].message);
  });

  await t.step("and runs it even when maxAttempts() is 0: the lost budget is its own", async () => {
    await using root = await tempRoot();
    const dirs = await setUp(root.path, 5);
    await claimAs(dirs, 5, "ghost-1-abc");
    const calls: number[] = [];
    const report = await runOnce(root.path, {
      name: NAME,
      eventType: EVENT_TYPE,
      handler: (context) => {
        calls.push(context.sequence);
        return Task.SUCCESS;
      },
    });
    deepEqual(calls, [1, 2, 3, 4, 5]);
    deepEqual([report.handled, report.archived, report.recovered, report.errored], [5, 5, 1, 0]);
    deepEqual(sequencesIn(dirs.error), []);
    deepEqual(namesIn(dirs.inflight), []);
    const task = readTask(dirs.archive, "5.json");
    equal(task.lost_count, 1);
    const last = (task.failures as FailureRecord[]).at(-1)!;
    deepEqual([last.result, last.fate, last.attempt], ["LOST", undefined, 1]);
  });
});

Deno.test("runOnce() in parallel mode takes back claims of workers that are gone, and only those", async (t) => {
  /** A hand-made lease file of worker `owner`, renewed `ageMs` ago. */
  async function lease(dirs: ReturnType<typeof dirsOf>, owner: string, host: string, ageMs: number): Promise<string> {
    await Deno.mkdir(dirs.workers, { recursive: true });
    const path = join(dirs.workers, `${owner}.json`);
    const started = new Date(Date.now() - ageMs);
    await Deno.writeTextFile(
      path,
      JSON.stringify({ worker: owner, host, pid: 999_999, started: started.toISOString(), lease_ms: 60_000 }),
    );
    await Deno.utime(path, started, started);
    return path;
  }

  const cases: {
    name: string;
    /** Makes the owner's lease, or none; returns what to release afterwards. */
    setUp: (dirs: ReturnType<typeof dirsOf>, owner: string) => Promise<Disposable | undefined>;
    /** `undefined`: left alone; else the LOST record's reason. */
    takenBack?: string;
  }[] = [
    {
      name: "a fresh lease of another host: left alone",
      setUp: async (dirs, owner) => void await lease(dirs, owner, "elsewhere", 0),
    },
    {
      name: "an expired lease of another host: taken back",
      setUp: async (dirs, owner) => void await lease(dirs, owner, "elsewhere", 120_000),
      takenBack: "let its lease expire",
    },
    {
      name: "a fresh lease of this host whose lock is free (its process died): taken back",
      setUp: async (dirs, owner) => void await lease(dirs, owner, "here", 0),
      takenBack: "is no longer running (its lease lock is free)",
    },
    {
      name: "a fresh lease of this host whose lock is held (its process runs): left alone",
      setUp: async (dirs, owner) => {
        const file = await Deno.open(await lease(dirs, owner, "here", 0), { read: true, write: true });
        await file.lock(true);
        return { [Symbol.dispose]: () => file.close() };
      },
    },
    {
      name: "no lease file: taken back",
      setUp: () => Promise.resolve(undefined),
      takenBack: "has no lease file",
    },
  ];
  for (const { name, setUp: makeLease, takenBack } of cases) {
    await t.step(name, async () => {
      await using root = await tempRoot();
      const dirs = await setUp(root.path, 4);
      const owner = "ghost-2-def";
      const claim = await claimAs(dirs, 3, owner);
      using _held = await makeLease(dirs, owner);
      const handler = recorder();
      const report = await runOnce(root.path, {
        name: NAME,
        eventType: EVENT_TYPE,
        handler,
        concurrency: 4,
        hostId: "here",
        leaseMs: 1_000,
      });
      const handled = handler.calls.map((context) => context.sequence).sort((a, b) => a - b);
      deepEqual(namesIn(dirs.inbox), []);
      if (takenBack === undefined) {
        deepEqual(handled, [1, 2, 4]);
        deepEqual([report.recovered, report.archived], [0, 3]);
        deepEqual(namesIn(dirs.inflight), [claim]);
        deepEqual(namesIn(dirs.workers), [`${owner}.json`], "the live worker's lease stays");
        return;
      }
      deepEqual(handled, [1, 2, 3, 4]);
      deepEqual([report.recovered, report.archived, report.errored], [1, 4, 0]);
      deepEqual(namesIn(dirs.inflight), []);
      deepEqual(namesIn(dirs.workers), [], "the dead worker's lease is removed");
      const failures = readTask(dirs.archive, "3.json").failures as FailureRecord[];
      equal(failures.length, 1);
      equal(failures[0].result, "LOST");
      ok(failures[0].message.startsWith(`worker ${owner} ${takenBack}`), failures[0].message);
      ok(failures[0].worker?.startsWith("here-"), failures[0].worker);
    });
  }
});

Deno.test("runOnce() in parallel mode removes the lease of a dead worker that held no claim", async () => {
  await using root = await tempRoot();
  const dirs = await setUp(root.path, 2);
  await Deno.mkdir(dirs.workers, { recursive: true });
  const stale = join(dirs.workers, "here-999999-abcdef.json");
  const fresh = { worker: "here-999999-abcdef", host: "here", pid: 999_999, started: new Date().toISOString() };
  await Deno.writeTextFile(stale, JSON.stringify({ ...fresh, lease_ms: 60_000 }));
  const live = join(dirs.workers, "elsewhere-1-abcdef.json");
  await Deno.writeTextFile(
    live,
    JSON.stringify({ ...fresh, worker: "elsewhere-1-abcdef", host: "elsewhere", lease_ms: 60_000 }),
  );
  const report = await runOnce(root.path, {
    name: NAME,
    eventType: EVENT_TYPE,
    handler: recorder(),
    concurrency: 2,
    hostId: "here",
  });
  equal(report.archived, 2);
  // Same host and its lock free: gone. Another host's fresh lease: alive, kept.
  deepEqual(namesIn(dirs.workers), ["elsewhere-1-abcdef.json"]);
});

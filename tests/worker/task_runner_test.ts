/**
 * What becomes of a task after its handler ran (`src/worker/_task_runner.ts`):
 * a thrown error spends the retry budget as RETRY does, a lost attempt spends
 * a budget of its own, what a handler logs is kept in its failure record, and
 * a task whose move fails after its handler ran is not run again.
 *
 * @module
 */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import {
  decodeTask,
  Dispatcher,
  type FailureRecord,
  Layout,
  listenerPath,
  type RunEvent,
  runOnce,
  Task,
  TaskMoveError,
  type TaskRecord,
} from "../../mod.ts";
import { FileStore } from "../../src/backend/file/file_store.ts";
import { type PassSettings, TaskRunner } from "../../src/worker/_task_runner.ts";
import { emptyReport, type RunReport } from "../../src/worker/report.ts";
import { passSettings } from "../../src/worker/_settings.ts";
import { ListenerLoop } from "../../src/worker/_loop.ts";
import { OrderedFileQueue } from "../../src/backend/file/listener_queue.ts";
import type { OpenOptions } from "../../src/backend/port.ts";
import type { HandlerLike } from "../../src/worker/handler.ts";
import type { ListenerRef } from "../../src/backend/file/file_store.ts";
import { checkListener } from "../../src/protocol/listener_id.ts";
import { namesIn, sequencesIn, tempRoot } from "../_helpers.ts";

const NAME = "runner";
const EVENT_TYPE = "job/queued";

function dirsOf(root: string) {
  const dir = join(root, listenerPath(NAME, EVENT_TYPE));
  return {
    dir,
    inbox: join(dir, Layout.INBOX),
    inflight: join(dir, Layout.INFLIGHT),
    archive: join(dir, Layout.ARCHIVE),
    error: join(dir, Layout.ERROR),
  };
}

function readTask(dir: string, sequence: number): TaskRecord {
  return decodeTask(Deno.readTextFileSync(join(dir, `${sequence}.json`)), sequence);
}

function failuresOf(task: TaskRecord): FailureRecord[] {
  return (task.failures ?? []) as FailureRecord[];
}

/** Registers the listener and dispatches `count` events to it. */
async function setUp(root: string, count = 1): Promise<ReturnType<typeof dirsOf>> {
  await runOnce(root, { name: NAME, eventType: EVENT_TYPE, handler: () => Task.SUCCESS, durable: false });
  const dispatcher = new Dispatcher(root, { durable: false });
  for (let i = 0; i < count; i++) await dispatcher.dispatch(EVENT_TYPE, { i });
  return dirsOf(root);
}

/** Moves inbox task `sequence` into `inflight/` under a dead worker's name, as a killed worker leaves it. */
async function claimAs(dirs: ReturnType<typeof dirsOf>, sequence: number, owner: string): Promise<void> {
  await Deno.mkdir(dirs.inflight, { recursive: true });
  await Deno.rename(join(dirs.inbox, `${sequence}.json`), join(dirs.inflight, `${sequence}.json~${owner}`));
}

// ---------------------------------------------------------------------------------------------------------------
// Defect 7: a thrown error is an attempt like RETRY when maxAttempts > 0

Deno.test("runOnce() retries a handler that throws while maxAttempts() allows, with backoff and the stack", async () => {
  await using root = await tempRoot();
  const dirs = await setUp(root.path);
  const at = new Date("2026-12-01T12:00:00.000Z");
  let calls = 0;
  const handler = {
    maxAttempts: () => 3,
    retryDelay: (attempt: number) => attempt * 60_000,
    handleTask(): never {
      calls++;
      throw new Error("the mail server is down");
    },
  };
  const run = () => runOnce(root.path, { name: NAME, eventType: EVENT_TYPE, handler, durable: false, now: () => at });
  const first = await run();
  deepEqual([first.handled, first.retried, first.errored], [1, 1, 0]);
  const task = readTask(dirs.inbox, 1);
  equal(task.retry_count, 1);
  equal(task.not_before, new Date(at.getTime() + 60_000).toISOString(), "the backoff delay is honoured");
  const record = failuresOf(task).at(-1)!;
  deepEqual([record.result, record.attempt, record.fate], ["ERROR", 1, undefined]);
  equal(record.message, "Error: the mail server is down");
  match(record.stack ?? "", /the mail server is down\n\s+at /);

  const notDue = await run();
  equal(notDue.handled, 0, "not run again before not_before");
  for (let attempt = 2; attempt <= 4; attempt++) {
    at.setTime(at.getTime() + 10 * 60_000);
    await run();
  }
  equal(calls, 4, "maxAttempts() + 1 runs, as with RETRY");
  deepEqual(sequencesIn(dirs.error), [1]);
  const last = readTask(dirs.error, 1);
  equal(last.retry_count, 4);
  const final = failuresOf(last).at(-1)!;
  deepEqual([final.result, final.fate, final.attempt], ["ERROR", "error", 4]);
  equal(final.message, "the handler threw 4 times; maxAttempts() is 3; last: Error: the mail server is down");
});

Deno.test("runOnce() sends a handler that throws to error/ at once when maxAttempts() is 0 (PHP)", async () => {
  await using root = await tempRoot();
  const dirs = await setUp(root.path);
  const report = await runOnce(root.path, {
    name: NAME,
    eventType: EVENT_TYPE,
    handler: () => {
      throw new RangeError("no such product");
    },
    durable: false,
  });
  deepEqual([report.handled, report.errored, report.retried], [1, 1, 0]);
  const task = readTask(dirs.error, 1);
  equal(task.retry_count, undefined, "PHP leaves retry_count alone on a throw");
  deepEqual(failuresOf(task).map((f) => [f.result, f.fate, f.message]), [
    ["ERROR", "error", "RangeError: no such product"],
  ]);
});

// ---------------------------------------------------------------------------------------------------------------
// Defect 6: a lost attempt spends its own budget, maxLost (default 3)

Deno.test("runOnce() puts an orphan claim back with lost_count, not retry_count, even with maxAttempts() 0", async () => {
  await using root = await tempRoot();
  const dirs = await setUp(root.path, 2);
  await claimAs(dirs, 2, "ghost-1-abc");
  const seen: number[] = [];
  const report = await runOnce(root.path, {
    name: NAME,
    eventType: EVENT_TYPE,
    handler: (context) => {
      seen.push(context.retryCount);
      return Task.SUCCESS;
    },
    durable: false,
  });
  deepEqual([report.recovered, report.archived, report.errored], [1, 2, 0]);
  deepEqual(seen, [0, 0], "a lost attempt is not a retry");
  const task = readTask(dirs.archive, 2);
  equal(task.retry_count, undefined);
  equal(task.lost_count, 1);
  const [record] = failuresOf(task);
  deepEqual([record.result, record.fate, record.attempt], ["LOST", undefined, 1]);
  ok(record.message.includes("ghost-1-abc"), record.message);
});

Deno.test("runOnce() sends a task lost more than maxLost times to error/ with every LOST record", async (t) => {
  for (const [maxLost, losses] of [[undefined, 4], [0, 1], [1, 2]] as const) {
    await t.step(`maxLost ${maxLost ?? "default (3)"}: error/ at loss ${losses}`, async () => {
      await using root = await tempRoot();
      const dirs = await setUp(root.path);
      for (let loss = 1; loss <= losses; loss++) {
        await claimAs(dirs, 1, `ghost-${loss}-abc`);
        // FAILURE keeps the task first in the inbox, uncounted: the next loop kills its "worker" again.
        const report = await runOnce(root.path, {
          name: NAME,
          eventType: EVENT_TYPE,
          handler: () => Task.FAILURE,
          durable: false,
          ...(maxLost === undefined ? {} : { maxLost }),
        });
        equal(report.recovered, 1);
        equal(report.errored, loss === losses ? 1 : 0, `loss ${loss}`);
      }
      deepEqual(sequencesIn(dirs.error), [1]);
      deepEqual(namesIn(dirs.inflight), []);
      const task = readTask(dirs.error, 1);
      equal(task.lost_count, losses);
      equal(task.retry_count, undefined);
      const lost = failuresOf(task).filter((f) => f.result === "LOST");
      equal(lost.length, losses, "every LOST record is kept");
      equal(lost.at(-1)!.fate, "error");
      match(lost.at(-1)!.message, new RegExp(`lost ${losses} times?; maxLost is ${maxLost ?? 3}$`));
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Defect 8: TaskContext.log()

Deno.test("TaskContext.log() emits output events and its tail goes into every failure record but SUCCESS's", async (t) => {
  for (
    const [result, where] of [
      [Task.SUCCESS, "archive"],
      [Task.RETRY, "inbox"],
      [Task.INVALID, "error"],
      [Task.FAILURE, "inbox"],
    ] as const
  ) {
    await t.step(`after ${["SUCCESS", "FAILURE", "RETRY", "INVALID"][result]}`, async () => {
      await using root = await tempRoot();
      const dirs = await setUp(root.path);
      const events: RunEvent[] = [];
      await runOnce(root.path, {
        name: NAME,
        eventType: EVENT_TYPE,
        handler: {
          maxAttempts: () => 1,
          handleTask(context) {
            for (let i = 1; i <= 50; i++) context.log(`line ${i}`);
            return result;
          },
        },
        durable: false,
        onEvent: (event) => events.push(event),
      });
      const output = events.filter((event) => event.type === "output");
      equal(output.length, 50);
      deepEqual(output[0], { type: "output", listener: `${EVENT_TYPE}/${NAME}`, sequence: 1, line: "line 1" });
      const task = readTask(dirs[where], 1);
      const records = failuresOf(task);
      if (result === Task.SUCCESS) return equal(records.length, 0);
      const tail = records.at(-1)!.output ?? "";
      ok(tail.endsWith("line 49\nline 50"), tail);
      ok(!tail.includes("line 1\n"), "only the tail is kept");
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Defect 5: a failed move after the handler ran

/** A store whose moves (and, with `rewrites`, rewrites) fail as a read-only directory would. */
class StuckStore extends FileStore {
  stuck = true;
  constructor(root: string, readonly rewrites: boolean) {
    super(root, { durable: false });
  }
  override move(...args: Parameters<FileStore["move"]>): ReturnType<FileStore["move"]> {
    if (this.stuck) throw new Deno.errors.PermissionDenied("Permission denied (os error 13): rename");
    return super.move(...args);
  }
  override async rewriteTask(...args: Parameters<FileStore["rewriteTask"]>): Promise<void> {
    if (this.stuck && this.rewrites) throw new Deno.errors.PermissionDenied("Permission denied (os error 13): open");
    return await super.rewriteTask(...args);
  }
}

Deno.test("a task whose move fails after its handler ran is not run again; the next pass only retries the move", async (t) => {
  for (const rewrites of [false, true]) {
    await t.step(
      rewrites ? "the task file cannot be rewritten either (kept in memory)" : "recorded in the task file",
      async () => {
        await using root = await tempRoot();
        const dirs = await setUp(root.path);
        const store = new StuckStore(root.path, rewrites);
        const listener = store.register(checkListener(NAME, EVENT_TYPE));
        let calls = 0;
        const pass = orderedPass(store, listener, {
          handleTask: () => {
            calls++;
            return Task.SUCCESS;
          },
        }, passSettings({}));
        const report = emptyReport(listener.dir);
        for (let attempt = 1; attempt <= 3; attempt++) {
          await rejects(pass.run(report), (error: Error) => {
            ok(error instanceof TaskMoveError, error.stack);
            equal(error.sequence, 1);
            equal(error.result, "SUCCESS");
            equal(error.to, Layout.ARCHIVE);
            match(
              error.message,
              /task 1 .*was handled \(SUCCESS\) but could not be moved to archive\/: .*Permission denied/,
            );
            match(error.message, /it will not run again/);
            return true;
          });
        }
        equal(calls, 1, "the handler ran once");
        const task = readTask(dirs.inbox, 1);
        if (!rewrites) {
          // Recorded once, by the attempt that ran the handler: the passes that only retried the move add nothing.
          deepEqual(failuresOf(task).map((record) => [record.result, record.fate]), [["SUCCESS", "archive"]]);
          // A new runner (another process, after a restart) reads the decision from the file.
          store.stuck = false;
          const fresh = await runOnce(root.path, {
            name: NAME,
            eventType: EVENT_TYPE,
            handler: () => {
              calls++;
              return Task.SUCCESS;
            },
            durable: false,
          });
          deepEqual([fresh.handled, fresh.archived], [0, 1]);
        } else {
          equal(task.failures, undefined, "nothing could be written");
          store.stuck = false;
          await pass.run(report);
        }
        equal(calls, 1, "still once");
        deepEqual(sequencesIn(dirs.archive), [1]);
        deepEqual(namesIn(dirs.inbox), []);
      },
    );
  }
});

Deno.test("a kept settlement is dropped when someone else changed the task file meanwhile", async () => {
  await using root = await tempRoot();
  const dirs = await setUp(root.path);
  const store = new StuckStore(root.path, true);
  const listener = store.register(checkListener(NAME, EVENT_TYPE));
  let calls = 0;
  const pass = orderedPass(store, listener, {
    handleTask: () => {
      calls++;
      return Task.SUCCESS;
    },
  }, passSettings({}));
  const report = emptyReport(listener.dir);
  await rejects(pass.run(report), TaskMoveError);
  // An operator (or another process) rewrites the task meanwhile, as a requeue does.
  const path = join(dirs.inbox, "1.json");
  const task = readTask(dirs.inbox, 1);
  const changed = {
    ...task,
    failures: [{ result: "REQUEUED", message: "put back", time: new Date().toISOString(), attempt: 1 }],
  };
  await Deno.writeTextFile(path, JSON.stringify(changed));
  store.stuck = false;
  await pass.run(report);
  equal(calls, 2, "the decision was made again, on the file as it is now");
  deepEqual(sequencesIn(dirs.archive), [1]);
});

// ---------------------------------------------------------------------------------------------------------------
// Defect 10: a corrupt file is not waited for forever

Deno.test("TaskRunner.handle() quarantines a corrupt file it has waited for longer than the grace period, whatever its mtime says", async () => {
  await using root = await tempRoot();
  const store = new FileStore(root.path, { durable: false });
  const listener = store.register(checkListener("keeper", ""));
  const graceMs = 300;
  const settings = passSettings({ incompleteGraceMs: graceMs, durable: false });
  const runner = new TaskRunner(
    new OrderedFileQueue(store, listener, fileQueueOptions(settings)),
    listener,
    { handleTask: () => Task.SUCCESS },
    settings,
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

/** How a test's ordered file queue is opened. */
function fileQueueOptions(settings: PassSettings): OpenOptions {
  const { maxTaskSize, archive, worker, now } = settings;
  return { maxTaskSize, archive, worker, now, wait: {} };
}

/** Ordered passes over a listener, as `runOnce` and `watch` make them. */
function orderedPass(store: FileStore, listener: ListenerRef, handler: HandlerLike, settings: PassSettings) {
  const queue = new OrderedFileQueue(store, listener, fileQueueOptions(settings));
  const loop = new ListenerLoop(queue, new TaskRunner(queue, listener, handler, settings), 1);
  return { run: (report: RunReport) => loop.pass(report) };
}

/**
 * The worker on the memory backend (tests/_memory_backend.ts): the listener
 * loop and the task runner, with no disk and a fake clock. What the file
 * backend adds (names, moves, leases) is tested beside it, in
 * tests/integration/ and the other tests of tests/worker/. These run with no
 * permission at all (`deno test tests/worker/loop_test.ts`): no disk.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { MemoryQueue } from "../_memory_backend.ts";
import { Task, type TaskResult } from "../../src/protocol/transition.ts";
import type { FailureRecord } from "../../src/protocol/task_file.ts";
import { type HandlerLike, type TaskContext, toHandler } from "../../src/worker/handler.ts";
import { emptyReport, type RunEvent } from "../../src/worker/report.ts";
import { ListenerLoop } from "../../src/worker/_loop.ts";
import { passSettings, type SettingsInput } from "../../src/worker/_settings.ts";
import { TaskRunner } from "../../src/worker/_task_runner.ts";

const START = Date.parse("2026-12-01T00:00:00.000Z");

/** A listener on the memory backend, its handler recording the sequences it ran for. */
function memoryListener(
  handle: (context: TaskContext) => TaskResult | Promise<TaskResult>,
  options: { maxAttempts?: number; concurrency?: number; worker?: string; settings?: SettingsInput } = {},
) {
  let time = START;
  const now = () => new Date(time);
  const queue = new MemoryQueue({ worker: options.worker, now });
  const events: RunEvent[] = [];
  const calls: number[] = [];
  const handler: HandlerLike = {
    maxAttempts: () => options.maxAttempts ?? 0,
    handleTask: (context) => {
      calls.push(context.sequence);
      return handle(context);
    },
  };
  const settings = passSettings({ now, onEvent: (event) => events.push(event), ...options.settings });
  const runner = new TaskRunner(
    queue,
    { name: "mailer", eventType: "user/signup", id: "user/signup/mailer" },
    toHandler(handler),
    settings,
  );
  const loop = new ListenerLoop(queue, runner, options.concurrency ?? 1);
  const report = emptyReport("memory");
  return { queue, events, calls, report, pass: () => loop.pass(report), advance: (ms: number) => void (time += ms) };
}

const failuresOf = (queue: MemoryQueue, sequence: number) => (queue.record(sequence).failures ?? []) as FailureRecord[];

Deno.test("ListenerLoop.pass() on the memory backend: each ending's fate, and the retry budget over two passes", async () => {
  const codes: Record<string, () => TaskResult> = {
    success: () => Task.SUCCESS,
    invalid: () => Task.INVALID,
    retry: () => Task.RETRY,
    throws: () => {
      throw new Error("down");
    },
    bad: () => 7 as TaskResult,
  };
  const listener = memoryListener((context) => codes[context.payload as string](), { maxAttempts: 1 });
  listener.queue.deliver("success", "invalid", "retry", "throws", "bad");
  await listener.pass();
  const { queue, report } = listener;
  deepEqual([report.handled, report.archived, report.errored, report.retried], [5, 1, 2, 2]);
  deepEqual([queue.in("archive"), queue.in("error"), queue.in("inbox")], [[1], [2, 5], [3, 4]]);
  equal(queue.record(3).retry_count, 1);
  deepEqual(failuresOf(queue, 3), [], "a silent RETRY leaves no record");
  deepEqual(failuresOf(queue, 4).map((failure) => [failure.result, failure.message]), [["ERROR", "Error: down"]]);
  await listener.pass();
  deepEqual([queue.in("archive"), queue.in("error"), queue.in("inbox")], [[1], [2, 3, 4, 5], []]);
  deepEqual(failuresOf(queue, 3).map((failure) => [failure.result, failure.fate]), [["RETRY", "error"]]);
  equal(queue.record(4).retry_count, 2);
  deepEqual(listener.calls, [1, 2, 3, 4, 5, 3, 4]);
});

Deno.test("ListenerLoop.pass() in ordered mode runs tasks in sequence order and stops at FAILURE, which stays first", async () => {
  let failing = true;
  const listener = memoryListener((context) => context.sequence === 3 && failing ? Task.FAILURE : Task.SUCCESS);
  listener.queue.deliver("a", "b", "c", "d", "e");
  const findings = await listener.pass();
  equal(findings.failedAt, 3);
  deepEqual(listener.calls, [1, 2, 3]);
  deepEqual(listener.queue.in("inbox"), [3, 4, 5]);
  deepEqual(failuresOf(listener.queue, 3).map((failure) => failure.result), ["FAILURE"]);
  failing = false;
  deepEqual(await listener.pass(), {}, "the next pass starts at the same task");
  deepEqual(listener.calls, [1, 2, 3, 3, 4, 5]);
  deepEqual(listener.queue.in("archive"), [1, 2, 3, 4, 5]);
});

Deno.test("ListenerLoop.pass() waits out a retry's delay on the fake clock", async () => {
  let attempts = 0;
  const listener = memoryListener(() => ++attempts === 1 ? Task.RETRY : Task.SUCCESS, {
    maxAttempts: 3,
    settings: { retryDelay: (attempt) => attempt * 1000 },
  });
  listener.queue.deliver("x");
  equal((await listener.pass()).nextDueAt, START + 1000);
  equal(listener.queue.record(1).not_before, new Date(START + 1000).toISOString());
  const retryEvent = listener.events.find((event) => event.type === "task");
  equal(retryEvent?.type === "task" && retryEvent.retryInMs, 1000);
  listener.advance(999);
  equal((await listener.pass()).nextDueAt, START + 1000, "not due yet: not run");
  equal(attempts, 1);
  listener.advance(1);
  deepEqual(await listener.pass(), {});
  equal(attempts, 2);
  deepEqual(listener.queue.in("archive"), [1]);
});

Deno.test("ListenerLoop.pass() leaves a task that runs past the shutdown grace period untouched", async () => {
  const controller = new AbortController();
  let release!: () => void;
  const running = new Promise<TaskResult>((resolve) => release = () => resolve(Task.SUCCESS));
  const listener = memoryListener(() => {
    controller.abort();
    return running; // ignores its signal
  }, { settings: { signal: controller.signal, graceMs: 0 } });
  listener.queue.deliver("a", "b");
  await listener.pass();
  release();
  const { queue, report, events } = listener;
  equal(report.aborted, true);
  equal(report.handled, 0);
  deepEqual(queue.in("inbox"), [1, 2]);
  deepEqual(queue.record(1).failures, undefined, "untouched");
  deepEqual(listener.calls, [1], "no task is taken after the stop");
  const aborted = events.find((event) => event.type === "task");
  deepEqual(aborted?.type === "task" && [aborted.result, aborted.fate], ["ABORTED", "stop"]);
});

Deno.test("ListenerLoop.pass() in parallel mode takes back a gone worker's claim, counting the loss, and handles it", async () => {
  const listener = memoryListener(() => Task.SUCCESS, { concurrency: 2, worker: "w-2" });
  const { queue, report } = listener;
  queue.deliver("a", "b", "c");
  Object.assign(queue.tasks.get(2)!, { place: "claimed", owner: "w-1" });
  queue.gone.add("w-1");
  await listener.pass();
  equal(report.recovered, 1);
  deepEqual(queue.in("archive"), [1, 2, 3]);
  equal(queue.record(2).lost_count, 1);
  equal(queue.record(2).retry_count, undefined, "a loss is not a retry");
  deepEqual(failuresOf(queue, 2).map((failure) => [failure.result, failure.message]), [["LOST", "worker w-1 is gone"]]);
});

Deno.test("ListenerLoop.pass() in parallel mode discards the result of a task another worker took over meanwhile", async () => {
  const listener = memoryListener((context) => {
    if (context.sequence === 1) Object.assign(listener.queue.tasks.get(1)!, { owner: "w-9" }); // taken over
    return Task.SUCCESS;
  }, { concurrency: 3, worker: "w-2" });
  const { queue, report, events } = listener;
  queue.deliver("a", "b");
  await listener.pass();
  deepEqual([report.handled, report.archived, report.lost], [2, 1, 1]);
  deepEqual(queue.in("archive"), [2]);
  deepEqual(queue.in("claimed"), [1], "still the other worker's");
  ok(events.some((event) => event.type === "lost" && event.sequence === 1));
});

Deno.test("ListenerLoop.pass() in parallel mode runs up to concurrency tasks at once, each once per pass", async () => {
  let running = 0;
  let most = 0;
  const listener = memoryListener(async (context) => {
    most = Math.max(most, ++running);
    await Promise.resolve();
    running--;
    return context.sequence === 2 ? Task.RETRY : Task.SUCCESS;
  }, { concurrency: 3, worker: "w-1", maxAttempts: 5 });
  listener.queue.deliver(...Array.from({ length: 10 }, (_, i) => i));
  await listener.pass();
  equal(most, 3);
  deepEqual(listener.queue.in("archive"), [1, 3, 4, 5, 6, 7, 8, 9, 10]);
  deepEqual(listener.queue.in("inbox"), [2], "a RETRY waits for the next pass");
  equal(listener.calls.length, 10);
});

import { deepEqual, equal } from "node:assert/strict";
import { stoppedOnFailure, summarizePending } from "../../src/protocol/listener_status.ts";
import type { FailureRecord, TaskRecord } from "../../src/protocol/task_file.ts";

const NOW = Date.parse("2026-11-29T12:00:00Z");

function task(sequence: number, extra: Partial<TaskRecord> = {}): { sequence: number; task: TaskRecord } {
  return {
    sequence,
    task: { payload: null, sequence, count: sequence, delivery: "2026-11-29T11:00:00+00:00", ...extra },
  };
}

function record(result: string, attempt: number, fate?: "error"): FailureRecord {
  return { result, message: "m", time: "2026-11-29T11:30:00.000Z", attempt, ...(fate ? { fate } : {}) };
}

Deno.test("stoppedOnFailure() is true only while FAILURE is the last word on the task", () => {
  const cases: [string, Partial<TaskRecord>, boolean][] = [
    ["no history", {}, false],
    ["FAILURE on the first attempt", { failures: [record("FAILURE", 1)] }, true],
    ["FAILURE after two retries", { retry_count: 2, failures: [record("FAILURE", 3)] }, true],
    ["a RETRY came after the FAILURE", { retry_count: 1, failures: [record("FAILURE", 1)] }, false],
    ["a TIMEOUT came after the FAILURE", { failures: [record("FAILURE", 1), record("TIMEOUT", 1)] }, false],
    ["decided for error/", { failures: [record("FAILURE", 1, "error")] }, false],
    ["requeued", { failures: [record("FAILURE", 1), record("REQUEUED", 1)] }, false],
  ];
  for (const [label, extra, expected] of cases) equal(stoppedOnFailure(task(1, extra).task), expected, label);
});

Deno.test("summarizePending() derives the state, the retries and the next due time", () => {
  const soon = new Date(NOW + 60_000).toISOString();
  const later = new Date(NOW + 120_000).toISOString();
  const past = new Date(NOW - 60_000).toISOString();
  const cases: [string, { sequence: number; task: TaskRecord | undefined }[], object][] = [
    ["empty", [], { state: "ok", failingAt: null, retrying: 0, waiting: 0, nextDueAt: null }],
    ["plain tasks", [task(1), task(2)], { state: "ok", failingAt: null, retrying: 0, waiting: 0, nextDueAt: null }],
    [
      "a retry due later, one due already",
      [task(1, { retry_count: 1, not_before: later }), task(2, { retry_count: 2, not_before: past }), task(3)],
      { state: "retrying", failingAt: null, retrying: 2, waiting: 1, nextDueAt: later },
    ],
    [
      "stopped on FAILURE behind a waiting retry",
      [
        task(4, { retry_count: 1, not_before: later }),
        task(5, { retry_count: 1, not_before: soon }),
        task(6, { failures: [record("FAILURE", 1)] }),
        task(7),
      ],
      { state: "failing", failingAt: 6, retrying: 2, waiting: 2, nextDueAt: soon },
    ],
    [
      "an unreadable task is passed over",
      [{ sequence: 1, task: undefined }, task(2)],
      { state: "ok", failingAt: null, retrying: 0, waiting: 0, nextDueAt: null },
    ],
  ];
  for (const [label, tasks, expected] of cases) deepEqual(summarizePending(tasks, NOW), expected, label);
});

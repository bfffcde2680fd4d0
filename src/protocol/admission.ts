/**
 * What a worker does with a task before its handler runs: run it, only
 * complete a fate an earlier attempt recorded, leave it until it is due, or
 * (for a file that does not parse) wait for its writer or quarantine it. Part
 * of the task state machine of `transition.ts`, which re-exports it.
 *
 * @module
 */
import { formatAge } from "./_age.ts";
import type { TaskRecord } from "./task_file.ts";

/** What a worker does with a task before its handler runs; see {@linkcode admit}. */
export type Admission =
  /** Run the handler. */
  | { kind: "run" }
  /** An earlier attempt decided this fate (recorded as its last failure record's `fate`): only move it. */
  | { kind: "complete"; fate: "archive" | "error"; result: string }
  /** Not due before `dueAt` (epoch ms, its `not_before`): leave it untouched. */
  | { kind: "later"; dueAt: number };

/**
 * Decides whether a task is run now: not when an earlier attempt's fate is
 * recorded in it (the move that carries it out failed), nor before its
 * `not_before`.
 *
 * @param task The task as read.
 * @param now The time.
 * @returns What to do with it.
 *
 * @example A task not due yet
 * ```ts
 * import { admit } from "./admission.ts";
 * import { deepEqual } from "node:assert/strict";
 * const task = { payload: 1, sequence: 1, count: 1, delivery: "", not_before: "2030-01-01T00:00:00.000Z" };
 * deepEqual(admit(task, new Date("2029-01-01")), { kind: "later", dueAt: Date.parse("2030-01-01") });
 * ```
 */
export function admit(task: TaskRecord, now: Date): Admission {
  const last = task.failures?.at(-1);
  if (last?.fate === "error" || last?.fate === "archive") {
    return { kind: "complete", fate: last.fate, result: last.result };
  }
  const dueAt = typeof task.not_before === "string" ? Date.parse(task.not_before) : NaN;
  if (dueAt > now.getTime()) return { kind: "later", dueAt };
  return { kind: "run" };
}

/**
 * Decides what to do with a task file that does not parse: wait for it (a
 * writer may still be busy: it is young by its mtime, and not found corrupt
 * for longer than the grace period), or quarantine it. A file from the
 * future is not waited for.
 *
 * @param ageMs The file's age by its mtime (negative: from the future).
 * @param corruptForMs How long this worker has found it corrupt, by its own clock.
 * @param graceMs The grace period (`incompleteGraceMs`).
 * @returns `wait`, or `quarantine` with a note to add to the reason ("" when none).
 *
 * @example A young file is waited for
 * ```ts
 * import { judgeIncomplete } from "./admission.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(judgeIncomplete(5, 5, 10_000), { kind: "wait" });
 * ```
 */
export function judgeIncomplete(
  ageMs: number,
  corruptForMs: number,
  graceMs: number,
): { kind: "wait" } | { kind: "quarantine"; note: string } {
  if (Math.abs(ageMs) < graceMs && corruptForMs < graceMs) return { kind: "wait" };
  return {
    kind: "quarantine",
    note: ageMs <= -graceMs ? `; its mtime is ${formatAge(-ageMs)} ahead of this host's clock` : "",
  };
}

/**
 * A slow handler module for the shutdown tests: appends `start <sequence>`
 * to the file named by `HURAH_TEST_LOG`, sleeps `HURAH_TEST_DELAY_MS`
 * without looking at its signal, appends `end <sequence>` and returns
 * SUCCESS. A test sees from the log whether a task was running, and whether
 * it ran to its end.
 *
 * @module
 */
import { Task, type TaskContext, type TaskResult } from "../../../mod.ts";

/** Marks the start, sleeps (ignoring the signal), marks the end, succeeds. */
export default async function slowMarker(context: TaskContext): Promise<TaskResult> {
  const log = Deno.env.get("HURAH_TEST_LOG");
  if (!log) throw new Error("set HURAH_TEST_LOG to the log file's path");
  const delayMs = Number(Deno.env.get("HURAH_TEST_DELAY_MS") ?? 0);
  await Deno.writeTextFile(log, `start ${context.sequence}\n`, { append: true });
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  await Deno.writeTextFile(log, `end ${context.sequence}\n`, { append: true });
  return Task.SUCCESS;
}

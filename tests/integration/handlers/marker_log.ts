/**
 * A handler module for the parallel-mode tests: appends
 * `start <sequence> <pid>` to the file named by `HURAH_TEST_LOG`, sleeps
 * `HURAH_TEST_DELAY_MS` plus a random `0..HURAH_TEST_JITTER_MS` without
 * looking at its signal, appends `end <sequence> <pid>` and returns SUCCESS.
 *
 * Each line is one write(2) on a file opened with O_APPEND, so lines of many
 * processes never mix, and a line is in the file once the write returned,
 * even if the process is SIGKILLed right after. A test sees from the log which
 * process ran a task, and whether its handler ran to its end.
 *
 * @module
 */
import { Task, type TaskContext, type TaskResult } from "../../../mod.ts";

function mark(log: string, line: string): void {
  const bytes = new TextEncoder().encode(line);
  const file = Deno.openSync(log, { append: true, create: true });
  try {
    const written = file.writeSync(bytes);
    if (written !== bytes.length) throw new Error(`short write to ${log}: ${written} of ${bytes.length} bytes`);
  } finally {
    file.close();
  }
}

/** Marks the start, sleeps (ignoring the signal), marks the end, succeeds. */
export default async function markerLog(context: TaskContext): Promise<TaskResult> {
  const log = Deno.env.get("HURAH_TEST_LOG");
  if (!log) throw new Error("set HURAH_TEST_LOG to the log file's path");
  const delayMs = Number(Deno.env.get("HURAH_TEST_DELAY_MS") ?? 0) +
    Math.random() * Number(Deno.env.get("HURAH_TEST_JITTER_MS") ?? 0);
  mark(log, `start ${context.sequence} ${Deno.pid}\n`);
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  mark(log, `end ${context.sequence} ${Deno.pid}\n`);
  return Task.SUCCESS;
}

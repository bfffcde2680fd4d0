/**
 * A handler module for the ordering-key tests: appends `start <sequence>
 * <ordering_key> <pid> <ms>` when it starts and `end ...` when it ends to
 * the file named by `HURAH_TEST_LOG` (append mode, one write per line), with
 * the time in epoch milliseconds (fractions included), and returns SUCCESS.
 * `HURAH_TEST_DELAY_MS` makes it sleep up to that long (varying by task) in
 * between.
 *
 * @module
 */
import { Task, type TaskContext, type TaskResult } from "../../../mod.ts";

function append(log: string, line: string): void {
  const file = Deno.openSync(log, { append: true, create: true });
  try {
    const bytes = new TextEncoder().encode(line);
    if (file.writeSync(bytes) !== bytes.length) throw new Error(`short write to ${log}`);
  } finally {
    file.close();
  }
}

/** Logs the task's start and end around a short sleep, then reports success. */
export default async function orderingLog(context: TaskContext): Promise<TaskResult> {
  const log = Deno.env.get("HURAH_TEST_LOG");
  if (!log) throw new Error("set HURAH_TEST_LOG to the log file's path");
  const key = context.record.ordering_key ?? "-";
  const line = (what: string) =>
    `${what} ${context.sequence} ${key} ${Deno.pid} ${(performance.timeOrigin + performance.now()).toFixed(3)}\n`;
  append(log, line("start"));
  const delayMs = Number(Deno.env.get("HURAH_TEST_DELAY_MS") ?? 0);
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, (context.sequence * 7919) % (delayMs + 1)));
  append(log, line("end"));
  return Task.SUCCESS;
}

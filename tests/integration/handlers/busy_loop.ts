/**
 * A handler module for the liveness tests: appends `start <sequence> <pid>`
 * to the file named by `HURAH_TEST_LOG`, then keeps its thread busy for
 * `HURAH_TEST_BUSY_MS` without ever yielding (`while (Date.now() < end) {}`),
 * so no timer or I/O callback of its event loop runs meanwhile, appends
 * `end <sequence> <pid>` and returns SUCCESS. The lines are those of
 * `marker_log.ts`.
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

/** Marks the start, busy-loops, marks the end, succeeds. */
export default function busyLoop(context: TaskContext): TaskResult {
  const log = Deno.env.get("HURAH_TEST_LOG");
  if (!log) throw new Error("set HURAH_TEST_LOG to the log file's path");
  const end = Date.now() + Number(Deno.env.get("HURAH_TEST_BUSY_MS") ?? 0);
  mark(log, `start ${context.sequence} ${Deno.pid}\n`);
  while (Date.now() < end) {
    // busy: the event loop of this thread is blocked
  }
  mark(log, `end ${context.sequence} ${Deno.pid}\n`);
  return Task.SUCCESS;
}

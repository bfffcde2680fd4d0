/**
 * A handler module for the delayed-dispatch tests: appends one JSON line per
 * task to the file named by `HURAH_TEST_LOG`, `{"at": <entry time, epoch
 * ms>, "pid": ..., "payload": ...}` (append mode, one write per line, so
 * lines from several processes never mix), and returns SUCCESS.
 *
 * @module
 */
import { Task, type TaskContext, type TaskResult } from "../../../mod.ts";

/** Logs when it was entered and the task's payload, then reports success. */
export default async function payloadLog(context: TaskContext): Promise<TaskResult> {
  const at = Date.now();
  const log = Deno.env.get("HURAH_TEST_LOG");
  if (!log) throw new Error("set HURAH_TEST_LOG to the log file's path");
  const line = new TextEncoder().encode(JSON.stringify({ at, pid: Deno.pid, payload: context.payload }) + "\n");
  const file = await Deno.open(log, { append: true, create: true });
  try {
    const written = await file.write(line);
    if (written !== line.length) throw new Error(`short write to ${log}: ${written} of ${line.length} bytes`);
  } finally {
    file.close();
  }
  return Task.SUCCESS;
}

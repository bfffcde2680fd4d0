/**
 * A handler module for `hurah run` in the multi-process tests: appends
 * `<sequence>\n` to the file named by `HURAH_TEST_LOG` (opened in append
 * mode, one write per line, so lines from several processes never mix) and
 * returns SUCCESS. `HURAH_TEST_DELAY_MS` makes it sleep that long first, to
 * make a slow-ish handler.
 *
 * @module
 */
import { Task, type TaskContext, type TaskResult } from "../../../mod.ts";

/** Logs the task's sequence number, then reports success. */
export default async function appendLog(context: TaskContext): Promise<TaskResult> {
  const log = Deno.env.get("HURAH_TEST_LOG");
  if (!log) throw new Error("set HURAH_TEST_LOG to the log file's path");
  const delayMs = Number(Deno.env.get("HURAH_TEST_DELAY_MS") ?? 0);
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  const file = await Deno.open(log, { append: true, create: true });
  try {
    const line = new TextEncoder().encode(`${context.sequence}\n`);
    const written = await file.write(line);
    if (written !== line.length) throw new Error(`short write to ${log}: ${written} of ${line.length} bytes`);
  } finally {
    file.close();
  }
  return Task.SUCCESS;
}

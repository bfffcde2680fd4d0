/**
 * A handler module for the watch tests: appends `<listener> <sequence>\n` to
 * the file named by `HURAH_TEST_LOG` (one append-mode write per line) and
 * returns SUCCESS, so one log shows the order of several listeners.
 *
 * @module
 */
import { Task, type TaskContext, type TaskResult } from "../../../mod.ts";

/** Logs the listener and the sequence number, then reports success. */
export default async function listenerLog(context: TaskContext): Promise<TaskResult> {
  const log = Deno.env.get("HURAH_TEST_LOG");
  if (!log) throw new Error("set HURAH_TEST_LOG to the log file's path");
  await Deno.writeTextFile(log, `${context.listener} ${context.sequence}\n`, { append: true });
  return Task.SUCCESS;
}

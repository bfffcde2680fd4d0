/**
 * A handler module for the retry test: returns RETRY on a task's first
 * attempt and SUCCESS on the next, with `retryDelay()` returning
 * `HURAH_TEST_RETRY_MS` and `maxAttempts()` 3. Each attempt appends one JSON
 * line to the file named by `HURAH_TEST_LOG`:
 * `{"sequence", "retryCount", "at" (epoch ms), "notBefore" (the task file's
 * not_before as read for this attempt, or null)}`.
 *
 * @module
 */
import { Handler, Task, type TaskContext, type TaskResult } from "../../../mod.ts";

/** RETRY once, then SUCCESS. */
export default class RetryOnce extends Handler {
  override maxAttempts(): number {
    return 3;
  }

  retryDelay(_attempt: number): number {
    return Number(Deno.env.get("HURAH_TEST_RETRY_MS") ?? 300);
  }

  async handleTask(context: TaskContext): Promise<TaskResult> {
    const log = Deno.env.get("HURAH_TEST_LOG");
    if (!log) throw new Error("set HURAH_TEST_LOG to the log file's path");
    const line = {
      sequence: context.sequence,
      retryCount: context.retryCount,
      at: Date.now(),
      notBefore: context.record.not_before ?? null,
    };
    await Deno.writeTextFile(log, JSON.stringify(line) + "\n", { append: true });
    return context.retryCount === 0 ? Task.RETRY : Task.SUCCESS;
  }
}

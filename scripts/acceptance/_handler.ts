/**
 * The module handler of the acceptance runs (`hurah watch <name> <type> scripts/acceptance/_handler.ts`):
 * appends one line per run to the file in `HURAH_ACCEPT_OUT`, `<id> <retry_count> <lost_count> <result>`,
 * after `HURAH_ACCEPT_MS` (default 20) milliseconds. A payload `{ id, retry: true }` always returns RETRY
 * (2 retries allowed, no delay): it ends in error after exactly 3 runs.
 */
import { Handler, Task, type TaskContext, type TaskResult } from "../../mod.ts";

const OUT = Deno.env.get("HURAH_ACCEPT_OUT")!;
const MS = Number(Deno.env.get("HURAH_ACCEPT_MS") ?? "20");

export default class AcceptanceHandler extends Handler {
  override maxAttempts(): number {
    return 2;
  }

  retryDelay(): number {
    return 0;
  }

  async handleTask(context: TaskContext): Promise<TaskResult> {
    const payload = context.payload as { id: number; retry?: boolean };
    await new Promise((resolve) => setTimeout(resolve, MS));
    const result = payload.retry ? "RETRY" : "SUCCESS";
    const line = `${payload.id} ${context.record.retry_count ?? 0} ${context.record.lost_count ?? 0} ${result}\n`;
    await Deno.writeTextFile(OUT, line, { append: true });
    return payload.retry ? Task.RETRY : Task.SUCCESS;
  }
}

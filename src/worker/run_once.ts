import type { RunReport } from "./report.ts";
import { fileQueue, OrderedFileQueue } from "../backend/file/listener_queue.ts";
import { FileStore } from "../backend/file/file_store.ts";
import { prune } from "../backend/file/prune.ts";
import { checkListener } from "../protocol/listener_id.ts";
import { toHandler } from "./handler.ts";
import { emptyReport } from "./report.ts";
import { DEFAULTS, resolveSettings, TMP_MAX_AGE_MS } from "./_settings.ts";
import { ListenerLoop } from "./_loop.ts";
import { TaskRunner } from "./_task_runner.ts";
import type { RunOptions } from "./options.ts";

export type { ArchivePolicy, RunEvent, RunReport } from "./report.ts";
export type { RunOptions } from "./options.ts";

/**
 * Works one listener's inbox once, as PHP's `worker:runner` does: registers
 * the listener, then runs the handler for every pending task in sequence
 * order, and returns when the inbox holds nothing left to try in this pass.
 *
 * Only one runner works a listener at a time: a second one waits for the
 * first to finish, then makes its own pass, so a task that arrives while the
 * first is finishing is handled by the second. That wait says on stderr
 * after a second who it waits for (`onLockWait`), and ends at
 * `lockTimeoutMs` or when `signal` aborts.
 *
 * Requires `--allow-read` and `--allow-write` on the event root.
 *
 * @param root The event root; created if missing.
 * @param options The listener, the handler and how to run it.
 * @returns What the pass did; `failedAt` is set when a task returned FAILURE.
 * @throws {InvalidNameError} When the name or event type is invalid.
 * @throws {UnsafePathError} When a link or file stands where a listener
 * directory should be.
 * @throws {TaskMoveError} When a task's handler ran but the task could not be
 * moved on (its fate is kept: the next pass only retries the move).
 * @throws {LockTimeoutError} When another runner still holds the run lock
 * after `lockTimeoutMs`; nothing was handled.
 * @throws The reason of `signal`, when it aborts while waiting for the run
 * lock; nothing was handled.
 *
 * @example One pass over a listener
 * ```ts ignore
 * import { runOnce, Task } from "jsr:@hurah/events";
 * const report = await runOnce("/var/lib/hurah", {
 *   name: "image_scaler",
 *   eventType: "product/created",
 *   handler: (context) => {
 *     console.log(context.payload);
 *     return Task.SUCCESS;
 *   },
 * });
 * console.log(`${report.archived} archived`);
 * ```
 */
export async function runOnce(root: string, options: RunOptions): Promise<RunReport> {
  const checked = checkListener(options.name, options.eventType);
  const handler = toHandler(options.handler);
  const settings = resolveSettings(options, { retryDelay: () => 0, reapIntervalMs: DEFAULTS.rescanIntervalMs });
  const store = new FileStore(root, { durable: options.durable ?? true });
  const listener = store.register(checked);
  const report = emptyReport(listener.dir);
  const { pass, parallel, concurrency } = settings;
  const queue = fileQueue(
    store,
    listener,
    { maxTaskSize: pass.maxTaskSize, archive: pass.archive },
    parallel && {
      ...parallel,
      worker: pass.worker,
      now: pass.now,
    },
  );
  const runner = new TaskRunner(queue, listener, handler, pass);
  // Ordered runners take the run lock exclusively, parallel workers shared: the two never work a listener at once.
  const wait = { signal: options.signal, timeoutMs: options.lockTimeoutMs, onWait: options.onLockWait };
  const lock = await store.lockRunner(listener, parallel !== undefined, wait);
  try {
    store.sweepTmp(listener, TMP_MAX_AGE_MS);
    if (queue instanceof OrderedFileQueue) {
      await queue.recoverOrphans(pass.worker, (task, why) => runner.recover(report, task, why));
    } else await queue.open(); // its first take takes back dead workers' claims
    await using _ = queue;
    Object.assign(report, await new ListenerLoop(queue, runner, concurrency).pass(report));
  } finally {
    lock.close();
  }
  if (settings.keepArchiveMs !== undefined && report.archived > 0) {
    await prune(store.root, {
      olderThanMs: settings.keepArchiveMs,
      listeners: [listener.id],
      now: pass.now,
    });
  }
  return report;
}

import { connect } from "../backend/connect.ts";
import type { Backend } from "../backend/port.ts";
import { checkListener } from "../protocol/listener_id.ts";
import { toHandler } from "./handler.ts";
import { emptyReport, pauseEvent, registered, type RunReport } from "./report.ts";
import { DEFAULTS, openOptions, resolveSettings } from "./_settings.ts";
import { ListenerLoop } from "./_loop.ts";
import { TaskRunner } from "./_task_runner.ts";
import type { RunOptions } from "./options.ts";

export type { ArchivePolicy, RunEvent, RunReport } from "./report.ts";
export type { RunOptions } from "./options.ts";

/**
 * Works one listener's inbox once, as PHP's `worker:runner` does: registers
 * the listener, then runs the handler for every pending task in sequence
 * order, and returns when the inbox holds nothing left to try in this pass.
 * Delayed events that are due (`DispatchOptions.delay`) are delivered
 * first, whatever their type.
 *
 * Only one runner works a listener at a time: a second one waits for the
 * first to finish, then makes its own pass, so a task that arrives while the
 * first is finishing is handled by the second. That wait says on stderr
 * after a second who it waits for (`onLockWait`), and ends at
 * `lockTimeoutMs` or when `signal` aborts.
 *
 * A listener paused by an operator (`pause()`, `hurah pause`) is not
 * worked: the pass takes no task (or none after the one it was handling
 * when the pause came), and the report's `paused` says who paused it.
 *
 * Requires `--allow-read` and `--allow-write` on the event root.
 *
 * @param root The event root; created if missing. Or a backend in its place
 * (`NatsBackend` of `@hurah/events/nats`).
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
export async function runOnce(root: string | Backend, options: RunOptions): Promise<RunReport> {
  const backend = typeof root === "string" ? connect({ root }, { durable: options.durable ?? true }) : root;
  const listener = checkListener(options.name, options.eventType);
  const handler = toHandler(options.handler);
  const settings = resolveSettings(options, { retryDelay: () => 0, reapIntervalMs: DEFAULTS.rescanIntervalMs });
  const registration = await backend.register(listener);
  if (registration.created) settings.pass.onEvent(registered(listener, registration));
  const wait = { signal: options.signal, timeoutMs: options.lockTimeoutMs, onWait: options.onLockWait };
  // Delayed events due now are delivered first (of any type: the run is their deliverer too).
  // Waits as for the run lock while another process delivers (a watcher: milliseconds); --no-wait does not.
  const due = await backend.deliverDue(settings.pass.now(), { ...wait, timeoutMs: wait.timeoutMs ?? Infinity });
  if (due.events > 0) settings.pass.onEvent({ type: "delayed", events: due.events, deliveries: due.deliveries });
  await using queue = await backend.open(listener, openOptions(settings, wait));
  const runner = new TaskRunner(queue, listener, handler, settings.pass);
  const report = emptyReport(listener.id);
  {
    // Ordered runners hold the listener exclusively, parallel workers shared: the two never work it at once.
    using _ = await queue.hold();
    await queue.upkeep({ recover: (task, why) => runner.recover(report, task, why) });
    Object.assign(report, await new ListenerLoop(queue, runner, settings.concurrency).pass(report));
  }
  if (report.paused !== undefined) settings.pass.onEvent(pauseEvent("pause", listener.id, report.paused));
  if (settings.keepArchiveMs !== undefined && report.archived > 0) await queue.expire(settings.keepArchiveMs);
  return report;
}

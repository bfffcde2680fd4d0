/**
 * hurah: file-based event and task delegation. A program dispatches events
 * into an event root directory; handlers in other processes pick the tasks up
 * (`hurah run` from cron, or your own loop) and each task's result decides its
 * fate. The on-disk layout is the PHP library hurah/events' own, both ways.
 *
 * Requires `--allow-read` and `--allow-write` on the event root.
 *
 * @example Dispatch an event and handle it
 * ```ts ignore
 * import { Dispatcher, Handler, runOnce, Task, type TaskContext, type TaskResult } from "jsr:@hurah/events";
 *
 * const root = await Deno.makeTempDir({ prefix: "hurah_" });
 *
 * class ImageScaler extends Handler {
 *   handleTask(context: TaskContext): TaskResult {
 *     console.log("scaling images of", context.payload);
 *     return Task.SUCCESS;
 *   }
 * }
 *
 * // Register the listener once (a pass on an empty inbox does it).
 * await runOnce(root, { name: "image_scaler", eventType: "product/created", handler: new ImageScaler() });
 *
 * const deliveries = await new Dispatcher(root).dispatch("product/created", { product_id: 123 });
 * console.log(deliveries.map((d) => `${d.listener} #${d.sequence}`));
 *
 * const report = await runOnce(root, { name: "image_scaler", eventType: "product/created", handler: new ImageScaler() });
 * console.log(`${report.archived} archived`);
 * ```
 *
 * @module
 */

export { Dispatcher } from "./src/dispatcher.ts";
export type { Delivery, DispatcherOptions, DispatchEvent, DispatchOptions } from "./src/dispatcher.ts";
export { runOnce } from "./src/worker/run_once.ts";
export type { ArchivePolicy, RunEvent, RunOptions, RunReport } from "./src/worker/run_once.ts";
export { Handler, toHandler } from "./src/worker/handler.ts";
export type { HandlerFunction, HandlerLike, TaskContext } from "./src/worker/handler.ts";
export { loadHandler } from "./src/worker/load_handler.ts";
export { watch } from "./src/worker/watch.ts";
export type { Watcher, WatchListener, WatchOptions, WatchReport } from "./src/worker/watch.ts";
export { execHandler } from "./src/worker/exec_handler.ts";
export type { ExecHandlerOptions } from "./src/worker/exec_handler.ts";
export { backoff } from "./src/protocol/backoff.ts";
export type { BackoffOptions } from "./src/protocol/backoff.ts";
export { decideFate, Task } from "./src/protocol/transition.ts";
export type { Fate, TaskResult } from "./src/protocol/transition.ts";
export { checkHandlerName, listenerPath, parseEventType } from "./src/protocol/names.ts";
export { encodePayload, encodePhpJson } from "./src/protocol/php_json.ts";
export { decodeTask, encodeTask, formatDelivery, sequenceOf } from "./src/protocol/task_file.ts";
export type { FailureRecord, TaskRecord } from "./src/protocol/task_file.ts";
export { Layout } from "./src/protocol/layout.ts";
export { listenerId, parseListenerId } from "./src/protocol/listener_id.ts";
export type { Listener, ListenerName } from "./src/protocol/listener_id.ts";
export type {
  BrokerListenerStatus,
  InFlightTask,
  LeaseState,
  ListenerState,
  ListenerStatus,
  StatusReport,
} from "./src/protocol/listener_status.ts";
export { checkThresholds } from "./src/protocol/thresholds.ts";
export type { StatusThresholds, ThresholdName, Violation } from "./src/protocol/thresholds.ts";
export type { ListenerRef } from "./src/backend/file/file_store.ts";
export type { LockWait } from "./src/backend/wait.ts";
export { findListener, listListeners } from "./src/backend/file/listeners.ts";
export { status } from "./src/backend/file/status.ts";
export type { StatusOptions } from "./src/backend/file/status.ts";
export { inspectTask } from "./src/backend/file/inspect.ts";
export type { FoundTask, InspectOptions, TaskInspection, TaskLocation } from "./src/backend/file/inspect.ts";
export { requeue } from "./src/backend/file/requeue.ts";
export type { RequeueOptions, RequeueRefusal, RequeueReport } from "./src/backend/file/requeue.ts";
export { prune } from "./src/backend/file/prune.ts";
export type { ListenerPrune, PruneOptions, PruneReport } from "./src/backend/file/prune.ts";
export { listTasks } from "./src/backend/file/task_list.ts";
export type { ListedLocation, ListedTask, TaskList, TaskListOptions } from "./src/backend/file/task_list.ts";
export {
  CorruptFileError,
  DeliveryError,
  ExecHandlerError,
  HandlerLoadError,
  InvalidNameError,
  ListenerNotFoundError,
  LockTimeoutError,
  NotSupportedError,
  PayloadError,
  SequenceLimitError,
  TaskMoveError,
  UnsafePathError,
} from "./src/errors.ts";
// The backend port: what `Dispatcher`, `runOnce()` and `watch()` take in place of an event root (`NatsBackend` of
// `@hurah/events/nats` implements it). Exported for backends; it may still change before 1.0 (docs/architecture.md).
export type {
  ArchiveMode,
  Backend,
  ListenerQueue,
  OpenOptions,
  PublishEvent,
  Registration,
  Take,
  TakeHooks,
  TakenTask,
  TaskQueue,
  TaskRead,
  WaitOptions,
  Wakeups,
} from "./src/backend/port.ts";
export type { Operations } from "./src/backend/operations.ts";
export type { Destination } from "./src/protocol/transition.ts";

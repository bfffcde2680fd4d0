import { connect } from "../backend/connect.ts";
import type { Backend, ListenerQueue } from "../backend/port.ts";
import { backoff } from "../protocol/backoff.ts";
import { checkListener, type Listener } from "../protocol/listener_id.ts";
import { toHandler } from "./handler.ts";
import { registered, type RunReport } from "./report.ts";
import { ListenerLoop } from "./_loop.ts";
import { ListenerWorker } from "./_listener_worker.ts";
import { DEFAULTS, type ListenerSettings, openOptions, resolveSettings } from "./_settings.ts";
import { TaskRunner } from "./_task_runner.ts";
import { deliverDelayed } from "./_delayed.ts";
import type { WatchOptions } from "./options.ts";

export type { WatchListener, WatchOptions } from "./options.ts";

/** What a watcher did, per listener, by listener id (`<event_type>/<name>`, or `<name>` for the root type). */
export type WatchReport = Record<string, RunReport>;

/** A running watcher. `await using` it, or call `close()`. */
export interface Watcher extends AsyncDisposable {
  /**
   * Resolves once every listener is registered and watched, and its backlog pass has started;
   * rejects as `done` does when the watcher fails before that (a listener cannot be registered).
   */
  readonly ready: Promise<void>;
  /** Resolves when the watcher has stopped (after the signal or `close()`), or rejects on a fatal error. */
  readonly done: Promise<WatchReport>;
  /** Stops taking tasks, lets running ones finish within the grace period, and resolves when stopped. */
  close(): Promise<WatchReport>;
}

/**
 * Works listeners as tasks arrive: registers each, handles its backlog, then
 * handles new tasks as `Deno.watchFs` reports them. Because file events can be
 * lost (a slow consumer gets one `rescan` event instead, and a watcher can
 * fail), every inbox is listed again on `rescan`, after a watcher error, and
 * every `rescanIntervalMs`. RETRY waits `retryDelay` (stored in the task as
 * `not_before`, so a restart honours it); FAILURE pauses the listener and
 * tries the same task again after `failureDelay`. A pass that stops on an
 * unexpected error (the file system refused a move...) pauses that listener
 * only, for `failureDelay` too, and is reported as a `fault` event. A task
 * whose handler ran but whose move failed (a `TaskMoveError` fault) is not run
 * again: the passes after the pause only retry its move.
 *
 * Every watcher also delivers the root's delayed events (`DispatchOptions.delay`,
 * any event type) within about a second of their time, each exactly once
 * however many watchers share the root.
 *
 * A listener is worked in order, one task at a time, under its run lock
 * (taken per pass, so a `hurah run` of the same listener takes turns); with
 * its `concurrency` above 1, in parallel mode: that many tasks at once, each
 * claimed for this worker, beside other parallel workers (see
 * `RunOptions.concurrency`).
 *
 * Requires `--allow-read` and `--allow-write` on the event root.
 *
 * @param root The event root; created if missing. Or a backend in its place
 * (`NatsBackend` of `@hurah/events/nats`).
 * @param options The listeners and how to work them.
 * @returns The running watcher; its report names each listener by its id.
 * @throws {InvalidNameError} When a listener's name or event type is invalid.
 * @throws {RangeError} When a listener is listed twice (same name and event
 * type), or a setting is out of range.
 *
 * @example Watching a listener until a signal
 * ```ts ignore
 * import { Task, watch } from "jsr:@hurah/events";
 * const controller = new AbortController();
 * Deno.addSignalListener("SIGTERM", () => controller.abort());
 * const watcher = watch("/var/lib/hurah", {
 *   signal: controller.signal,
 *   listeners: [{ name: "image_scaler", eventType: "product/created", handler: () => Task.SUCCESS }],
 * });
 * await watcher.done;
 * ```
 */
export function watch(root: string | Backend, options: WatchOptions): Watcher {
  const backend = typeof root === "string" ? connect({ root }, { durable: options.durable ?? true }) : root;
  const stop = new AbortController();
  const defaults = {
    retryDelay: options.retryDelay ?? ((attempt: number) => backoff(attempt)),
    reapIntervalMs: options.rescanIntervalMs ?? DEFAULTS.rescanIntervalMs,
  };
  const listeners = checkListeners(options.listeners);
  const settings = options.listeners.map((listener) => {
    const { timeoutMs, concurrency, maxLost = options.maxLost } = listener;
    return resolveSettings({ ...options, signal: stop.signal, timeoutMs, concurrency, maxLost }, defaults);
  });
  const onOuterAbort = () => stop.abort(options.signal?.reason);
  if (options.signal?.aborted) stop.abort(options.signal.reason);
  else options.signal?.addEventListener("abort", onOuterAbort, { once: true });

  let markReady!: () => void;
  let failReady!: (error: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => {}); // observed through `ready` or `done`; not an unhandled rejection meanwhile
  const done = run(backend, options, listeners, settings, stop, markReady).finally(() => {
    options.signal?.removeEventListener("abort", onOuterAbort);
  });
  // A failure before `ready` rejects it too, or whoever awaits it (as `hurah watch`) would wait forever.
  done.catch(failReady);
  const close = async () => {
    stop.abort(new Error("watcher closed"));
    return await done;
  };
  return { ready, done, close, [Symbol.asyncDispose]: async () => void await close() };
}

/** Checks each listener's name and event type, and that none is listed twice; in the order given. */
function checkListeners(specs: WatchOptions["listeners"]): Listener[] {
  const seen = new Map<string, number>();
  return specs.map((spec, index) => {
    const listener = checkListener(spec.name, spec.eventType);
    const first = seen.get(listener.id);
    if (first !== undefined) {
      throw new RangeError(
        `listeners[${index}] is listener ${JSON.stringify(listener.id)} again (as listeners[${first}]); ` +
          "a listener may be watched once",
      );
    }
    seen.set(listener.id, index);
    return listener;
  });
}

async function run(
  backend: Backend,
  options: WatchOptions,
  listeners: readonly Listener[],
  settings: ListenerSettings[],
  controller: AbortController,
  markReady: () => void,
): Promise<WatchReport> {
  const stop = controller.signal;
  const onEvent = options.onEvent ?? (() => {});
  const now = options.now ?? (() => new Date());
  const loopSettings = {
    rescanIntervalMs: options.rescanIntervalMs ?? DEFAULTS.rescanIntervalMs,
    failureDelay: options.failureDelay ?? ((failures: number) => backoff(failures, { capMs: 60_000 })),
    onEvent,
    now,
  };
  for (const listener of listeners) {
    const registration = await backend.register(listener);
    if (registration.created) onEvent(registered(listener, registration));
  }
  // Every queue is opened before the watcher is ready: a parallel one takes its lease then (and starts its renewal
  // thread, tens of milliseconds), so that the first task is not kept waiting for that.
  const queues: ListenerQueue[] = [];
  try {
    for (const [index, listener] of listeners.entries()) {
      const wait = { signal: stop, onWait: options.onLockWait };
      queues.push(await backend.open(listener, openOptions(settings[index], wait)));
    }
  } catch (error) {
    for (const queue of queues) await queue[Symbol.asyncDispose]();
    throw error;
  }
  const workers = listeners.map((listener, index) => {
    const { pass, concurrency, keepArchiveMs } = settings[index];
    const handler = toHandler(options.listeners[index].handler);
    const loop = new ListenerLoop(queues[index], new TaskRunner(queues[index], listener, handler, pass), concurrency);
    return new ListenerWorker(listener, loop, { ...loopSettings, keepArchiveMs });
  });
  const byId = new Map(workers.map((worker) => [worker.listener.id, worker]));
  const watching = backend.watch(listeners, stop, (id) => byId.get(id)?.wakeup.notify(), (reason) => {
    for (const worker of workers) {
      onEvent({ type: "rescan", listener: worker.listener.id, reason });
      worker.wakeup.notify();
    }
  });
  // A loop that fails stops the others (their running tasks get the grace period), and the watcher fails.
  const loops = workers.map((worker) =>
    worker.run(stop).catch((error) => {
      controller.abort(error);
      throw error;
    })
  );
  // Delayed events of the root, as they come due (every watcher does; each event is delivered once).
  const delayed = deliverDelayed(backend, stop, now, onEvent);
  markReady();
  try {
    const failed = (await Promise.allSettled(loops)).find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
  } finally {
    if (!stop.aborted) controller.abort(new Error("watcher stopped"));
    await delayed;
    await watching.close();
  }
  return Object.fromEntries(workers.map((worker) => [worker.listener.id, { ...worker.report, ...worker.findings }]));
}

import { dirname, join } from "node:path";
import { fileQueue, OrderedFileQueue, ParallelFileQueue } from "../backend/file/listener_queue.ts";
import type { TaskSpot } from "../backend/file/task_queue.ts";
import { toError } from "../errors.ts";
import { backoff } from "../protocol/backoff.ts";
import { Layout } from "../protocol/layout.ts";
import { checkHandlerName, parseEventType } from "../protocol/names.ts";
import { FileStore, type ListenerRef } from "../store/file_store.ts";
import type { LockWait } from "../store/_fs.ts";
import { type HandlerFunction, type HandlerLike, toHandler } from "./handler.ts";
import { type ArchivePolicy, emptyReport, type PassFindings, type RunEvent, type RunReport } from "./report.ts";
import { prune } from "../store/prune.ts";
import { listenerId } from "../protocol/listener_id.ts";
import { ListenerLoop } from "./_loop.ts";
import { DEFAULTS, type ListenerSettings, resolveSettings, TMP_MAX_AGE_MS } from "./_settings.ts";
import { TaskRunner } from "./_task_runner.ts";
import { Wakeup } from "./_wakeup.ts";

/** One listener a watcher works. */
export interface WatchListener {
  /** The handler name. */
  name: string;
  /** The event type it listens to; `""` for the root. */
  eventType: string;
  /** The handler. */
  handler: HandlerLike | HandlerFunction;
  /**
   * Per-task time limit in milliseconds; 0 for none. See `RunOptions.timeoutMs`.
   * @default {0}
   */
  timeoutMs?: number;
  /**
   * Tasks handled at once; more than 1 is parallel mode. See `RunOptions.concurrency`.
   * @default {1}
   */
  concurrency?: number;
  /**
   * Lost attempts a task may have before it goes to `error/`. See `RunOptions.maxLost`.
   * @default {WatchOptions.maxLost}
   */
  maxLost?: number;
}

/** Options of {@linkcode watch}. */
export interface WatchOptions {
  /** The listeners to work, each in its own loop. */
  listeners: WatchListener[];
  /**
   * Stops the watcher: no new task is taken, running ones get `graceMs`.
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * How long a running task may go on after the stop, before its signal
   * aborts; it then stays in the inbox untouched.
   * @default {10000}
   */
  graceMs?: number;
  /**
   * Every inbox is listed again at this interval even without file events,
   * so no task waits longer than this if every event is lost.
   * @default {10000}
   */
  rescanIntervalMs?: number;
  /**
   * Delay before retry `attempt` for handlers without `retryDelay()`.
   * @default {(attempt) => backoff(attempt)} (1 s doubling to 5 min, with jitter)
   */
  retryDelay?: (attempt: number) => number;
  /**
   * How long a listener pauses after its `failures`-th FAILURE in a row,
   * before trying the same task again; also after its `failures`-th pass in
   * a row that stopped on an unexpected error (a `fault` event), while the
   * other listeners go on.
   * @default {(failures) => backoff(failures, { capMs: 60000 })}
   */
  failureDelay?: (failures: number) => number;
  /**
   * Receives every task event, pause, fault and rescan.
   * @default {undefined}
   */
  onEvent?: (event: RunEvent) => void;
  /**
   * Called once per wait for a listener's run lock that lasts a second
   * (another runner holds it), with the lock file and the holder's pid when
   * known. The wait itself ends when the watcher stops.
   * @default {one line on stderr}
   */
  onLockWait?: (wait: LockWait) => void;
  /**
   * Flush rewritten task files to disk.
   * @default {true}
   */
  durable?: boolean;
  /**
   * See `RunOptions.incompleteGraceMs`.
   * @default {10000}
   */
  incompleteGraceMs?: number;
  /**
   * The largest task file the runner reads; larger ones are quarantined
   * unread. See `RunOptions.maxTaskSize`.
   * @default {16777216} (16 MiB)
   */
  maxTaskSize?: number;
  /**
   * The clock, for tests.
   * @default {() => new Date()}
   */
  now?: () => Date;
  /**
   * What SUCCESS does with a task: keep it in `archive/`, delete it, or
   * `{ keepMs }`: keep it, and delete archived tasks older than that once an
   * hour. See `RunOptions.archive`.
   * @default {"keep"}
   */
  archive?: ArchivePolicy;
  /**
   * Parallel mode: this host's id. See `RunOptions.hostId`.
   * @default {the hostname (with --allow-sys=hostname), else "localhost"}
   */
  hostId?: string;
  /**
   * Parallel mode: the lease length. See `RunOptions.leaseMs`.
   * @default {30000}
   */
  leaseMs?: number;
  /**
   * Lost attempts a task may have before it goes to `error/`, for listeners
   * that do not set their own. See `RunOptions.maxLost`.
   * @default {3}
   */
  maxLost?: number;
}

/** What a watcher did, per listener (by handler name). */
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

const WATCHER_RESTART_MS = 1000;
/** How soon a listener looks again at a half-written file. */
const INCOMPLETE_RECHECK_MS = 250;
/** How often a watcher clears old staging files and applies the archive retention. */
const HOUSEKEEPING_MS = 60 * 60 * 1000;

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
 * Each listener is worked in order, one task at a time, under its run lock
 * (taken per pass, so a `hurah run` of the same listener takes turns).
 *
 * Requires `--allow-read` and `--allow-write` on the event root.
 *
 * @param root The event root; created if missing.
 * @param options The listeners and how to work them.
 * @returns The running watcher.
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
export function watch(root: string, options: WatchOptions): Watcher {
  const stop = new AbortController();
  const defaults = {
    retryDelay: options.retryDelay ?? ((attempt: number) => backoff(attempt)),
    reapIntervalMs: options.rescanIntervalMs ?? DEFAULTS.rescanIntervalMs,
  };
  const settings = options.listeners.map((listener) => {
    checkHandlerName(listener.name);
    parseEventType(listener.eventType);
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
  const done = run(root, options, settings, stop, markReady).finally(() => {
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

async function run(
  root: string,
  options: WatchOptions,
  settings: ListenerSettings[],
  controller: AbortController,
  markReady: () => void,
): Promise<WatchReport> {
  const stop = controller.signal;
  const store = new FileStore(root, { durable: options.durable ?? true });
  const onEvent = options.onEvent ?? (() => {});
  const now = options.now ?? (() => new Date());
  const workers: ListenerWorker[] = [];
  for (const [index, spec] of options.listeners.entries()) {
    const listener = await store.register(spec.name, spec.eventType);
    const { pass, parallel, concurrency, keepArchiveMs } = settings[index];
    const queueOptions = { maxTaskSize: pass.maxTaskSize, archive: pass.archive };
    const queue = fileQueue(store, listener, queueOptions, parallel && { ...parallel, worker: pass.worker, now });
    const loop = new ListenerLoop(queue, new TaskRunner(queue, listener, toHandler(spec.handler), pass), concurrency);
    workers.push(
      new ListenerWorker(store, listener, loop, {
        rescanIntervalMs: options.rescanIntervalMs ?? DEFAULTS.rescanIntervalMs,
        failureDelay: options.failureDelay ?? ((failures) => backoff(failures, { capMs: 60_000 })),
        onEvent,
        now,
        keepArchiveMs,
        onLockWait: options.onLockWait,
      }),
    );
  }
  // Parallel workers take their leases (each starts its renewal thread, tens of milliseconds) before the watcher
  // is ready, so that the first task is not kept waiting for that.
  const opened: ParallelFileQueue[] = [];
  try {
    for (const { loop: { queue } } of workers) {
      if (queue instanceof ParallelFileQueue) opened.push(await queue.open());
    }
  } catch (error) {
    for (const queue of opened) await queue[Symbol.asyncDispose]();
    throw error;
  }
  const byInbox = new Map(workers.map((worker) => [join(worker.listener.dir, Layout.INBOX), worker]));
  const watching = watchInboxes([...byInbox.keys()], stop, (paths) => {
    for (const path of paths) byInbox.get(dirname(path))?.wakeup.notify();
  }, (reason) => {
    for (const worker of workers) {
      onEvent({ type: "rescan", listener: worker.listener.name, reason });
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
  markReady();
  try {
    const failed = (await Promise.allSettled(loops)).find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
  } finally {
    await watching.close();
  }
  return Object.fromEntries(workers.map((worker) => [worker.listener.name, { ...worker.report, ...worker.findings }]));
}

interface LoopSettings {
  /** Delete archived tasks older than this, hourly. */
  keepArchiveMs: number | undefined;
  rescanIntervalMs: number;
  failureDelay: (failures: number) => number;
  onEvent: (event: RunEvent) => void;
  onLockWait: ((wait: LockWait) => void) | undefined;
  now: () => Date;
}

/** One listener's loop: a pass whenever woken, paused after FAILURE. */
class ListenerWorker {
  readonly wakeup = new Wakeup(true);
  readonly report: RunReport;
  /** What the last pass found. */
  findings: PassFindings = {};
  #maintainedAt = -Infinity;
  #housekeptAt = -Infinity;

  constructor(
    readonly store: FileStore,
    readonly listener: ListenerRef,
    readonly loop: ListenerLoop<TaskSpot>,
    readonly settings: LoopSettings,
  ) {
    this.report = emptyReport(listener.dir);
  }

  async run(stop: AbortSignal): Promise<void> {
    const { queue } = this.loop;
    if (!(queue instanceof ParallelFileQueue)) return await this.#loop(stop);
    // Opened (its lease taken) before the loops start. Parallel workers share the run lock for as long as they
    // run: ordered runners wait.
    await using _ = queue;
    const lock = await this.#lock(stop, true);
    if (lock === undefined) return;
    try {
      await this.#loop(stop);
    } finally {
      lock.close();
    }
  }

  async #loop(stop: AbortSignal): Promise<void> {
    let failures = 0;
    let faults = 0;
    while (!stop.aborted) {
      this.wakeup.clear();
      try {
        if (!await this.#pass(stop)) return;
      } catch (thrown) {
        // An unexpected error (a file system that refuses a rename, a directory
        // replaced by a file...) pauses this listener only; the others go on.
        if (stop.aborted) throw thrown;
        const error = toError(thrown);
        const retryInMs = this.settings.failureDelay(++faults);
        this.settings.onEvent({
          type: "fault",
          listener: this.listener.name,
          message: error.stack ?? `${error.name}: ${error.message}`,
          retryInMs,
        });
        await sleep(retryInMs, stop);
        continue;
      }
      faults = 0;
      if (this.report.aborted || stop.aborted) return;
      const { failedAt, waitingFor, nextDueAt } = this.findings;
      if (failedAt !== undefined) {
        const retryInMs = this.settings.failureDelay(++failures);
        this.settings.onEvent({
          type: "paused",
          listener: this.listener.name,
          sequence: failedAt,
          retryInMs,
        });
        await sleep(retryInMs, stop);
        continue;
      }
      failures = 0;
      let timeout = this.settings.rescanIntervalMs;
      if (waitingFor !== undefined) timeout = Math.min(timeout, INCOMPLETE_RECHECK_MS);
      if (nextDueAt !== undefined) timeout = Math.min(timeout, Math.max(0, nextDueAt - this.settings.now().getTime()));
      await this.wakeup.wait(timeout, stop);
    }
  }

  /** Upkeep when due, then one pass; false when stopped while waiting for the run lock. */
  async #pass(stop: AbortSignal): Promise<boolean> {
    const { queue, runner } = this.loop;
    const now = this.settings.now().getTime();
    if (now - this.#maintainedAt >= this.settings.rescanIntervalMs) {
      // Every rescan interval, take back the claims of parallel workers that are gone (a parallel pass does
      // this itself, even in the middle of a backlog).
      this.#maintainedAt = now;
      if (queue instanceof OrderedFileQueue) {
        const recover = (task: TaskSpot, why: string) => runner.recover(this.report, task, why);
        await this.#withLock(stop, () => queue.recoverOrphans(runner.settings.worker, recover));
      }
    }
    if (now - this.#housekeptAt >= HOUSEKEEPING_MS) {
      this.#housekeptAt = now;
      this.store.sweepTmp(this.listener, TMP_MAX_AGE_MS);
      if (this.settings.keepArchiveMs !== undefined) {
        await prune(this.store.root, {
          olderThanMs: this.settings.keepArchiveMs,
          listeners: [listenerId(this.listener.name, this.listener.eventType)],
          now: this.settings.now,
        });
      }
    }
    const pass = async () => void (this.findings = await this.loop.pass(this.report));
    if (queue instanceof ParallelFileQueue) {
      await pass();
      return true;
    }
    return await this.#withLock(stop, pass);
  }

  /** Runs `task` under the exclusive run lock; false when stopped while waiting for it. */
  async #withLock(stop: AbortSignal, task: () => Promise<unknown>): Promise<boolean> {
    const lock = await this.#lock(stop, false);
    if (lock === undefined) return false;
    try {
      await task();
    } finally {
      lock.close();
    }
    return true;
  }

  /**
   * Takes the run lock, waiting (and saying so on stderr after a second) while
   * another runner holds it; `undefined` when stopped meanwhile.
   */
  async #lock(stop: AbortSignal, shared: boolean): Promise<Deno.FsFile | undefined> {
    try {
      return await this.store.lockRunner(this.listener, shared, { signal: stop, onWait: this.settings.onLockWait });
    } catch (error) {
      if (stop.aborted && error === stop.reason) return undefined;
      throw error;
    }
  }
}

function sleep(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (stop.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      stop.removeEventListener("abort", done);
      resolve();
    }
    stop.addEventListener("abort", done, { once: true });
  });
}

/**
 * Watches the inbox directories until `stop`, calling `onPaths` with the paths
 * of each event and `onLost` when events may have been lost. A failed watcher
 * is restarted after a second.
 */
function watchInboxes(
  dirs: string[],
  stop: AbortSignal,
  onPaths: (paths: string[]) => void,
  onLost: (reason: string) => void,
): { close(): Promise<void> } {
  let current: Deno.FsWatcher | undefined;
  const closeCurrent = () => {
    try {
      current?.close();
    } catch {
      // already closed
    }
  };
  stop.addEventListener("abort", closeCurrent, { once: true });
  const running = (async () => {
    while (!stop.aborted) {
      try {
        current = Deno.watchFs(dirs, { recursive: false });
        for await (const event of current) {
          if (event.flag === "rescan") onLost("overflow");
          else if (event.kind !== "remove" && event.kind !== "access") onPaths(event.paths);
        }
      } catch (error) {
        if (stop.aborted) break;
        onLost(`watcher error: ${toError(error).message}`);
      }
      if (!stop.aborted) await sleep(WATCHER_RESTART_MS, stop);
    }
  })();
  return {
    async close() {
      closeCurrent();
      stop.removeEventListener("abort", closeCurrent);
      await running;
    },
  };
}

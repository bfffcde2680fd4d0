import { CorruptFileError, toError } from "../errors.ts";
import { decideFate, type Fate, resultName, type TaskResult } from "../protocol/fate.ts";
import { Layout } from "../protocol/layout.ts";
import { checkHandlerName, parseEventType } from "../protocol/names.ts";
import { decodeTask, encodeTask, type TaskRecord, withFailure } from "../protocol/task_file.ts";
import { isNotFound } from "../store/_fs.ts";
import { FileStore, type ListenerRef } from "../store/file_store.ts";
import { type HandlerFunction, type HandlerLike, maxAttemptsOf, type TaskContext, toHandler } from "./handler.ts";
import { workerId } from "./_worker_id.ts";

/** Something that happened during a pass, for logs. */
export type RunEvent =
  | {
    /** A handler ran for a task (or a task's earlier fate was completed). */
    type: "task";
    /** The handler name. */
    listener: string;
    /** The task's sequence number. */
    sequence: number;
    /** `SUCCESS`, `FAILURE`, `RETRY`, `INVALID` or `ERROR`. */
    result: string;
    /** What happened to the task. */
    fate: Fate["fate"];
    /** How long the handler ran, in milliseconds. */
    durationMs: number;
    /** Why, for anything but SUCCESS. */
    message?: string;
  }
  | {
    /** A file that is not a task was moved to `error/`. */
    type: "quarantine";
    /** The handler name. */
    listener: string;
    /** The file's name in the inbox. */
    file: string;
    /** Why it was quarantined. */
    reason: string;
  }
  | {
    /** The pass stopped at a file that looks half-written; it is tried again later. */
    type: "waiting";
    /** The handler name. */
    listener: string;
    /** The file's name in the inbox. */
    file: string;
    /** What is wrong with it. */
    reason: string;
  };

/** Options of {@linkcode runOnce}. */
export interface RunOptions {
  /** The handler name; its directory is `<name>_listener`. */
  name: string;
  /** The event type it listens to; `""` for the root. */
  eventType: string;
  /** The handler: a `Handler`, an object with `handleTask`, or a function. */
  handler: HandlerLike | HandlerFunction;
  /**
   * Stops the pass before the next task, and is passed on to the handler.
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Called for every task handled and every file quarantined.
   * @default {undefined}
   */
  onEvent?: (event: RunEvent) => void;
  /**
   * Flush rewritten task files to disk before they replace the old ones.
   * @default {true}
   */
  durable?: boolean;
  /**
   * An unparsable inbox file younger than this is taken for one still being
   * written (the PHP dispatcher writes in place): the pass stops there and
   * it is tried again later. Older ones are quarantined.
   * @default {10000}
   */
  incompleteGraceMs?: number;
  /**
   * The clock, for tests.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

/** What one pass did. */
export interface RunReport {
  /** The listener's directory. */
  listenerDir: string;
  /** How many times the handler ran. */
  handled: number;
  /** Tasks moved to `archive/`. */
  archived: number;
  /** Tasks moved to `error/` (INVALID, retries used up, thrown, bad return). */
  errored: number;
  /** Tasks left in the inbox for a later retry. */
  retried: number;
  /** Files that were not valid tasks, moved to `error/` with a reason. */
  quarantined: number;
  /** The sequence number of the task that returned FAILURE and stopped the pass. */
  failedAt?: number;
  /** The file the pass stopped at because it looked half-written. */
  waitingFor?: string;
  /** Whether the signal stopped the pass early. */
  aborted: boolean;
}

const TMP_MAX_AGE_MS = 60 * 60 * 1000;

/**
 * Works one listener's inbox once, as PHP's `worker:runner` does: registers
 * the listener, then runs the handler for every pending task in sequence
 * order, and returns when the inbox holds nothing left to try in this pass.
 *
 * Only one runner works a listener at a time: a second one waits for the
 * first to finish, then makes its own pass, so a task that arrives while the
 * first is finishing is handled by the second.
 *
 * Requires `--allow-read` and `--allow-write` on the event root.
 *
 * @param root The event root; created if missing.
 * @param options The listener, the handler and how to run it.
 * @returns What the pass did; `failedAt` is set when a task returned FAILURE.
 * @throws {InvalidNameError} When the name or event type is invalid.
 * @throws {UnsafePathError} When a link or file stands where a listener
 * directory should be.
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
  checkHandlerName(options.name);
  parseEventType(options.eventType);
  const handler = toHandler(options.handler);
  const store = new FileStore(root, { durable: options.durable ?? true });
  const listener = await store.register(options.name, options.eventType);
  const pass = new Pass(store, listener, handler, options);
  const lock = await store.lockRunner(listener);
  try {
    await store.sweepTmp(listener, TMP_MAX_AGE_MS, pass.now().getTime());
    return await pass.run();
  } finally {
    lock.close();
  }
}

type Step = "next" | "stop";

class Pass {
  readonly report: RunReport;
  readonly now: () => Date;
  readonly #signal: AbortSignal;
  readonly #maxAttempts: number;
  readonly #worker = workerId();

  constructor(
    readonly store: FileStore,
    readonly listener: ListenerRef,
    readonly handler: HandlerLike,
    readonly options: RunOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.#signal = options.signal ?? new AbortController().signal;
    this.#maxAttempts = maxAttemptsOf(handler);
    this.report = {
      listenerDir: listener.dir,
      handled: 0,
      archived: 0,
      errored: 0,
      retried: 0,
      quarantined: 0,
      aborted: false,
    };
  }

  async run(): Promise<RunReport> {
    const attempted = new Set<string>();
    for (;;) {
      const { tasks, strays } = await this.store.listInbox(this.listener);
      for (const stray of strays) {
        const kind = stray.isSymlink ? "symbolic link" : stray.isDirectory ? "directory" : "file";
        await this.#quarantine(
          stray.name,
          `not a task file: expected a regular file named <sequence>.json, found a ${kind}`,
        );
      }
      const pending = tasks.filter((task) => !attempted.has(task.file));
      if (pending.length === 0) return this.report;
      for (const { sequence, file } of pending) {
        if (this.#signal.aborted) {
          this.report.aborted = true;
          return this.report;
        }
        attempted.add(file);
        if (await this.#process(sequence, file) === "stop") return this.report;
      }
    }
  }

  async #process(sequence: number, file: string): Promise<Step> {
    let text: string;
    let mtime: Date | null;
    try {
      ({ text, mtime } = await this.store.readInbox(this.listener, file));
    } catch (error) {
      if (isNotFound(error)) return "next"; // taken by someone else meanwhile
      if (error instanceof Deno.errors.PermissionDenied) {
        await this.#quarantine(file, `unreadable: ${(error as Error).message}`);
        return "next";
      }
      throw error;
    }
    let task: TaskRecord;
    try {
      task = decodeTask(text, sequence);
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      const age = this.now().getTime() - (mtime?.getTime() ?? 0);
      if (age < (this.options.incompleteGraceMs ?? 10_000)) {
        this.report.waitingFor = file;
        this.options.onEvent?.({ type: "waiting", listener: this.listener.name, file, reason: error.message });
        return "stop";
      }
      await this.#quarantine(file, `corrupt task file: ${error.message}`);
      return "next";
    }
    const last = task.failures?.at(-1);
    if (last?.fate === "error") {
      // An earlier pass decided and recorded this, then stopped before the move.
      await this.store.move(this.listener, file, Layout.ERROR);
      this.report.errored++;
      this.#emit(sequence, last.result, { fate: "error", result: last.result, message: last.message }, 0);
      return "next";
    }
    return await this.#attempt(sequence, file, task);
  }

  async #attempt(sequence: number, file: string, task: TaskRecord): Promise<Step> {
    const retryCount = task.retry_count ?? 0;
    const context: TaskContext = {
      payload: task.payload,
      sequence,
      count: typeof task.count === "number" ? task.count : sequence,
      delivery: String(task.delivery ?? ""),
      retryCount,
      eventType: typeof task.event_type === "string" ? task.event_type : undefined,
      taskId: typeof task.task_id === "string" ? task.task_id : undefined,
      listener: this.listener.name,
      signal: this.#signal,
    };
    const started = performance.now();
    let fate: Fate;
    let thrown: Error | undefined;
    let result: string;
    try {
      const returned = await this.handler.handleTask(context);
      fate = decideFate(returned, retryCount, this.#maxAttempts);
      result = fate.fate === "error" ? fate.result : resultName(returned as TaskResult);
    } catch (error) {
      thrown = toError(error);
      fate = { fate: "error", result: "ERROR", message: `${thrown.name}: ${thrown.message}` };
      result = "ERROR";
    }
    const durationMs = performance.now() - started;
    this.report.handled++;
    switch (fate.fate) {
      case "archive":
        await this.store.move(this.listener, file, Layout.ARCHIVE);
        this.report.archived++;
        break;
      case "retry":
        await this.store.rewriteInbox(this.listener, file, encodeTask({ ...task, retry_count: fate.retryCount }));
        this.report.retried++;
        break;
      case "error": {
        const updated = fate.retryCount === undefined ? task : { ...task, retry_count: fate.retryCount };
        const failed = withFailure(updated, {
          result: fate.result,
          message: fate.message,
          ...(thrown?.stack ? { stack: thrown.stack } : {}),
          time: this.now().toISOString(),
          attempt: retryCount + 1,
          worker: this.#worker,
          fate: "error",
        });
        // Record the decision first: if the move is cut short, the next pass completes it.
        await this.store.rewriteInbox(this.listener, file, encodeTask(failed));
        await this.store.move(this.listener, file, Layout.ERROR);
        this.report.errored++;
        break;
      }
      case "stop": {
        const failed = withFailure(task, {
          result: "FAILURE",
          message: "the handler returned Task.FAILURE; the pass stopped here",
          time: this.now().toISOString(),
          attempt: retryCount + 1,
          worker: this.#worker,
        });
        await this.store.rewriteInbox(this.listener, file, encodeTask(failed));
        this.report.failedAt = sequence;
        break;
      }
    }
    this.#emit(sequence, result, fate, durationMs);
    return fate.fate === "stop" ? "stop" : "next";
  }

  #emit(sequence: number, result: string, fate: Fate, durationMs: number): void {
    this.options.onEvent?.({
      type: "task",
      listener: this.listener.name,
      sequence,
      result,
      fate: fate.fate,
      durationMs,
      ...(fate.fate === "error" ? { message: fate.message } : {}),
      ...(fate.fate === "stop" ? { message: "the handler returned Task.FAILURE" } : {}),
    });
  }

  async #quarantine(file: string, reason: string): Promise<void> {
    await this.store.quarantine(this.listener, file, reason);
    this.report.quarantined++;
    this.options.onEvent?.({ type: "quarantine", listener: this.listener.name, file, reason });
  }
}

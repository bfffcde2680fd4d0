/**
 * The operations of the NATS backend: the listener list and `status` from the
 * consumers' info and the error stream, `inspect` from the streams,
 * `requeue` through the requeue stream (a second consumer per listener),
 * `prune` of error records.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { CorruptFileError, ListenerNotFoundError, NotSupportedError } from "../../errors.ts";
import { decodeTask, encodeTask, requeuedTask, type TaskRecord } from "../../protocol/task_file.ts";
import { HEADER, notThere } from "./_message.ts";
import { listNatsTasks } from "./_task_list.ts";
import { inspectNatsTask } from "./_inspect.ts";
import { type Listener, parseListenerId } from "../../protocol/listener_id.ts";
import type { ListenerStatus, StatusReport } from "../../protocol/listener_status.ts";
import type {
  DiscardOptions,
  DiscardReport,
  InspectOptions,
  ListenerPrune,
  Operations,
  PauseOptions,
  PauseReport,
  PruneOptions,
  PruneReport,
  RequeueOptions,
  RequeueReport,
  ResumeOptions,
  ResumeReport,
  StatusOptions,
  TaskInspection,
  TaskList,
  TaskListOptions,
} from "../operations.ts";
import {
  consumerName,
  ERROR_PREFIX,
  ERROR_STREAM,
  EVENT_STREAM,
  REQUEUE_PREFIX,
  REQUEUE_STREAM,
  taskSubject,
} from "./subjects.ts";

/** Who acts, for failure records: `host:pid`, or `pid:<pid>` when the host name may not be read. */
function processId(): string {
  const granted = Deno.permissions.querySync?.({ name: "sys", kind: "hostname" }).state === "granted";
  return granted ? `${Deno.hostname()}:${Deno.pid}` : `pid:${Deno.pid}`;
}

/** A listener as the backend lists it: with its consumer name. */
export interface RegisteredListener {
  /** The listener. */
  listener: Listener;
  /** Its durable consumer's name. */
  consumer: string;
}

/** Whether an error is JetStream's "not found". */
function notFound(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === 10014 || code === 10059;
}

/**
 * The NATS backend's operations (`NatsBackend.operations`): the listener
 * list, `status`, `inspect`, `requeue` and `prune` (of error records).
 *
 * @example Listing the listeners on a broker
 * ```ts ignore
 * import { NatsBackend } from "jsr:@hurah/events/nats";
 * await using backend = await NatsBackend.connect("nats://127.0.0.1:4222");
 * console.log((await backend.operations.listeners()).map((listener) => listener.id));
 * ```
 */
export class NatsOperations implements Operations {
  readonly #jsm: JetStreamManager;
  readonly #js: JetStreamClient;
  readonly #registered: () => Promise<RegisteredListener[]>;
  readonly #register: (listener: Listener) => Promise<void>;

  /**
   * Creates the operations over a connection.
   *
   * @param jsm The connection's JetStream manager.
   * @param js The connection's JetStream client (a requeue publishes).
   * @param backend Lists the registered listeners, and registers one (its consumers) before a requeue.
   */
  constructor(
    jsm: JetStreamManager,
    js: JetStreamClient,
    backend: {
      registered: () => Promise<RegisteredListener[]>;
      register: (listener: Listener) => Promise<void>;
    },
  ) {
    this.#jsm = jsm;
    this.#js = js;
    this.#registered = backend.registered;
    this.#register = backend.register;
  }

  async listeners(): Promise<Listener[]> {
    return (await this.#registered()).map(({ listener }) => listener);
  }

  async findListener(id: string): Promise<Listener> {
    const listener = parseListenerId(id);
    const consumer = await consumerName(listener.id);
    try {
      await this.#jsm.consumers.info(EVENT_STREAM, consumer);
    } catch (error) {
      if (!notFound(error)) throw error;
      throw new ListenerNotFoundError(id, `${EVENT_STREAM}/${consumer}`, "no such consumer");
    }
    return listener;
  }

  /**
   * Per listener: tasks waiting (not delivered) and in flight (delivered, not
   * settled: `ackPending`, which includes tasks put back with a delay),
   * redelivered, errors (tasks with an error record), last activity, and
   * whether the consumer is missing. `inFlight` lists no tasks (the server
   * does not say which); `archived` is 0 (no archive is kept on NATS).
   */
  async status(options: StatusOptions = {}): Promise<StatusReport> {
    const now = options.now ?? (() => new Date());
    const wanted = options.listeners === undefined
      ? await this.#registered()
      : await Promise.all(options.listeners.map(async (id) => {
        const listener = parseListenerId(id);
        return { listener, consumer: await consumerName(listener.id) };
      }));
    const listeners: ListenerStatus[] = [];
    for (const { listener, consumer } of wanted) listeners.push(await this.#status(listener, consumer));
    listeners.sort((a, b) => a.listener < b.listener ? -1 : a.listener > b.listener ? 1 : 0);
    return { root: EVENT_STREAM, time: now().toISOString(), listeners };
  }

  async #status(listener: Listener, consumer: string): Promise<ListenerStatus> {
    const base: ListenerStatus = {
      listener: listener.id,
      name: listener.name,
      eventType: listener.eventType,
      dir: `${EVENT_STREAM}/${consumer}`,
      state: "ok",
      failingAt: null,
      pending: 0,
      scanned: 0,
      retrying: 0,
      waiting: 0,
      nextDueAt: null,
      oldestPending: null,
      oldestPendingAgeMs: null,
      inFlight: [],
      errors: 0,
      quarantined: 0,
      archived: 0,
      lastDelivery: null,
      lastSequence: null,
    };
    let info;
    try {
      info = await this.#jsm.consumers.info(EVENT_STREAM, consumer);
    } catch (error) {
      if (!notFound(error)) throw error;
      const broker = {
        consumer,
        missing: true,
        waiting: 0,
        ackPending: 0,
        maxAckPending: 0,
        redelivered: 0,
        lastActivity: null,
      };
      return { ...base, broker };
    }
    const errors = await this.#errors(consumer);
    const requeued = await this.#jsm.consumers.info(REQUEUE_STREAM, consumer).catch((error) => {
      if (notFound(error)) return undefined; // registered before requeues were kept
      throw error;
    });
    const waiting = info.num_pending + (requeued?.num_pending ?? 0);
    const ackPending = info.num_ack_pending + (requeued?.num_ack_pending ?? 0);
    const redelivered = info.num_redelivered + (requeued?.num_redelivered ?? 0);
    // The server sends an RFC 3339 time (the client's type says nanoseconds).
    const active: unknown = info.ack_floor?.last_active ?? info.delivered.last_active;
    const lastActive = typeof active === "string" ? new Date(active).toISOString() : null;
    return {
      ...base,
      state: redelivered > 0 ? "retrying" : "ok",
      pending: waiting + ackPending,
      retrying: redelivered,
      errors,
      lastSequence: info.delivered.stream_seq || null,
      broker: {
        consumer,
        missing: false,
        waiting,
        ackPending,
        maxAckPending: info.config.max_ack_pending ?? 0,
        redelivered,
        lastActivity: lastActive,
      },
    };
  }

  /** How many tasks of a consumer have an error record. */
  async #errors(consumer: string): Promise<number> {
    const info = await this.#jsm.streams.info(ERROR_STREAM, { subjects_filter: `${ERROR_PREFIX}.${consumer}.>` });
    return Object.keys(info.state.subjects ?? {}).length;
  }

  /**
   * Finds a task of a listener: its error record (`error`), the message
   * while it waits (`inbox`: not delivered yet, or put back with its retry
   * state), or while it is delivered and not acknowledged (`inflight`; the
   * server does not say by which worker). An acknowledged task is nowhere:
   * no archive is kept.
   */
  async inspect(options: InspectOptions): Promise<TaskInspection> {
    const { sequence } = options;
    if (!Number.isSafeInteger(sequence) || sequence < 1) {
      throw new RangeError(`sequence must be a positive integer, found ${JSON.stringify(sequence)}`);
    }
    const listener = await this.findListener(options.listener);
    return await inspectNatsTask(this.#jsm, listener, sequence);
  }

  /**
   * Puts tasks with an error record back: each record, with a `REQUEUED`
   * failure record appended and `retry_count`, `lost_count` and `not_before`
   * removed (as with files), is published to `HURAH_RQ_1` for this listener
   * alone (its second consumer), then the error record is removed. A
   * quarantined message (not a task) is never put back. Two requeues of one
   * record publish it once (`Nats-Msg-Id`, within the duplicate window).
   */
  async requeue(options: RequeueOptions): Promise<RequeueReport> {
    const sequences = options.sequences ?? [];
    if (options.all && sequences.length > 0) throw new TypeError("give either sequences or all, not both");
    for (const sequence of sequences) {
      if (!Number.isSafeInteger(sequence) || sequence < 1) {
        throw new RangeError(`a sequence number must be a positive integer, found ${JSON.stringify(sequence)}`);
      }
    }
    const listener = await this.findListener(options.listener);
    await this.#register(listener); // its requeue consumer too, for listeners registered before there was one
    const consumer = await consumerName(listener.id);
    const report: RequeueReport = { listener: listener.id, requeued: [], refused: [], skipped: [] };
    let targets = sequences;
    if (options.all) {
      const info = await this.#jsm.streams.info(ERROR_STREAM, { subjects_filter: `${ERROR_PREFIX}.${consumer}.>` });
      targets = Object.keys(info.state.subjects ?? {}).map((subject) => Number(subject.split(".").at(-1)))
        .sort((a, b) => a - b);
    }
    const now = options.now ?? (() => new Date());
    const by = options.by ?? processId();
    for (const sequence of targets) {
      const file = `${sequence}.json`;
      const subject = taskSubject(ERROR_PREFIX, consumer, sequence);
      const stored = await this.#jsm.streams.getMessage(ERROR_STREAM, { last_by_subj: subject }).catch(notThere);
      if (stored === null) {
        report.refused.push({ file, sequence, reason: `no error record of task ${sequence} in ${ERROR_STREAM}` });
        continue;
      }
      const reason = stored.header?.get(HEADER.reason);
      if (reason) {
        const refusal = { file, sequence, reason: `quarantined, not a task: ${reason}` };
        (options.all ? report.skipped : report.refused).push(refusal);
        continue;
      }
      let task: TaskRecord;
      try {
        task = decodeTask(stored.string(), sequence);
      } catch (error) {
        if (!(error instanceof CorruptFileError)) throw error;
        report.refused.push({ file, sequence, reason: `its error record is not a task: ${error.message}` });
        continue;
      }
      const record = requeuedTask(task, { from: `from ${ERROR_STREAM}`, by, worker: processId(), time: now() });
      await this.#js.publish(taskSubject(REQUEUE_PREFIX, consumer, sequence), encodeTask(record), {
        msgID: `requeue:${consumer}:${sequence}:${stored.seq}`,
      });
      await this.#jsm.streams.purge(ERROR_STREAM, { filter: subject, seq: stored.seq + 1 });
      report.requeued.push(sequence);
    }
    return report;
  }

  /**
   * The first tasks of a listener in one state, read from the streams:
   * `inbox` lists the tasks put back with a retry state, the requeued (and
   * migrated) tasks and the events its consumer has not delivered yet;
   * `error` its error records; `archive` nothing (no archive is kept). At
   * most `limit` entries are read, one request each.
   */
  async tasks(options: TaskListOptions): Promise<TaskList> {
    const listener = await this.findListener(options.listener);
    return await listNatsTasks(this.#jsm, listener, await consumerName(listener.id), options);
  }

  /** Not offered yet: the workers would need a shared pause flag to check before each pull (a KV entry). */
  pause(_options: PauseOptions): Promise<PauseReport> {
    return Promise.reject(
      new NotSupportedError("pausing a listener", "the NATS backend (yet)", "stop its workers instead"),
    );
  }

  /** Not offered yet, as `pause`. */
  resume(_options: ResumeOptions): Promise<ResumeReport> {
    return Promise.reject(new NotSupportedError("resuming a listener", "the NATS backend (yet)"));
  }

  /**
   * Not offered yet: a pending message is discarded by fetching it through
   * the listener's consumer, publishing its error record and terminating it,
   * which an ordered consumer (one message pending at a time) only hands to
   * the worker holding it.
   */
  discard(_options: DiscardOptions): Promise<DiscardReport> {
    return Promise.reject(
      new NotSupportedError(
        "discarding a pending task",
        "the NATS backend (yet)",
        "a handler that returns INVALID for it sends it to the errors",
      ),
    );
  }

  /**
   * With `error`, removes the listeners' error records that were written at
   * least `olderThanMs` ago (one subject each in `HURAH_ERR_1`). There is no
   * archive on NATS: `archive` counts 0.
   */
  async prune(options: PruneOptions): Promise<PruneReport> {
    if (!(options.olderThanMs >= 0)) {
      throw new RangeError(`olderThanMs must be a number of milliseconds, at least 0, found ${options.olderThanMs}`);
    }
    const cutoff = (options.now ?? (() => new Date()))().getTime() - options.olderThanMs;
    const dryRun = options.dryRun ?? false;
    const wanted = options.listeners === undefined
      ? await this.#registered()
      : await Promise.all(options.listeners.map(async (id) => {
        const listener = await this.findListener(id);
        return { listener, consumer: await consumerName(listener.id) };
      }));
    const listeners: ListenerPrune[] = [];
    for (const { listener, consumer } of wanted) {
      let error = 0;
      if (options.error) {
        const info = await this.#jsm.streams.info(ERROR_STREAM, { subjects_filter: `${ERROR_PREFIX}.${consumer}.>` });
        for (const subject of Object.keys(info.state.subjects ?? {}).sort()) {
          const record = await this.#jsm.streams.getMessage(ERROR_STREAM, { last_by_subj: subject }).catch(notThere);
          if (record === null || record.time.getTime() > cutoff) continue;
          if (!dryRun) await this.#jsm.streams.purge(ERROR_STREAM, { filter: subject });
          error++;
        }
      }
      listeners.push({ listener: listener.id, archive: 0, error });
    }
    listeners.sort((a, b) => a.listener < b.listener ? -1 : a.listener > b.listener ? 1 : 0);
    return { listeners, removed: listeners.reduce((sum, each) => sum + each.error, 0), dryRun };
  }
}

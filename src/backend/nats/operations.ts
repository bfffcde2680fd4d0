/**
 * The operations of the NATS backend: the listener list and `status` from the
 * consumers' info and the error stream. `inspect`, `requeue` and `prune` are
 * not supported yet: they throw {@linkcode NotSupportedError}.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { ListenerNotFoundError, NotSupportedError } from "../../errors.ts";
import { type Listener, parseListenerId } from "../../protocol/listener_id.ts";
import type { ListenerStatus, StatusReport } from "../../protocol/listener_status.ts";
import type { Operations, PruneReport, RequeueReport, StatusOptions, TaskInspection } from "../operations.ts";
import { consumerName, ERROR_PREFIX, ERROR_STREAM, EVENT_STREAM } from "./subjects.ts";

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
 * list and `status`; `inspect`, `requeue` and `prune` throw
 * {@linkcode NotSupportedError}.
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
  readonly #registered: () => Promise<RegisteredListener[]>;

  /**
   * Creates the operations over a JetStream manager.
   *
   * @param jsm The connection's JetStream manager.
   * @param registered Lists the registered listeners.
   */
  constructor(jsm: JetStreamManager, registered: () => Promise<RegisteredListener[]>) {
    this.#jsm = jsm;
    this.#registered = registered;
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
    // The server sends an RFC 3339 time (the client's type says nanoseconds).
    const active: unknown = info.ack_floor?.last_active ?? info.delivered.last_active;
    const lastActive = typeof active === "string" ? new Date(active).toISOString() : null;
    return {
      ...base,
      state: info.num_redelivered > 0 ? "retrying" : "ok",
      pending: info.num_pending + info.num_ack_pending,
      retrying: info.num_redelivered,
      errors,
      lastSequence: info.delivered.stream_seq || null,
      broker: {
        consumer,
        missing: false,
        waiting: info.num_pending,
        ackPending: info.num_ack_pending,
        maxAckPending: info.config.max_ack_pending ?? 0,
        redelivered: info.num_redelivered,
        lastActivity: lastActive,
      },
    };
  }

  /** How many tasks of a consumer have an error record. */
  async #errors(consumer: string): Promise<number> {
    const info = await this.#jsm.streams.info(ERROR_STREAM, { subjects_filter: `${ERROR_PREFIX}.${consumer}.>` });
    return Object.keys(info.state.subjects ?? {}).length;
  }

  inspect(): Promise<TaskInspection> {
    return Promise.reject(
      new NotSupportedError(
        "inspect",
        "NATS",
        "the error stream HURAH_ERR_1 holds each error record (nats stream view)",
      ),
    );
  }

  requeue(): Promise<RequeueReport> {
    return Promise.reject(
      new NotSupportedError("requeue", "NATS", "dispatch the event again to hand the task to its listener once more"),
    );
  }

  prune(): Promise<PruneReport> {
    return Promise.reject(
      new NotSupportedError("prune", "NATS", "no archive is kept; purge HURAH_ERR_1 by subject to drop error records"),
    );
  }
}

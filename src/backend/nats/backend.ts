/**
 * The NATS JetStream backend: one interest-retention stream carries every
 * event (an event no listener's consumer matches is not stored, as with
 * files), one durable pull consumer per listener holds its tasks, an error
 * stream keeps error records, and a state stream keeps the retry state of
 * tasks that were put back. See docs/scale-out.md for the mapping.
 */
import { connect as connectNats, headers, nanos, type NatsConnection } from "@nats-io/transport-node";
import {
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type PubAck,
} from "@nats-io/jetstream";
import { DeliveryError, NotSupportedError, PayloadError } from "../../errors.ts";
import type { Listener } from "../../protocol/listener_id.ts";
import type {
  Backend,
  Delivery,
  DueDelivery,
  ListenerQueue,
  OpenOptions,
  PublishEvent,
  Registration,
  ScheduleClaims,
  ScheduledEvent,
  Wakeups,
} from "../port.ts";
import { HEADER } from "./_message.ts";
import { NatsOperations, type RegisteredListener } from "./operations.ts";
import { NatsQueue, type NatsTask } from "./queue.ts";
import { NatsSchedules } from "./_schedules.ts";
import {
  consumerName,
  EVENT_STREAM,
  listenerFilter,
  reaches,
  REQUEUE_PREFIX,
  REQUEUE_STREAM,
  subjectOfSegments,
  taskSubject,
} from "./subjects.ts";

import type { NatsBackendOptions } from "./_options.ts";
import { addConsumers, addStreams, listenerOfDescription } from "./_consumers.ts";

export type { NatsBackendOptions } from "./_options.ts";

/** Bytes kept free in a message for hurah's headers and the subject (at most 1,700 characters). */
const HEADROOM = 4096;

/**
 * hurah's tasks on NATS JetStream: a {@linkcode Backend} for `Dispatcher`,
 * `runOnce()` and `watch()`. Connect with {@linkcode NatsBackend.connect},
 * dispose of it with `await using` (or `close()`).
 *
 * Requires `--allow-net` to the servers (and `--allow-env`, `--allow-read`
 * for the npm client).
 *
 * @example Dispatching and working a listener on NATS
 * ```ts ignore
 * import { Dispatcher, runOnce, Task } from "jsr:@hurah/events";
 * import { NatsBackend } from "jsr:@hurah/events/nats";
 * await using backend = await NatsBackend.connect("nats://127.0.0.1:4222");
 * await runOnce(backend, { name: "mailer", eventType: "user/signup", handler: () => Task.SUCCESS }); // registers
 * await new Dispatcher(backend).dispatch("user/signup", { id: 1 });
 * const report = await runOnce(backend, { name: "mailer", eventType: "user/signup", handler: () => Task.SUCCESS });
 * console.log(report.archived); // 1
 * ```
 */
export class NatsBackend implements Backend, AsyncDisposable {
  /** The servers, comma-separated, as given. */
  readonly location: string;
  /** The listener list, `status`, `inspect`, `requeue` and `prune` on NATS. */
  readonly operations: NatsOperations;
  /** Schedule claims: not offered by NATS yet (each call throws `NotSupportedError`). */
  readonly schedules: ScheduleClaims = new NatsSchedules();
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #options: Required<Omit<NatsBackendOptions, "name">>;
  #streams: Promise<void> | undefined;
  #listeners: { at: number; list: RegisteredListener[] } | undefined;
  readonly #registered = new Map<string, RegisteredListener>();
  /** How many listeners' consumers this backend created (registrations that were new). */
  #created = 0;

  private constructor(location: string, nc: NatsConnection, jsm: JetStreamManager, options: NatsBackendOptions) {
    this.location = location;
    this.#nc = nc;
    this.#jsm = jsm;
    this.#js = jetstream(nc);
    this.#options = {
      replicas: options.replicas ?? 1,
      ackWaitMs: options.ackWaitMs ?? 30_000,
      pollIntervalMs: options.pollIntervalMs ?? 1000,
      pullExpiresMs: options.pullExpiresMs ?? 50,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      listenerCacheMs: options.listenerCacheMs ?? 1000,
      maxAckPending: options.maxAckPending ?? 10_000,
      inProgressAcks: options.inProgressAcks ?? true,
    };
    if (!Number.isSafeInteger(this.#options.replicas) || this.#options.replicas < 1) {
      throw new RangeError(`replicas must be a whole number of at least 1, found ${this.#options.replicas}`);
    }
    this.operations = new NatsOperations(jsm, this.#js, {
      registered: () => this.listeners(),
      register: async (listener) => void await this.register(listener),
    });
  }

  /**
   * Connects to NATS servers (JetStream enabled). Nothing is created until
   * the first `register()` (or `open()`), which creates the streams that are
   * missing.
   *
   * Requires `--allow-net` to the servers.
   *
   * @param servers One URL (`nats://host:4222`), several comma-separated, or a list.
   * @param options Replicas, ack wait and timings.
   * @returns The backend, connected.
   * @throws {Error} When no server can be reached (the client's error), or
   * JetStream is not enabled on it.
   *
   * @example Connecting to a 3-node cluster
   * ```ts ignore
   * import { NatsBackend } from "jsr:@hurah/events/nats";
   * await using backend = await NatsBackend.connect("nats://a:4222,nats://b:4222,nats://c:4222", { replicas: 3 });
   * console.log(backend.location);
   * ```
   */
  static async connect(servers: string | string[], options: NatsBackendOptions = {}): Promise<NatsBackend> {
    const list = (typeof servers === "string" ? servers.split(",") : servers).map((url) => url.trim()).filter(Boolean);
    // noAsyncTraces: no stack captured at every request (each ack, each publish), which cost a fifth of a drain's
    // time here; a timeout's error says what timed out all the same.
    const nc = await connectNats({
      servers: list,
      name: options.name ?? "hurah",
      maxReconnectAttempts: -1,
      noAsyncTraces: true,
    });
    try {
      const jsm = await jetstreamManager(nc);
      return new NatsBackend(list.join(","), nc, jsm, options);
    } catch (error) {
      await nc.close();
      throw error;
    }
  }

  /** The server's version, as `2.9.10`. */
  get serverVersion(): string {
    return this.#nc.info?.version ?? "unknown";
  }

  /**
   * Publishes each event once on its subject (`Nats-Msg-Id` the event id, so
   * that a retried publish within the stream's duplicate window is stored
   * once), many in flight at a time. Each event's deliveries are the
   * listeners whose consumer filter matches, deepest first; each names the
   * stream sequence (the same for all of them) and `HURAH_EV_1/<consumer>/<sequence>`
   * as its path.
   */
  async publish(events: readonly PublishEvent[]): Promise<Delivery[][]> {
    // The server refuses a message over its max_payload: refused here, before anything is published.
    const maxPayload = this.#nc.info?.max_payload ?? Infinity;
    for (const event of events) {
      if (event.orderingKey !== undefined) {
        throw new NotSupportedError(
          "an ordering key",
          "the NATS backend",
          "a listener's pull consumer has no per-key order (it would need a subject per key); dispatch without one",
        );
      }
      if (event.idempotency !== undefined) {
        throw new NotSupportedError(
          "an idempotency key",
          "the NATS backend",
          "JetStream drops a second publish with the same event id within the stream's duplicate window (2 minutes)",
        );
      }
      if (event.payloadJson.length + HEADROOM > maxPayload) {
        throw new PayloadError(
          "payload",
          `is ${event.payloadJson.length} bytes, over what the NATS server takes (max_payload ${maxPayload} bytes, ` +
            "with the headers); store large data elsewhere and dispatch a reference to it, or raise max_payload",
        );
      }
    }
    await this.#ensureStreams();
    const listeners = await this.listeners(true);
    const results: Delivery[][] = [];
    const WINDOW = 1000;
    for (let start = 0; start < events.length; start += WINDOW) {
      const chunk = events.slice(start, start + WINDOW);
      const acks = await Promise.allSettled(chunk.map((event) => this.#publishOne(event)));
      let failure: unknown;
      for (const [index, ack] of acks.entries()) {
        if (ack.status === "fulfilled") results.push(deliveriesOf(chunk[index], ack.value, listeners));
        else {
          failure ??= ack.reason;
          results.push([]); // not stored, or not known to be: a retry with the same event id is stored once
        }
      }
      if (failure !== undefined) {
        while (results.length < events.length) results.push([]); // not published
        if (results.every((each) => each.length === 0)) throw failure;
        throw new DeliveryError(results, failure instanceof Error ? failure : new Error(String(failure)));
      }
    }
    return results;
  }

  /**
   * Not supported: NATS 2.9 has no scheduled messages, and keeping delayed
   * events beside the streams would be an emulation of its own.
   * @throws {NotSupportedError} Always.
   */
  schedule(): Promise<ScheduledEvent> {
    return Promise.reject(
      new NotSupportedError(
        "delayed dispatch (delay, notBefore, --delay, --at)",
        "the NATS backend",
        "NATS 2.9 has no scheduled messages; dispatch at the time, or use an event root",
      ),
    );
  }

  /** Nothing to deliver: this backend keeps no delayed events (see `schedule()`). */
  deliverDue(): Promise<DueDelivery> {
    return Promise.resolve({ events: 0, deliveries: 0 });
  }

  #publishOne(event: PublishEvent): Promise<PubAck> {
    const head = headers();
    head.set(HEADER.delivery, event.delivery);
    head.set(HEADER.eventType, event.eventType);
    return this.#js.publish(subjectOfSegments(event.segments), event.payloadJson, {
      msgID: event.eventId,
      headers: head,
      timeout: this.#options.requestTimeoutMs,
    });
  }

  /**
   * Takes over tasks of a listener kept elsewhere (a file root's inbox, for
   * `migrateRoot()`): each task file's text, as it is, is published to
   * `HURAH_RQ_1` on `hurah.rq.<consumer>.<sequence>`, read by the listener's
   * requeue consumer, so that it reaches this listener alone and keeps its
   * sequence, retry count and failure records. Registers the listener first.
   * All are in flight at once; `id` is each publish's `Nats-Msg-Id`, so a task
   * published again within the duplicate window (2 minutes) is stored once.
   *
   * @param listener The listener.
   * @param tasks The tasks: their sequence, their file's bytes and a de-duplication id.
   * @returns Per task: `stored`, `duplicate` (the stream had it already), or the error of its publish.
   */
  async adopt(
    listener: Listener,
    tasks: readonly { sequence: number; bytes: Uint8Array; id: string }[],
  ): Promise<("stored" | "duplicate" | Error)[]> {
    const consumer = await this.#consumer(listener);
    const acks = await Promise.allSettled(
      tasks.map((task) =>
        this.#js.publish(taskSubject(REQUEUE_PREFIX, consumer, task.sequence), task.bytes, {
          msgID: task.id,
          timeout: this.#options.requestTimeoutMs,
        })
      ),
    );
    return acks.map((ack) =>
      ack.status === "fulfilled"
        ? ack.value.duplicate ? "duplicate" : "stored"
        : ack.reason instanceof Error
        ? ack.reason
        : new Error(String(ack.reason))
    );
  }

  /** Creates the listener's durable pull consumer (and the streams) when missing; an existing one is kept. */
  async register(listener: Listener): Promise<Registration> {
    const before = this.#created;
    const consumer = await this.#consumer(listener);
    return { created: this.#created > before, location: `${EVENT_STREAM}/${consumer}` };
  }

  /**
   * Opens a listener's consumers (of events and of requeued tasks) for one
   * worker: ordered mode sets their `max_ack_pending` to 1, parallel mode to
   * `maxAckPending`, and the ack wait to the lease (both only when they differ). Do not work one listener in
   * both modes at once: the last one opened sets the consumer.
   */
  async open(listener: Listener, options: OpenOptions): Promise<ListenerQueue<NatsTask>> {
    const consumer = await this.#consumer(listener);
    const ackWaitMs = options.parallel?.leaseMs ?? this.#options.ackWaitMs;
    const maxAckPending = options.parallel ? this.#options.maxAckPending : 1;
    for (const stream of [EVENT_STREAM, REQUEUE_STREAM]) {
      const info = await this.#jsm.consumers.info(stream, consumer);
      if (info.config.max_ack_pending !== maxAckPending || info.config.ack_wait !== nanos(ackWaitMs)) {
        await this.#jsm.consumers.update(stream, consumer, {
          max_ack_pending: maxAckPending,
          ack_wait: nanos(ackWaitMs),
        });
      }
    }
    return new NatsQueue({ nc: this.#nc, js: this.#js, jsm: this.#jsm }, listener, options, {
      consumer,
      ackWaitMs,
      pullExpiresMs: this.#options.pullExpiresMs,
      requestTimeoutMs: this.#options.requestTimeoutMs,
      inProgressAcks: this.#options.inProgressAcks,
    });
  }

  /**
   * Wakes a listener up at each event published on its filter (a core NATS
   * subscription) and every `pollIntervalMs` (redeliveries: other workers'
   * naks, lapsed ack waits), until `signal` aborts or it is closed.
   */
  watch(
    listeners: readonly Listener[],
    signal: AbortSignal,
    onArrival: (listenerId: string) => void,
    _onMissed: (reason: string) => void,
  ): Wakeups {
    const subs = listeners.map((listener) =>
      this.#nc.subscribe(listenerFilter(listener.eventType), { callback: () => onArrival(listener.id) })
    );
    const timer = setInterval(() => {
      for (const listener of listeners) onArrival(listener.id);
    }, this.#options.pollIntervalMs);
    let closed = false;
    const close = () => {
      if (closed) return Promise.resolve();
      closed = true;
      clearInterval(timer);
      signal.removeEventListener("abort", close);
      if (!this.#nc.isClosed()) { for (const sub of subs) sub.unsubscribe(); }
      return Promise.resolve();
    };
    signal.addEventListener("abort", close, { once: true });
    return { close };
  }

  /**
   * Every hurah listener registered on the server (the consumers of the event
   * stream that carry a listener in their description), with its consumer
   * name, ordered by listener id; `cached`: as listed within `listenerCacheMs`.
   */
  async listeners(cached = false): Promise<RegisteredListener[]> {
    const now = Date.now();
    if (cached && this.#listeners && now - this.#listeners.at < this.#options.listenerCacheMs) {
      return this.#listeners.list;
    }
    await this.#ensureStreams();
    const list: RegisteredListener[] = [];
    for await (const info of this.#jsm.consumers.list(EVENT_STREAM)) {
      const listener = listenerOfDescription(info.config.description);
      if (listener) list.push({ listener, consumer: info.name });
    }
    list.sort((a, b) => a.listener.id < b.listener.id ? -1 : a.listener.id > b.listener.id ? 1 : 0);
    this.#listeners = { at: now, list };
    return list;
  }

  /** Closes the connection (pending publishes are flushed first). */
  async close(): Promise<void> {
    if (this.#nc.isClosed()) return;
    await this.#nc.drain().catch(() => this.#nc.close());
  }

  /** Closes the connection, as `close()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The listener's consumer name, creating the consumer (and the streams) when missing. */
  async #consumer(listener: Listener): Promise<string> {
    const known = this.#registered.get(listener.id);
    if (known) return known.consumer;
    await this.#ensureStreams();
    const consumer = await consumerName(listener.id);
    if (await addConsumers(this.#jsm, listener, consumer, this.#options)) this.#created++;
    this.#registered.set(listener.id, { listener, consumer });
    this.#listeners = undefined;
    return consumer;
  }

  /** Creates the streams that do not exist; never deletes or re-creates one (docs/scale-out.md: a server bug). */
  #ensureStreams(): Promise<void> {
    return this.#streams ??= (async () => {
      await addStreams(this.#jsm, this.#options.replicas);
    })().catch((error) => {
      this.#streams = undefined;
      throw error;
    });
  }
}

/** The deliveries of one published event: every listener it reaches, deepest first, then by name. */
function deliveriesOf(event: PublishEvent, ack: PubAck, listeners: readonly RegisteredListener[]): Delivery[] {
  const reached = listeners.filter(({ listener }) => reaches(listener.eventType, event.eventType));
  const depth = (eventType: string) => eventType === "" ? 0 : eventType.split("/").length;
  reached.sort((a, b) =>
    depth(b.listener.eventType) - depth(a.listener.eventType) ||
    (a.listener.name < b.listener.name ? -1 : a.listener.name > b.listener.name ? 1 : 0)
  );
  return reached.map(({ listener, consumer }) => ({
    listener: listener.name,
    listenerEventType: listener.eventType,
    sequence: ack.seq,
    path: `${EVENT_STREAM}/${consumer}/${ack.seq}`,
  }));
}

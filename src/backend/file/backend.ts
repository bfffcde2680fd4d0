/**
 * The file backend: the event root of docs/protocol.md behind the port.
 * Publishing is delivery to every listener directory an event type reaches;
 * a listener's queue is its inbox (ordered) or claims in `inflight/`
 * (parallel); the wake-up source is `Deno.watchFs` over the inboxes.
 */
import { dirname, join } from "node:path";
import { DeliveryError } from "../../errors.ts";
import { Layout } from "../../protocol/layout.ts";
import type { Listener } from "../../protocol/listener_id.ts";
import { encodeNewTask, formatDelivery } from "../../protocol/task_file.ts";
import type {
  Backend,
  Delivery,
  DueDelivery,
  ListenerQueue,
  OpenOptions,
  PublishEvent,
  Registration,
  ScheduledEvent,
  ScheduleEvent,
  WaitOptions,
  Wakeups,
} from "../port.ts";
import { DelayedStore } from "./delayed_store.ts";
import { type Build, type Delivered, FileStore, type ListenerRef, PartialDeliveryError } from "./file_store.ts";
import { watchInboxes } from "./inbox_watcher.ts";
import { type KeyClaim, KeyStore } from "./key_store.ts";
import { openFileQueue } from "./listener_queue.ts";
import { FileOperations } from "./operations.ts";
import { FileSchedules } from "./schedules.ts";
import type { TaskSpot } from "./task_queue.ts";
import { syncDir } from "./_fs.ts";
import type { LockWaitOptions } from "./_types.ts";

/** Options of {@linkcode FileBackend}. */
export interface FileBackendOptions {
  /**
   * Flush files and directories to disk before a write is reported done.
   * @default {true}
   */
  durable?: boolean;
  /**
   * How a publish waits for a listener's dispatch lock.
   * @default {{}} (no signal, no bound, a notice on stderr after a second)
   */
  dispatchLockWait?: LockWaitOptions;
  /**
   * The clock of `tracking.json`'s `delivery`, for tests.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

/** The event root as a backend. */
export class FileBackend implements Backend {
  readonly store: FileStore;
  readonly operations: FileOperations;
  /** The delayed events, in `<root>/.hurah/delayed/`. */
  readonly delayed: DelayedStore;
  /** The claims of schedule ticks, under `<root>/.hurah/schedules/`. */
  readonly schedules: FileSchedules;
  /** The idempotency keys, `.hurah/keys/`. */
  readonly keys: KeyStore;
  /** The listeners registered or opened by this backend, by id. */
  readonly #refs = new Map<string, ListenerRef>();
  readonly #now: () => Date;
  readonly #durable: boolean;

  constructor(root: string, options: FileBackendOptions = {}) {
    this.store = new FileStore(root, options);
    this.#now = options.now ?? (() => new Date());
    this.#durable = options.durable ?? true;
    this.operations = new FileOperations(this.store.root, { durable: this.#durable });
    this.delayed = new DelayedStore(this.store, { durable: this.#durable, now: this.#now });
    this.schedules = new FileSchedules(this.store.root, this.#durable);
    this.keys = new KeyStore(this.store.root, {
      durable: this.#durable,
      now: this.#now,
      wait: options.dispatchLockWait ?? {},
    });
  }

  /** The absolute path of the event root. */
  get location(): string {
    return this.store.root;
  }

  /**
   * Claims the events' idempotency keys (a duplicate gets the first
   * dispatch's deliveries, and is not delivered again), then delivers the
   * rest and records their deliveries under their keys. A publish that fails
   * gives its keys up, so that a retry delivers.
   */
  async publish(events: readonly PublishEvent[]): Promise<Delivery[][]> {
    if (!events.some((event) => event.idempotency !== undefined)) return await this.#publish(events);
    const claims = new Map<number, KeyClaim>();
    const duplicates = new Map<number, Delivery[]>();
    const fresh: PublishEvent[] = [];
    try {
      for (const [index, event] of events.entries()) {
        if (event.idempotency === undefined) {
          fresh.push(event);
          continue;
        }
        const { key, windowMs } = event.idempotency;
        const outcome = await this.keys.claim(event.eventType, key, windowMs, event.eventId);
        if (outcome.kind === "duplicate") {
          duplicates.set(index, outcome.record.deliveries.map((each) => ({ ...each, duplicate: true as const })));
          continue;
        }
        claims.set(index, outcome.claim);
        fresh.push({ ...event, eventId: outcome.claim.record.event_id });
      }
      const merged = (delivered: Delivery[][]) =>
        [...events.keys()].map((index) => duplicates.get(index) ?? delivered.shift()!);
      let results: Delivery[][];
      try {
        results = merged(await this.#publish(fresh));
      } catch (error) {
        if (!(error instanceof DeliveryError)) throw error;
        throw new DeliveryError(merged([...error.deliveries]), error.cause as Error);
      }
      for (const [index, claim] of claims) {
        claims.delete(index);
        await this.keys.record(claim, results[index]);
      }
      return results;
    } finally {
      for (const claim of claims.values()) await this.keys.release(claim);
    }
  }

  /** Finds every event's listeners (before writing anything), then delivers listener by listener. */
  async #publish(events: readonly PublishEvent[]): Promise<Delivery[][]> {
    const results: Delivery[][] = [];
    const listenersOf = new Map<string, ListenerRef[]>();
    const queues = new Map<
      string,
      { listener: ListenerRef; keyed: boolean; tasks: { event: number; slot: number; build: Build }[] }
    >();
    for (const [index, event] of events.entries()) {
      let listeners = listenersOf.get(event.eventType);
      if (listeners === undefined) {
        listenersOf.set(event.eventType, listeners = this.store.listenersFor(event.segments));
      }
      results.push(new Array(listeners.length));
      const { payloadJson, delivery, eventType, eventId, orderingKey } = event;
      const extra = orderingKey === undefined ? undefined : { ordering_key: orderingKey };
      for (const [slot, listener] of listeners.entries()) {
        let queue = queues.get(listener.dir);
        if (queue === undefined) queues.set(listener.dir, queue = { listener, keyed: false, tasks: [] });
        if (orderingKey !== undefined) queue.keyed = true;
        const build = (sequence: number) => encodeNewTask(payloadJson, sequence, delivery, eventType, eventId, extra);
        queue.tasks.push({ event: index, slot, build });
      }
    }
    let delivered = 0;
    for (const { listener, keyed, tasks } of queues.values()) {
      const record = (written: readonly Delivered[]) => {
        for (const [k, { sequence, path }] of written.entries()) {
          const { event, slot } = tasks[k];
          results[event][slot] = { listener: listener.name, listenerEventType: listener.eventType, sequence, path };
        }
        delivered += written.length;
      };
      try {
        if (keyed) await this.#markKeyed(listener);
        record(await this.store.deliver(listener, tasks.map((task) => task.build), formatDelivery(this.#now())));
      } catch (error) {
        const partial = error instanceof PartialDeliveryError;
        if (partial) record(error.delivered);
        const cause = partial ? error.cause : error;
        // Nothing written yet: the error as it is (a caller has nothing to account for).
        if (delivered === 0) throw cause;
        throw new DeliveryError(results.map((each) => each.filter(Boolean)), cause as Error);
      }
    }
    return results;
  }

  /**
   * Makes sure the listener's `ordering_keys` marker is there before a task
   * with an ordering key is: a parallel worker that lists the inbox and then
   * finds no marker has no keyed task to order (one syscall, `EEXIST` but the
   * first time; then, in durable mode, the listener directory is flushed).
   */
  async #markKeyed(listener: ListenerRef): Promise<void> {
    try {
      Deno.writeFileSync(join(listener.dir, Layout.KEYED), new Uint8Array(), { createNew: true });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return;
      throw error;
    }
    if (this.#durable) await syncDir(listener.dir);
  }

  /** Writes the event into `<root>/.hurah/delayed/`, outside every inbox, until it is due. */
  schedule(event: ScheduleEvent): Promise<ScheduledEvent> {
    return this.delayed.schedule(event);
  }

  /** Delivers the delayed events due at `now`, one process at a time (`deliver.lock`); see `DelayedStore`. */
  deliverDue(now: Date, wait?: WaitOptions): Promise<DueDelivery> {
    return this.delayed.deliverDue(now, wait);
  }

  /** Closes the dispatch lock files kept open between publishes (they close by themselves after a second unused). */
  close(): Promise<void> {
    this.store.close();
    return Promise.resolve();
  }

  /** Creates the listener's directories (the root too) if needed, refusing links on the way. */
  register(listener: Listener): Promise<Registration> {
    const { created, ...ref } = this.store.register(listener);
    this.#refs.set(listener.id, ref);
    return Promise.resolve({ created, location: join(ref.dir, Layout.INBOX) });
  }

  /** Opens a listener's inbox; a parallel queue takes its lease now, and the run lock at its first `hold()`. */
  async open(listener: Listener, options: OpenOptions): Promise<ListenerQueue<TaskSpot>> {
    return await openFileQueue(this.store, this.#ref(listener), options);
  }

  /** `Deno.watchFs` over the listeners' inboxes; lost events and watcher errors are `onMissed`. */
  watch(
    listeners: readonly Listener[],
    signal: AbortSignal,
    onArrival: (listenerId: string) => void,
    onMissed: (reason: string) => void,
  ): Wakeups {
    const byInbox = new Map(listeners.map((listener) => [join(this.#ref(listener).dir, Layout.INBOX), listener.id]));
    return watchInboxes([...byInbox.keys()], signal, (paths) => {
      for (const path of paths) {
        const id = byInbox.get(dirname(path));
        if (id !== undefined) onArrival(id);
      }
    }, onMissed);
  }

  /** The listener's directory, registering it when this backend has not yet. */
  #ref(listener: Listener): ListenerRef {
    let ref = this.#refs.get(listener.id);
    if (ref === undefined) this.#refs.set(listener.id, ref = this.store.register(listener));
    return ref;
  }
}

import { DeliveryError, InvalidNameError, PayloadError } from "./errors.ts";
import { parseEventType } from "./protocol/names.ts";
import { encodePayload } from "./protocol/php_json.ts";
import { encodeTask, formatDelivery } from "./protocol/task_file.ts";
import { type Build, type Delivered, FileStore, type ListenerRef, PartialDeliveryError } from "./store/file_store.ts";

/** One event of {@linkcode Dispatcher.dispatchMany}. */
export interface DispatchEvent {
  /** The event type, as `product/created`. */
  eventType: string;
  /** Any JSON-representable data; when the property is absent, `null`. */
  payload?: unknown;
}

/** An event whose type and payload were checked. */
interface CheckedEvent {
  eventType: string;
  segments: string[];
  payload: unknown;
}

/** Options of {@linkcode Dispatcher}. */
export interface DispatcherOptions {
  /**
   * Flush every task file and its inbox entry to disk before `dispatch()`
   * returns, so an acknowledged delivery survives a power loss. Turn off for throughput when losing the last events of a crash is
   * acceptable; a killed process never loses a reported delivery either way.
   * @default {true}
   */
  durable?: boolean;
  /**
   * The clock, for tests.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

/** One task file written by {@linkcode Dispatcher.dispatch}. */
export interface Delivery {
  /** The listener's handler name. */
  listener: string;
  /** The event type the listener listens to (`""` for the root). */
  listenerEventType: string;
  /** The task's sequence number in that listener. */
  sequence: number;
  /** The absolute path of the task file in the listener's inbox. */
  path: string;
}

/**
 * Writes events into the event root: one task file into the inbox of every
 * listener of the event type, of each parent type and of the root.
 *
 * Calls may overlap: `dispatch()` calls that wait for the same listener
 * while another is being served are served together, under one hold of its
 * lock and one `tracking.json` write (each call still gets its own files, in
 * the order the calls reached that listener), so a server dispatching for
 * many requests at once gets near batch throughput. Use one `Dispatcher` per
 * process for that.
 *
 * Requires `--allow-read` and `--allow-write` on the event root.
 *
 * @example Dispatching an event
 * ```ts ignore
 * import { Dispatcher } from "jsr:@hurah/events";
 * const dispatcher = new Dispatcher("/var/lib/hurah");
 * const deliveries = await dispatcher.dispatch("product/created", { product_id: 123 });
 * console.log(`delivered to ${deliveries.length} listeners`);
 * ```
 */
export class Dispatcher {
  readonly #store: FileStore;
  readonly #now: () => Date;
  /** The last delivery time formatted, and its second: `formatDelivery` is the same within a second. */
  #formatted = { second: NaN, text: "" };

  /**
   * Creates a dispatcher for an event root. Nothing is touched until the
   * first dispatch.
   *
   * @param root The event root directory; it must exist when dispatching.
   * @param options Durability and clock.
   */
  constructor(root: string, options: DispatcherOptions = {}) {
    this.#store = new FileStore(root, { durable: options.durable ?? true });
    this.#now = options.now ?? (() => new Date());
  }

  /** The absolute path of the event root. */
  get root(): string {
    return this.#store.root;
  }

  /**
   * Delivers an event to every listener of its type, deepest level first,
   * then each parent, then the root. Each delivery is atomic and, unless
   * `durable` is off, on disk when this returns. No listener is not an
   * error: the result is empty.
   *
   * @param eventType The event type, as `product/created`.
   * @param payload Any JSON-representable data; when omitted, `null`. An
   * explicit `undefined` is refused, as JSON has none.
   * @default {payload} null
   * @returns One delivery per listener reached.
   * @throws {InvalidNameError} When the event type is invalid.
   * @throws {PayloadError} When the payload cannot be stored as JSON; nothing
   * is written then.
   * @throws {UnsafePathError} When the root is missing, or a link or a file
   * stands where a directory should be; nothing is written then.
   * @throws {SequenceLimitError} When a listener has used every sequence
   * number (15 digits); nothing is written to it.
   * @throws {DeliveryError} When an error (a full disk, an I/O error, a
   * `SequenceLimitError`) stops the dispatch after it reached some
   * listeners: `deliveries[0]` lists those, each delivery whole, `cause` is
   * the error. Failing before the first delivery, the error itself is
   * thrown.
   *
   * @example Dispatching to listeners
   * ```ts ignore
   * import { Dispatcher } from "jsr:@hurah/events";
   * const deliveries = await new Dispatcher("/var/lib/hurah").dispatch("product/created", { product_id: 1 });
   * for (const d of deliveries) console.log(d.listener, d.sequence);
   * ```
   */
  async dispatch(eventType: string, payload?: unknown): Promise<Delivery[]> {
    const segments = parseEventType(eventType);
    // Omitted means null; an explicit undefined (a missing field, usually) is refused like any other.
    const checked = { eventType, segments, payload: encodePayload(arguments.length < 2 ? null : payload) };
    const [deliveries] = await this.#deliver([checked]);
    return deliveries;
  }

  /**
   * Delivers many events at once: the same files as one `dispatch()` per
   * event, in the same order within each listener, but each listener's
   * dispatch lock is taken and `tracking.json` replaced once per 512 tasks
   * instead of once per task, and a durable
   * batch flushes each inbox once. For imports, backfills and fan-out.
   *
   * Every event is checked before anything is written: one invalid event
   * type or payload and nothing is delivered. An I/O error part-way leaves
   * the deliveries made before it in place, each one whole, and throws a
   * `DeliveryError` that lists them (per event, as the result would), so
   * that a retry can leave them out.
   *
   * @param events The events, each `{ eventType, payload }`; an omitted
   * `payload` is `null`.
   * @returns For each event, in the order given, its deliveries as
   * `dispatch()` returns them.
   * @throws {InvalidNameError} When an event type is invalid; the message
   * starts with `events[<index>]:`.
   * @throws {PayloadError} When a payload cannot be stored as JSON; the
   * message starts with `events[<index>]:`.
   * @throws {UnsafePathError} When the root is missing, or a link or a file
   * stands where a directory should be; nothing is written then.
   * @throws {SequenceLimitError} When a listener has used every sequence
   * number (15 digits), before anything was delivered.
   * @throws {DeliveryError} When an error stops the batch after some tasks
   * were delivered: `deliveries[i]` are those of `events[i]` (possibly
   * fewer than its listeners, or none), `cause` is the error. Failing before
   * the first delivery, the error itself is thrown.
   *
   * @example Dispatching a batch
   * ```ts ignore
   * import { Dispatcher } from "jsr:@hurah/events";
   * const dispatcher = new Dispatcher("/var/lib/hurah");
   * const events = [1, 2, 3].map((id) => ({ eventType: "product/created", payload: { product_id: id } }));
   * const deliveries = await dispatcher.dispatchMany(events);
   * console.log(deliveries.map((each) => each.length)); // listeners reached, per event
   * ```
   */
  async dispatchMany(events: Iterable<DispatchEvent>): Promise<Delivery[][]> {
    const checked: CheckedEvent[] = [];
    const segmentsOf = new Map<string, string[]>();
    for (const event of events) {
      try {
        let segments = segmentsOf.get(event.eventType);
        if (segments === undefined) segmentsOf.set(event.eventType, segments = parseEventType(event.eventType));
        const payload = encodePayload("payload" in event ? event.payload : null);
        checked.push({ eventType: event.eventType, segments, payload });
      } catch (error) {
        if (error instanceof InvalidNameError || error instanceof PayloadError) {
          error.message = `events[${checked.length}]: ${error.message}`;
        }
        throw error;
      }
    }
    return await this.#deliver(checked);
  }

  /** The current time as `delivery` and `tracking.json` hold it. */
  #deliveryTime(): string {
    const date = this.#now();
    const second = Math.floor(date.getTime() / 1000);
    if (second !== this.#formatted.second) this.#formatted = { second, text: formatDelivery(date) };
    return this.#formatted.text;
  }

  /** Finds every event's listeners (before writing anything), then delivers listener by listener. */
  async #deliver(events: readonly CheckedEvent[]): Promise<Delivery[][]> {
    const results: Delivery[][] = [];
    const listenersOf = new Map<string, ListenerRef[]>();
    const queues = new Map<string, { listener: ListenerRef; tasks: { event: number; slot: number; build: Build }[] }>();
    for (const [index, event] of events.entries()) {
      let listeners = listenersOf.get(event.eventType);
      if (listeners === undefined) {
        listenersOf.set(event.eventType, listeners = this.#store.listenersFor(event.segments));
      }
      results.push(new Array(listeners.length));
      const eventId = crypto.randomUUID();
      const delivery = this.#deliveryTime();
      for (const [slot, listener] of listeners.entries()) {
        let queue = queues.get(listener.dir);
        if (queue === undefined) queues.set(listener.dir, queue = { listener, tasks: [] });
        const build = (sequence: number) =>
          encodeTask({
            payload: event.payload,
            sequence,
            count: sequence,
            delivery,
            event_type: event.eventType,
            event_id: eventId,
            task_id: crypto.randomUUID(),
          });
        queue.tasks.push({ event: index, slot, build });
      }
    }
    let delivered = 0;
    for (const { listener, tasks } of queues.values()) {
      const record = (written: readonly Delivered[]) => {
        for (const [k, { sequence, path }] of written.entries()) {
          const { event, slot } = tasks[k];
          results[event][slot] = { listener: listener.name, listenerEventType: listener.eventType, sequence, path };
        }
        delivered += written.length;
      };
      try {
        record(await this.#store.deliver(listener, tasks.map((task) => task.build), this.#deliveryTime()));
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
}

import { parseEventType } from "./protocol/names.ts";
import { encodePayload } from "./protocol/php_json.ts";
import { encodeTask, formatDelivery, type TaskRecord } from "./protocol/task_file.ts";
import { FileStore } from "./store/file_store.ts";

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
    const safePayload = encodePayload(arguments.length < 2 ? null : payload);
    const listeners = this.#store.listenersFor(segments);
    const eventId = crypto.randomUUID();
    const deliveries: Delivery[] = [];
    for (const listener of listeners) {
      const delivery = formatDelivery(this.#now());
      const build = (sequence: number) => {
        const task: TaskRecord = {
          payload: safePayload,
          sequence,
          count: sequence,
          delivery,
          event_type: eventType,
          event_id: eventId,
          task_id: crypto.randomUUID(),
        };
        return encodeTask(task);
      };
      const { sequence, path } = await this.#store.deliver(listener, build, delivery);
      deliveries.push({ listener: listener.name, listenerEventType: listener.eventType, sequence, path });
    }
    return deliveries;
  }
}

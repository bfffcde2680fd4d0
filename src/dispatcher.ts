import { connect } from "./backend/connect.ts";
import type { Backend, Delivery, PublishEvent, ScheduledEvent } from "./backend/port.ts";
import type { LockWait } from "./backend/wait.ts";
import { InvalidNameError, PayloadError } from "./errors.ts";
import { parseEventType } from "./protocol/names.ts";
import { encodePayload, encodePhpJson } from "./protocol/php_json.ts";
import { parseDuration } from "./protocol/_duration.ts";
import { DEFAULT_MAX_TASK_SIZE, encodeNewTask, formatDelivery } from "./protocol/task_file.ts";
import { type Delay, dueTime } from "./protocol/delayed.ts";

/** The default of `DispatcherOptions.lockTimeoutMs`. */
const DISPATCH_LOCK_TIMEOUT_MS = 30_000;

/** One event of {@linkcode Dispatcher.dispatchMany}. */
export interface DispatchEvent {
  /** The event type, as `product/created`. */
  eventType: string;
  /** Any JSON-representable data; when the property is absent, `null`. */
  payload?: unknown;
  /** Its ordering key, as `DispatchOptions.orderingKey`. @default {undefined} */
  orderingKey?: string;
}

/** An event whose type and payload were checked, with its keys. */
type CheckedEvent = Pick<PublishEvent, "eventType" | "segments" | "payloadJson" | "orderingKey" | "idempotency">;

/** Options of one {@linkcode Dispatcher.dispatch}. */
export interface DispatchOptions {
  /**
   * An idempotency key: a second dispatch of the same event type with the
   * same key within `window` writes nothing and returns the first one's
   * deliveries, each marked `duplicate: true`. Exactly one of any number of
   * processes dispatching with one key at once delivers. Keys are scoped to
   * the event type (the same key with another type is another event).
   * @default {undefined} (no key: every dispatch delivers)
   */
  key?: string;
  /**
   * How long a key is remembered: a duration as `10m`, `24h`, `7d`, or
   * milliseconds. Only with `key`.
   * @default {"24h"}
   */
  window?: string | number;
  /**
   * An ordering key: in a listener worked with `concurrency` above 1, tasks
   * with the same ordering key run one at a time, in sequence order, while
   * others run in parallel (stored as the task's `ordering_key`; a PHP runner
   * ignores it, and runs every task in order anyway).
   * @default {undefined}
   */
  orderingKey?: string;
  /**
   * Deliver the event later: after this many milliseconds, or a duration
   * text as the command line takes (`"500ms"`, `"90s"`, `"10m"`, `"2h"`,
   * `"7d"`; a bare number in a text is seconds). It waits outside every
   * inbox and is delivered, to the listeners of that moment, by a
   * `watch()` or `runOnce()` (`hurah watch`, `hurah run`) once due;
   * `dispatch()` then returns a `ScheduledEvent`. Not with `notBefore`.
   * @default {undefined} delivered at once
   */
  delay?: Delay;
  /**
   * Deliver the event at this time, not before (as `delay`). A time in the
   * past makes it due at once. Not with `delay`.
   * @default {undefined} delivered at once
   */
  notBefore?: Date;
}

/** {@linkcode DispatchOptions} that delay the event: `delay` or `notBefore` given. */
export type DelayedDispatchOptions = DispatchOptions & ({ delay: Delay } | { notBefore: Date });

export type { ScheduledEvent } from "./backend/port.ts";

/** The default of `DispatchOptions.window`: 24 hours. */
export const DEFAULT_KEY_WINDOW_MS = 24 * 60 * 60 * 1000;

/** The longest idempotency or ordering key, in characters. */
const MAX_KEY_LENGTH = 1024;

/** The checked keys of a dispatch's options. */
function checkKeys(options: DispatchOptions): Pick<CheckedEvent, "orderingKey" | "idempotency"> {
  const checked: Pick<CheckedEvent, "orderingKey" | "idempotency"> = {};
  for (const name of ["key", "orderingKey"] as const) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== "string" || value.length === 0 || value.length > MAX_KEY_LENGTH) {
      const found = typeof value === "string" ? `${value.length} characters` : typeof value;
      throw new RangeError(
        `${name} must be a non-empty string of at most ${MAX_KEY_LENGTH} characters, found ${found}`,
      );
    }
  }
  if (options.orderingKey !== undefined) checked.orderingKey = options.orderingKey;
  if (options.key !== undefined) checked.idempotency = { key: options.key, windowMs: keyWindow(options.window) };
  else if (options.window !== undefined) throw new RangeError("window is given without a key; add key");
  return checked;
}

/** A key window in milliseconds. */
function keyWindow(window: string | number | undefined): number {
  if (window === undefined) return DEFAULT_KEY_WINDOW_MS;
  const ms = typeof window === "number" ? window : parseDuration(window, "window");
  if (!Number.isFinite(ms) || ms <= 0) throw new RangeError(`window must be a positive duration, found ${window}`);
  return ms;
}

/**
 * Refuses a payload (already encoded) whose task file would be larger than
 * `maxTaskSize` bytes, with the largest sequence number.
 *
 * @throws {PayloadError} Saying the size and the limit.
 */
export function checkTaskSize(payloadJson: string, eventType: string, maxTaskSize: number): void {
  if (payloadJson.length + FIELDS_BOUND <= maxTaskSize) return;
  // PHP's JSON is ASCII: its length is its size in bytes.
  const size = encodeNewTask(payloadJson, LARGEST_SEQUENCE, formatDelivery(new Date()), eventType, crypto.randomUUID())
    .length;
  if (size > maxTaskSize) {
    throw new PayloadError(
      "payload",
      `makes a task file of ${size} bytes, over the limit of ${maxTaskSize} bytes (maxTaskSize); ` +
        "store large data elsewhere and dispatch a reference to it",
    );
  }
}

/** The largest sequence number a task file name can hold (15 digits), for the size bound. */
const LARGEST_SEQUENCE = 999_999_999_999_999;

/** More than the fields around the payload take in a task file (the event type is at most 1,615 characters). */
const FIELDS_BOUND = 4096;

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
   * The largest task file, in bytes, a dispatch may write: a payload whose
   * task file would be larger is refused with a `PayloadError`, as runners
   * quarantine such files unread (their `maxTaskSize`, same default).
   * @default {16777216} (16 MiB)
   */
  maxTaskSize?: number;
  /**
   * How long a delivery waits for a listener's dispatch lock while another
   * dispatcher holds it, in milliseconds; then it throws `LockTimeoutError`
   * and writes nothing to that listener. A dispatch holds the lock for about
   * a millisecond per task, so a long wait means a frozen or stopped holder.
   * @default {30000}
   */
  lockTimeoutMs?: number;
  /**
   * Ends a wait for a dispatch lock, rejecting with the signal's reason;
   * nothing is written to that listener then.
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Called once when a wait for a dispatch lock has lasted a second, with
   * the lock file and the holder's pid when known.
   * @default {one line on stderr}
   */
  onLockWait?: (wait: LockWait) => void;
  /**
   * The clock, for tests.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

export type { Delivery } from "./backend/delivery.ts";

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
export class Dispatcher implements AsyncDisposable {
  readonly #backend: Backend;
  /** Whether the backend is this dispatcher's own (made from a root), to close with it. */
  readonly #owned: boolean;
  readonly #now: () => Date;
  readonly #maxTaskSize: number;
  /** The last delivery time formatted, and its second: `formatDelivery` is the same within a second. */
  #formatted = { second: NaN, text: "" };

  /**
   * Creates a dispatcher for an event root. Nothing is touched until the
   * first dispatch.
   *
   * @param root The event root directory; it must exist when dispatching.
   * Or a backend in its place (`NatsBackend` of `@hurah/events/nats`): the
   * options of files (`durable`, the lock waits) are then the backend's.
   * @param options Durability, lock waits and clock.
   */
  constructor(root: string | Backend, options: DispatcherOptions = {}) {
    this.#now = options.now ?? (() => new Date());
    this.#owned = typeof root === "string";
    this.#backend = typeof root !== "string" ? root : connect({ root }, {
      durable: options.durable ?? true,
      dispatchLockWait: {
        timeoutMs: options.lockTimeoutMs ?? DISPATCH_LOCK_TIMEOUT_MS,
        signal: options.signal,
        onWait: options.onLockWait,
      },
      now: this.#now,
    });
    const max = options.maxTaskSize ?? DEFAULT_MAX_TASK_SIZE;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new RangeError(`maxTaskSize must be a whole number of bytes, at least 1, found ${max}`);
    }
    this.#maxTaskSize = max;
  }

  /** The absolute path of the event root. */
  get root(): string {
    return this.#backend.location;
  }

  /**
   * Closes the files a dispatcher keeps open between dispatches (each
   * listener's `dispatch.lock`, which it would otherwise close after a
   * second without a dispatch to that listener). The dispatcher can still
   * dispatch afterwards (it opens them again). A backend given in place of
   * the root is not closed: it is the caller's.
   *
   * @returns When the files are closed.
   *
   * @example Closing a dispatcher with `await using`
   * ```ts ignore
   * import { Dispatcher } from "jsr:@hurah/events";
   * await using dispatcher = new Dispatcher("/var/lib/hurah");
   * await dispatcher.dispatch("product/created", { product_id: 1 });
   * ```
   */
  async close(): Promise<void> {
    if (this.#owned) await this.#backend.close?.();
  }

  /**
   * Closes the dispatcher, as {@linkcode Dispatcher.close}.
   *
   * @returns When the files are closed.
   *
   * @example Disposing of a dispatcher
   * ```ts ignore
   * import { Dispatcher } from "jsr:@hurah/events";
   * const dispatcher = new Dispatcher("/var/lib/hurah");
   * await dispatcher[Symbol.asyncDispose]();
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Schedules an event: it is delivered, like `dispatch()` without options
   * does, once `delay` has passed or at `notBefore`, to the listeners of
   * its type at that moment (so it gets its sequence numbers then). Until
   * then it waits outside every inbox (files: in `<root>/.hurah/delayed/`),
   * so no runner, PHP's included, sees it early. It is delivered by
   * `watch()` (`hurah watch`, within about a second of its time) or by
   * `runOnce()` (`hurah run`, at the start of its pass), exactly once
   * however many of them share the root, also across a crash of any.
   *
   * @param eventType The event type, as `product/created`.
   * @param payload Any JSON-representable data (give `null` for none).
   * @param options `delay` or `notBefore` (one of them).
   * @returns The scheduled event: `scheduled: true`, its id (the `event_id`
   * of every task it becomes), when it is due and where it waits.
   * @throws {RangeError} When both `delay` and `notBefore` are given, the
   * delay is negative or not a duration, or the time is not a valid date
   * before the year 10000; nothing is written then.
   * @throws {InvalidNameError} When the event type is invalid.
   * @throws {PayloadError} As for an immediate dispatch; nothing is written.
   * @throws {UnsafePathError} When the root is missing, or a link or a file
   * stands where `.hurah/delayed/` should be.
   * @throws {NotSupportedError} On a backend that cannot keep events (NATS).
   *
   * @example Dispatching in ten minutes
   * ```ts ignore
   * import { Dispatcher } from "jsr:@hurah/events";
   * const scheduled = await new Dispatcher("/var/lib/hurah").dispatch("mail/reminder", { user: 7 }, { delay: "10m" });
   * console.log(`${scheduled.eventId} is due at ${scheduled.notBefore}`);
   * ```
   */
  dispatch(eventType: string, payload: unknown, options: DelayedDispatchOptions): Promise<ScheduledEvent>;
  /**
   * Delivers an event to every listener of its type, deepest level first,
   * then each parent, then the root. Each delivery is atomic and, unless
   * `durable` is off, on disk when this returns. No listener is not an
   * error: the result is empty.
   *
   * @param eventType The event type, as `product/created`.
   * @param payload Any JSON-representable data; when omitted, `null`. An
   * explicit `undefined` is refused, as JSON has none.
   * @param options An idempotency key and its window, an ordering key (see the other form for `delay` and
   * `notBefore`).
   * @default {payload} null
   * @returns One delivery per listener reached (with a key already used
   * within its window: the first dispatch's, each marked `duplicate: true`).
   * @throws {InvalidNameError} When the event type is invalid.
   * @throws {PayloadError} When the payload cannot be stored as JSON, is
   * nested deeper than 510 levels, or makes a task file larger than
   * `maxTaskSize`; nothing is written then.
   * @throws {RangeError} When a key is empty or longer than 1,024
   * characters, or `window` is not a positive duration (or has no `key`).
   * @throws {NotSupportedError} When the backend offers no keys (NATS: ordering keys).
   * @throws {UnsafePathError} When the root is missing, or a link or a file
   * stands where a directory should be; nothing is written then.
   * @throws {LockTimeoutError} When a listener's dispatch lock is still held
   * after `lockTimeoutMs`; the listeners reached before it keep their tasks.
   * @throws The reason of `signal`, when it aborts a wait for a dispatch lock.
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
   *
   * @example Dispatching once per key, in order per customer
   * ```ts ignore
   * import { Dispatcher } from "jsr:@hurah/events";
   * const dispatcher = new Dispatcher("/var/lib/hurah");
   * const payload = { order_id: 42, customer: 7 };
   * const deliveries = await dispatcher.dispatch("order/paid", payload, { key: "order-42-paid", orderingKey: "customer-7" });
   * console.log(deliveries.some((d) => d.duplicate) ? "dispatched before" : "dispatched now");
   * ```
   */
  dispatch(eventType: string, payload?: unknown, options?: DispatchOptions): Promise<Delivery[]>;
  async dispatch(
    eventType: string,
    payload?: unknown,
    options: DispatchOptions = {},
  ): Promise<Delivery[] | ScheduledEvent> {
    const segments = parseEventType(eventType);
    // Omitted means null; an explicit undefined (a missing field, usually) is refused like any other.
    const checked = this.#check(eventType, segments, arguments.length < 2 ? null : payload);
    const keys = checkKeys(options);
    const now = this.#now();
    const notBefore = dueTime(options.delay, options.notBefore, now);
    if (notBefore !== undefined) {
      if (keys.idempotency !== undefined || keys.orderingKey !== undefined) {
        throw new RangeError("a delayed dispatch takes no key nor orderingKey (yet); dispatch at once to use them");
      }
      return await this.#backend.schedule({ ...checked, eventId: crypto.randomUUID(), notBefore, scheduledAt: now });
    }
    const [deliveries] = await this.#deliver([{ ...checked, ...keys }]);
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
   * @param events The events, each `{ eventType, payload, orderingKey }`;
   * an omitted `payload` is `null`. (Idempotency keys: `dispatch()` only.)
   * @returns For each event, in the order given, its deliveries as
   * `dispatch()` returns them.
   * @throws {InvalidNameError} When an event type is invalid; the message
   * starts with `events[<index>]:`.
   * @throws {PayloadError} When a payload cannot be stored as JSON, is nested
   * too deep or too large (see `dispatch()`); the message starts with
   * `events[<index>]:`.
   * @throws {UnsafePathError} When the root is missing, or a link or a file
   * stands where a directory should be; nothing is written then.
   * @throws {LockTimeoutError} When a listener's dispatch lock is still held
   * after `lockTimeoutMs`; the listeners reached before it keep their tasks.
   * @throws The reason of `signal`, when it aborts a wait for a dispatch lock.
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
        const keys = checkKeys({ orderingKey: event.orderingKey });
        checked.push({ ...this.#check(event.eventType, segments, "payload" in event ? event.payload : null), ...keys });
      } catch (error) {
        if (error instanceof InvalidNameError || error instanceof PayloadError) {
          error.message = `events[${checked.length}]: ${error.message}`;
        }
        throw error;
      }
    }
    return await this.#deliver(checked);
  }

  /**
   * Checks a payload and encodes it once for all its task files, refusing
   * one whose task file would exceed `maxTaskSize`.
   */
  #check(eventType: string, segments: string[], payload: unknown): CheckedEvent {
    const payloadJson = encodePhpJson(encodePayload(payload));
    checkTaskSize(payloadJson, eventType, this.#maxTaskSize);
    return { eventType, segments, payloadJson };
  }

  /** The current time as `delivery` and `tracking.json` hold it. */
  #deliveryTime(): string {
    const date = this.#now();
    const second = Math.floor(date.getTime() / 1000);
    if (second !== this.#formatted.second) this.#formatted = { second, text: formatDelivery(date) };
    return this.#formatted.text;
  }

  /** Publishes checked events, each with its own id, at the current time. */
  async #deliver(events: readonly CheckedEvent[]): Promise<Delivery[][]> {
    return await this.#backend.publish(
      events.map((event) => ({ ...event, eventId: crypto.randomUUID(), delivery: this.#deliveryTime() })),
    );
  }
}

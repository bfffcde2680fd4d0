/**
 * The errors of dispatching: a lock that stays held, a listener whose
 * sequence numbers are used up, a dispatch that failed part-way, a broker that
 * refused a request. Re-exported
 * by `src/errors.ts`, the one place to import error classes from.
 *
 * @module
 */
import type { Delivery } from "../backend/delivery.ts";

/**
 * A lock was still held by another process when the wait for it ended: the
 * dispatch lock after `lockTimeoutMs`, or a listener's run lock. Nothing was
 * written under it.
 *
 * @example Catching a lock that stays held
 * ```ts ignore
 * import { Dispatcher, LockTimeoutError } from "jsr:@hurah/events";
 * try {
 *   await new Dispatcher("/var/lib/hurah", { lockTimeoutMs: 5_000 }).dispatch("product/created", {});
 * } catch (error) {
 *   if (error instanceof LockTimeoutError) console.error(error.path, error.holderPid);
 * }
 * ```
 */
export class LockTimeoutError extends Error {
  /** The lock file. */
  readonly path: string;
  /** How long it was waited for, in milliseconds (0: tried once). */
  readonly waitedMs: number;
  /** The pid of a process holding it (from `/proc/locks`, same host only), when known. */
  readonly holderPid?: number;

  /**
   * Creates the error.
   *
   * @param path The lock file.
   * @param waitedMs How long it was waited for.
   * @param holderPid The pid of a holder, when known.
   */
  constructor(path: string, waitedMs: number, holderPid?: number) {
    const holder = holderPid === undefined ? "another process" : `pid ${holderPid}`;
    super(
      waitedMs === 0
        ? `The lock ${path} is held by ${holder}; not waiting for it`
        : `Timed out after ${waitedMs} ms waiting for the lock ${path}, held by ${holder}`,
    );
    this.name = "LockTimeoutError";
    this.path = path;
    this.waitedMs = waitedMs;
    this.holderPid = holderPid;
  }
}

/**
 * A listener has used every sequence number a task name can hold (1 to 15
 * digits, up to 999,999,999,999,999): the next dispatch to it is refused
 * before anything is written.
 *
 * @example Catching a listener whose numbers are used up
 * ```ts ignore
 * import { Dispatcher, SequenceLimitError } from "jsr:@hurah/events";
 * try {
 *   await new Dispatcher("/var/lib/hurah").dispatch("product/created", {});
 * } catch (error) {
 *   if (error instanceof SequenceLimitError) console.error(error.listener, error.sequence);
 * }
 * ```
 */
export class SequenceLimitError extends Error {
  /** The listener's handler name. */
  readonly listener: string;
  /** The event type the listener listens to (`""` for the root). */
  readonly eventType: string;
  /** The listener's directory. */
  readonly path: string;
  /** The number the next task would have had. */
  readonly sequence: number;

  /**
   * Creates the error.
   *
   * @param listener The listener's handler name.
   * @param eventType The event type it listens to.
   * @param path The listener's directory.
   * @param sequence The number the next task would have had.
   */
  constructor(listener: string, eventType: string, path: string, sequence: number) {
    const id = eventType === "" ? listener : `${eventType}/${listener}`;
    super(
      `Listener ${id} (${path}) has no sequence number left: the next task would be number ${sequence}, ` +
        `but a task name holds 1 to 15 digits (at most 999999999999999); nothing was written. ` +
        `Register a new listener, or lower tracking.json once no task file above it is left`,
    );
    this.name = "SequenceLimitError";
    this.listener = listener;
    this.eventType = eventType;
    this.path = path;
    this.sequence = sequence;
  }
}

/**
 * A dispatch failed part-way (a full disk, an I/O error): some listeners'
 * tasks were written before the error, each one whole, and stay delivered.
 * `deliveries` says which, so that a retry does not deliver them twice;
 * `cause` is the error met.
 *
 * @example Reporting what a failed batch delivered
 * ```ts ignore
 * import { DeliveryError, Dispatcher } from "jsr:@hurah/events";
 * try {
 *   await new Dispatcher("/var/lib/hurah").dispatchMany(events);
 * } catch (error) {
 *   if (error instanceof DeliveryError) console.error(`${error.delivered} delivered before`, error.cause);
 * }
 * ```
 */
export class DeliveryError extends Error {
  /**
   * For each event, in the order given, the deliveries made before the
   * error (possibly fewer than the event's listeners, or none).
   */
  readonly deliveries: Delivery[][];
  /** How many task files were delivered in all. */
  readonly delivered: number;

  /**
   * Creates the error.
   *
   * @param deliveries Per event, the deliveries made before the error.
   * @param cause The error met.
   */
  constructor(deliveries: Delivery[][], cause: Error) {
    const delivered = deliveries.reduce((sum, each) => sum + each.length, 0);
    super(
      `Dispatch failed after ${delivered} ${delivered === 1 ? "delivery" : "deliveries"} ` +
        `(those stay delivered; the rest were not written): ${cause.message}`,
      { cause },
    );
    this.name = "DeliveryError";
    this.deliveries = deliveries;
    this.delivered = delivered;
  }
}

/**
 * A broker answered a request of the backend with an error status: a pull
 * from a listener's consumer that is gone (deleted by hand), or that the
 * server refused. Carries the consumer and the status code; the watcher
 * pauses that listener and tries again.
 *
 * @example Catching a broker's refusal
 * ```ts ignore
 * import { BrokerError } from "jsr:@hurah/events/nats";
 * try {
 *   await runOnce(backend, options);
 * } catch (error) {
 *   if (error instanceof BrokerError) console.error(error.consumer, error.code);
 * }
 * ```
 */
export class BrokerError extends Error {
  /** The consumer (stream `/` consumer name) the request was for. */
  readonly consumer: string;
  /** The status code the server answered, as 409 or 503. */
  readonly code: number;

  /**
   * Creates the error.
   *
   * @param consumer The consumer, as `HURAH_EV_1/user_ssignup_smailer`.
   * @param code The status code.
   * @param description The server's description of it.
   */
  constructor(consumer: string, code: number, description: string) {
    super(
      `pulling from ${consumer} failed: ${code} ${description}; ` +
        (code === 503 || code === 404
          ? "the listener's consumer is missing; restart the watcher (it registers the listener) to create it again"
          : "the server refused the pull"),
    );
    this.name = "BrokerError";
    this.consumer = consumer;
    this.code = code;
  }
}

/**
 * A backend does not offer an operation (a broker may not list a
 * listener's tasks as a directory can): said, not a failure. The dashboard
 * answers 501 with the message; the command line exits 1 with it.
 *
 * @example Telling an operation the backend lacks from a failure
 * ```ts ignore
 * import { NotSupportedError } from "jsr:@hurah/events";
 * try {
 *   await backend.operations.tasks({ listener: "user/mailer", location: "inbox" });
 * } catch (error) {
 *   if (error instanceof NotSupportedError) console.log(error.message);
 * }
 * ```
 */
export class NotSupportedError extends Error {
  /**
   * Creates the error.
   *
   * @param operation What was asked, as "listing a listener's tasks".
   * @param backend The backend that lacks it, as "the NATS backend".
   * @param instead What to use instead, if anything.
   */
  constructor(operation: string, backend: string, instead = "") {
    super(`${operation} is not supported by ${backend}${instead ? `; ${instead}` : ""}`);
    this.name = "NotSupportedError";
  }
}

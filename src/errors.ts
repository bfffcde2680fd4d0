/**
 * Every public error class of hurah. Each one sets `name`, passes `cause`
 * and carries what a caller needs to act on it.
 *
 * @module
 */
import type { Delivery } from "./backend/delivery.ts";

/**
 * An event type or handler name does not follow hurah's naming rules.
 *
 * @example Catching an invalid name
 * ```ts
 * import { InvalidNameError, parseEventType } from "../mod.ts";
 * try {
 *   parseEventType("a//b");
 * } catch (error) {
 *   if (error instanceof InvalidNameError) console.log(error.message);
 * }
 * ```
 */
export class InvalidNameError extends Error {
  /** What kind of name was rejected. */
  readonly kind: "event type" | "handler name";
  /** The rejected value, exactly as given. */
  readonly value: string;

  /**
   * Creates the error.
   *
   * @param kind What kind of name was rejected.
   * @param value The rejected value.
   * @param reason What is wrong with it, and what is allowed.
   */
  constructor(kind: "event type" | "handler name", value: string, reason: string) {
    super(`Invalid ${kind} ${JSON.stringify(value)}: ${reason}`);
    this.name = "InvalidNameError";
    this.kind = kind;
    this.value = value;
  }
}

/**
 * A payload cannot be stored as JSON without losing information (a BigInt, a
 * function, a cycle, `undefined` at the top level, a non-finite number...).
 *
 * @example Catching an unrepresentable payload
 * ```ts
 * import { encodePayload, PayloadError } from "../mod.ts";
 * try {
 *   encodePayload({ id: 1n });
 * } catch (error) {
 *   if (error instanceof PayloadError) console.log(error.path); // "payload.id"
 * }
 * ```
 */
export class PayloadError extends Error {
  /** Where in the payload the problem is, as `payload.items[2].id`. */
  readonly path: string;

  /**
   * Creates the error.
   *
   * @param path Where in the payload the problem is.
   * @param reason What was found there and what is allowed.
   */
  constructor(path: string, reason: string) {
    super(`Payload cannot be stored as JSON: ${path} ${reason}`);
    this.name = "PayloadError";
    this.path = path;
  }
}

/**
 * A task file or tracking file does not hold what the protocol expects.
 *
 * @example Catching a corrupt task file
 * ```ts
 * import { decodeTask, CorruptFileError } from "../mod.ts";
 * try {
 *   decodeTask("{not json", 1);
 * } catch (error) {
 *   if (error instanceof CorruptFileError) console.log(error.message);
 * }
 * ```
 */
export class CorruptFileError extends Error {
  /**
   * Creates the error.
   *
   * @param reason What was expected and what was found.
   * @param options The underlying error, if any.
   */
  constructor(reason: string, options?: ErrorOptions) {
    super(reason, options);
    this.name = "CorruptFileError";
  }
}

/**
 * Something under the event root is not what hurah will touch: a symbolic
 * link where a directory is expected, or a file where a directory should be.
 * hurah never follows links inside the root, so nothing is created, read or
 * moved outside it. Also thrown when the event root itself is missing or not
 * a directory (`atRoot`).
 *
 * @example Catching an unsafe path
 * ```ts ignore
 * import { Dispatcher, UnsafePathError } from "jsr:@hurah/events";
 * try {
 *   await new Dispatcher("/var/lib/hurah").dispatch("product/created", {});
 * } catch (error) {
 *   if (error instanceof UnsafePathError) console.error(error.path);
 * }
 * ```
 */
export class UnsafePathError extends Error {
  /** The offending path. */
  readonly path: string;
  /**
   * Whether the path is the event root itself (missing, or not a
   * directory): a wrong root was given, rather than something found
   * inside a root.
   */
  readonly atRoot: boolean;

  /**
   * Creates the error.
   *
   * @param path The offending path.
   * @param reason What was found there.
   * @param options `atRoot` when the path is the event root itself (default `false`).
   */
  constructor(path: string, reason: string, options: { atRoot?: boolean } = {}) {
    super(`Refusing ${path}: ${reason}`);
    this.name = "UnsafePathError";
    this.path = path;
    this.atRoot = options.atRoot ?? false;
  }
}

/**
 * A handler module could not be loaded or does not export a handler.
 *
 * @example Catching a handler that cannot be loaded
 * ```ts ignore
 * import { HandlerLoadError, loadHandler } from "jsr:@hurah/events";
 * try {
 *   await loadHandler("./missing.ts");
 * } catch (error) {
 *   if (error instanceof HandlerLoadError) console.error(error.specifier);
 * }
 * ```
 */
export class HandlerLoadError extends Error {
  /** The module specifier as given. */
  readonly specifier: string;

  /**
   * Creates the error.
   *
   * @param specifier The module specifier as given.
   * @param reason What went wrong and what was expected.
   * @param options The underlying error, if any.
   */
  constructor(specifier: string, reason: string, options?: ErrorOptions) {
    super(`Cannot load handler ${JSON.stringify(specifier)}: ${reason}`, options);
    this.name = "HandlerLoadError";
    this.specifier = specifier;
  }
}

/**
 * An exec handler's command ended with an exit status that is not a Task
 * code, or was killed by a signal. The message carries the status and the
 * tail of its standard error, and goes into the task's failure record.
 *
 * @example Recognising an exec failure
 * ```ts
 * import { ExecHandlerError } from "../mod.ts";
 * const error = new ExecHandlerError("php mail.php", { code: 255, signal: null }, "PHP Fatal error");
 * console.log(error.message);
 * ```
 */
export class ExecHandlerError extends Error {
  /** The command as configured. */
  readonly command: string;
  /** Its exit code (128 + n when killed by signal n). */
  readonly code: number;
  /** The signal that killed it, if one did. */
  readonly signal: string | null;
  /** The last bytes it wrote to standard error. */
  readonly stderrTail: string;
  /**
   * What the handler's process wrote (`stderrTail`). A thrown error that
   * carries an `output` is recorded in the task's failure record without its
   * JavaScript stack, which says nothing about the process.
   */
  readonly output: string;

  /**
   * Creates the error.
   *
   * @param command The command as configured.
   * @param status How it ended.
   * @param stderrTail The last bytes it wrote to standard error.
   */
  constructor(command: string, status: { code: number; signal: string | null }, stderrTail: string) {
    const how = status.signal ? `was killed by ${status.signal}` : `exited with status ${status.code}`;
    const tail = stderrTail.trim();
    super(
      `${JSON.stringify(command)} ${how}; expected 0 (SUCCESS), 1 (FAILURE), 2 (RETRY) or 3 (INVALID)` +
        (tail ? `; stderr: ${tail}` : "; no stderr output"),
    );
    this.name = "ExecHandlerError";
    this.command = command;
    this.code = status.code;
    this.signal = status.signal;
    this.stderrTail = stderrTail;
    this.output = stderrTail;
  }
}

/**
 * A task's handler ran, but the task could not be moved on to where its
 * result sends it (`archive/`, `error/`, back to the inbox): a directory that
 * is not writable, a full disk... The decided fate is recorded in the task
 * file when it can still be rewritten, and kept by the runner otherwise, so
 * the task does not run again: the next pass only retries the move.
 * `hurah watch` reports it as a fault and pauses the listener; `runOnce()`
 * throws it.
 *
 * @example Telling a failed move from other errors
 * ```ts ignore
 * import { runOnce, Task, TaskMoveError } from "jsr:@hurah/events";
 * try {
 *   await runOnce("/var/lib/hurah", { name: "mailer", eventType: "user/signup", handler: () => Task.SUCCESS });
 * } catch (error) {
 *   if (error instanceof TaskMoveError) console.error(`fix ${error.to}/ of ${error.listener}: ${error.message}`);
 * }
 * ```
 */
export class TaskMoveError extends Error {
  /** The listener id, as `user/signup/mailer` (`<name>` for the root type). */
  readonly listener: string;
  /** The task's sequence number. */
  readonly sequence: number;
  /** What its handler's attempt was: `SUCCESS`, `RETRY`, `INVALID`, `ERROR`... */
  readonly result: string;
  /** Where it was to go: `archive`, `error` or `inbox`. */
  readonly to: string;

  /**
   * Creates the error.
   *
   * @param listener The listener id.
   * @param sequence The task's sequence number.
   * @param result What the handler's attempt was.
   * @param to Where the task was to go.
   * @param cause Why the move failed.
   */
  constructor(listener: string, sequence: number, result: string, to: string, cause: Error) {
    super(
      `task ${sequence} of listener ${listener} was handled (${result}) but could not be moved to ${to}/: ` +
        `${cause.name}: ${cause.message}; it will not run again: the next pass only retries the move`,
      { cause },
    );
    this.name = "TaskMoveError";
    this.listener = listener;
    this.sequence = sequence;
    this.result = result;
    this.to = to;
  }
}

/**
 * No listener of that name under the event root: its directory does not
 * exist (or is not a directory).
 *
 * @example Catching an unknown listener
 * ```ts ignore
 * import { inspectTask, ListenerNotFoundError } from "jsr:@hurah/events";
 * try {
 *   await inspectTask("/var/lib/hurah", { listener: "product/created/image_scaler", sequence: 1 });
 * } catch (error) {
 *   if (error instanceof ListenerNotFoundError) console.error(error.path);
 * }
 * ```
 */
export class ListenerNotFoundError extends Error {
  /** The listener id as given, as `product/created/image_scaler`. */
  readonly listener: string;
  /** The directory that was expected. */
  readonly path: string;

  /**
   * Creates the error.
   *
   * @param listener The listener id.
   * @param path The directory that was expected.
   * @param found What was found there instead.
   */
  constructor(listener: string, path: string, found = "nothing") {
    super(`No listener ${JSON.stringify(listener)}: expected the directory ${path}, found ${found}`);
    this.name = "ListenerNotFoundError";
    this.listener = listener;
    this.path = path;
  }
}

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

/** Turns anything thrown into an `Error`, once, at a boundary. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === "string" ? thrown : `non-Error thrown: ${String(thrown)}`, {
    cause: thrown,
  });
}

/**
 * A backend found that another worker owns a task now (it took the task over
 * after this worker's lease lapsed), or that the task is gone: whatever this
 * worker decided for it is not carried out. Internal: the worker counts such a
 * task as `lost` and goes on.
 */
export class TaskLostError extends Error {
  /** The listener's handler name. */
  readonly listener: string;
  /** The task's sequence number. */
  readonly sequence: number;

  /**
   * Creates the error.
   *
   * @param listener The listener's handler name.
   * @param sequence The task's sequence number.
   * @param cause What the backend met (a rename that found no file).
   */
  constructor(listener: string, sequence: number, cause?: unknown) {
    super(`task ${sequence} of listener ${listener} is owned by another worker now, or gone`, { cause });
    this.name = "TaskLostError";
    this.listener = listener;
    this.sequence = sequence;
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

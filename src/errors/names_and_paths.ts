/**
 * The errors about names and what is found on disk: a name or payload that
 * breaks the rules, a file that does not hold what the protocol expects, a
 * path hurah will not touch, a listener that is not there. Re-exported by
 * `src/errors.ts`, the one place to import error classes from.
 *
 * @module
 */

/**
 * An event type or handler name does not follow hurah's naming rules.
 *
 * @example Catching an invalid name
 * ```ts
 * import { InvalidNameError, parseEventType } from "jsr:@hurah/events";
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
 * import { encodePayload, PayloadError } from "jsr:@hurah/events";
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
 * import { decodeTask, CorruptFileError } from "jsr:@hurah/events";
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

/**
 * The errors of the worker: a handler that cannot be loaded, an exec handler
 * that ended badly, a task that was handled but could not be moved on, a task
 * another worker owns now. Re-exported by `src/errors.ts`, the one place to
 * import error classes from.
 *
 * @module
 */

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
 * import { ExecHandlerError } from "jsr:@hurah/events";
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

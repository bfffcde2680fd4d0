/**
 * Every public error class of hurah. Each one sets `name`, passes `cause`
 * and carries what a caller needs to act on it. They are written by room in
 * `src/errors/` (names and paths, dispatch, worker); import them from here.
 *
 * @module
 */
export {
  CorruptFileError,
  InvalidNameError,
  ListenerNotFoundError,
  PayloadError,
  UnsafePathError,
} from "./errors/names_and_paths.ts";
export {
  BrokerError,
  DeliveryError,
  LockTimeoutError,
  NotSupportedError,
  SequenceLimitError,
} from "./errors/dispatch.ts";
export { ScheduleError } from "./errors/schedule.ts";
export { ExecHandlerError, HandlerLoadError, TaskLostError, TaskMoveError } from "./errors/worker.ts";

/** Turns anything thrown into an `Error`, once, at a boundary. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === "string" ? thrown : `non-Error thrown: ${String(thrown)}`, {
    cause: thrown,
  });
}

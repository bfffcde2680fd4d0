/**
 * The errors of recurring schedules: a cron expression, a time zone or a
 * schedule entry that cannot be used. Re-exported by `src/errors.ts`, the one
 * place to import error classes from.
 *
 * @module
 */

/**
 * A schedule cannot be used: its cron expression does not parse (the field
 * is named), its time zone is unknown, or its entry is malformed.
 *
 * @example Catching a bad expression
 * ```ts ignore
 * import { parseCron } from "./src/schedule/cron.ts";
 * import { ScheduleError } from "./src/errors.ts";
 * try {
 *   parseCron("61 * * * *");
 * } catch (error) {
 *   if (error instanceof ScheduleError) console.error(error.field, error.message);
 * }
 * ```
 */
export class ScheduleError extends Error {
  /** What was wrong: a field of the expression (`minute`, `hour`, `day of month`, `month`, `day of week`), `expression` or `timezone`. */
  readonly field: string;
  /** The expression (or time zone) as given. */
  readonly value: string;

  /**
   * Creates the error.
   *
   * @param field What was wrong (a field's name, `expression`, `timezone`).
   * @param value The expression or time zone as given.
   * @param message What was expected and what was found.
   * @param options The cause, if any.
   */
  constructor(field: string, value: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ScheduleError";
    this.field = field;
    this.value = value;
  }
}

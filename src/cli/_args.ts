import { UsageError } from "./_io.ts";

/** A non-negative integer option, as `--max-pending 100`. */
export function countOption(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,15}$/.test(value)) {
    throw new UsageError(`${option} must be a non-negative integer, found ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** A task's sequence number argument: a positive integer. */
export function sequenceArgument(value: string): number {
  if (!/^[1-9][0-9]{0,14}$/.test(value)) {
    throw new UsageError(`expected a sequence number (a positive integer), found ${JSON.stringify(value)}`);
  }
  return Number(value);
}

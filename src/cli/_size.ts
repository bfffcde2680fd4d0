import { UsageError } from "./_io.ts";

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * Parses a size in bytes: `1048576`, `512KiB`, `16MiB`, `1GiB` (also `k`,
 * `M`, `MB`...: every unit is binary, 1 KiB = 1,024 bytes). Throws a usage
 * error naming `what` and what is allowed.
 */
export function parseSize(text: string, what: string): number {
  const match = /^(\d+)\s*(?:([kmg])(?:i?b)?|(b))?$/i.exec(text.trim());
  const bytes = match ? Number(match[1]) * UNITS[(match[2] ?? match[3] ?? "").toLowerCase()] : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new UsageError(`${what} must be a size like 1048576, 512KiB, 16MiB or 1GiB, found ${JSON.stringify(text)}`);
  }
  return bytes;
}

/** `--max-task-size SIZE`, for the library's `maxTaskSize`. */
export function taskSizeOption(values: { "max-task-size"?: string }): { maxTaskSize?: number } {
  const text = values["max-task-size"];
  return text === undefined ? {} : { maxTaskSize: parseSize(text, "--max-task-size") };
}

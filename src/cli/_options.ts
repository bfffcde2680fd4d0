/**
 * The option parsers every command shares: counts, sequence numbers,
 * durations, sizes, lock waits, log formats, archive policies and the
 * parallel-mode options. Each checks its value once, at the edge, and throws
 * a {@linkcode UsageError} naming the option and what is allowed.
 *
 * @module
 */
import type { ArchivePolicy } from "../worker/run_once.ts";
import { UsageError } from "./_io.ts";
import type { LogFormat } from "./_log.ts";
import { parseDuration } from "../protocol/_duration.ts";

export { parseDuration };

/** A non-negative integer option, as `--max-pending 100`. */
export function countOption(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,15}$/.test(value)) {
    throw new UsageError(`${option} must be a non-negative integer, found ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** `--concurrency N`: tasks handled at once, at least 1 (the default). */
export function concurrencyOption(value: string | undefined): number {
  const concurrency = countOption(value, "--concurrency") ?? 1;
  if (concurrency < 1) throw new UsageError(`--concurrency must be at least 1, found ${concurrency}`);
  return concurrency;
}

/** A task's sequence number argument: a positive integer. */
export function sequenceArgument(value: string): number {
  if (!/^[1-9][0-9]{0,14}$/.test(value)) {
    throw new UsageError(`expected a sequence number (a positive integer), found ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** Parses a duration option. */
export function duration(text: string, what: string): number {
  try {
    return parseDuration(text, what);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * Parses a size in bytes: `1048576`, `512KiB`, `16MiB`, `1GiB` (also `k`,
 * `M`, `MB`...: every unit is binary, 1 KiB = 1,024 bytes). Throws a usage
 * error naming `what` and what is allowed.
 */
export function parseSize(text: string, what: string): number {
  const match = /^(\d+)\s*(?:([kmg])(?:i?b)?|(b))?$/i.exec(text.trim());
  const bytes = match ? Number(match[1]) * SIZE_UNITS[(match[2] ?? match[3] ?? "").toLowerCase()] : NaN;
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

/** The run lock timeout of `--wait DURATION` / `--no-wait`: unbounded by default. */
export function waitOption(wait: string | undefined, noWait: boolean): number {
  if (noWait && wait !== undefined) throw new UsageError("--wait and --no-wait exclude each other; give one");
  if (noWait) return 0;
  return wait === undefined ? Infinity : duration(wait, "--wait");
}

/** Checks `--log-format`. */
export function logFormat(value: string | undefined): LogFormat {
  if (value === "text" || value === "json" || value === undefined) return value ?? "text";
  throw new UsageError(`--log-format must be text or json, found ${JSON.stringify(value)}`);
}

/** `--archive keep|delete|DURATION`: what SUCCESS does with a task. */
export function archivePolicy(value: string | undefined): ArchivePolicy {
  if (value === undefined || value === "keep" || value === "delete") return value ?? "keep";
  try {
    return { keepMs: parseDuration(value, "--archive") };
  } catch {
    throw new UsageError(`--archive must be keep, delete or a retention like 7d, found ${JSON.stringify(value)}`);
  }
}

/** The parallel-mode options `--host-id` and `--lease`, for the library. */
export function parallelOptions(values: { "host-id"?: string; lease?: string }): { hostId?: string; leaseMs?: number } {
  const options: { hostId?: string; leaseMs?: number } = {};
  if (values["host-id"] !== undefined) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(values["host-id"])) {
      throw new UsageError(
        `--host-id must be 1 to 64 letters, digits, '.', '_' or '-', found ${JSON.stringify(values["host-id"])}`,
      );
    }
    options.hostId = values["host-id"];
  }
  if (values.lease !== undefined) {
    options.leaseMs = duration(values.lease, "--lease");
    if (options.leaseMs <= 0) throw new UsageError("--lease must be longer than 0");
  }
  return options;
}

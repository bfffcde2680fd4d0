/**
 * The option parsers every command shares: counts, sequence numbers,
 * durations, sizes, lock waits, archive policies and the
 * parallel-mode options. Each checks its value once, at the edge, and throws
 * a {@linkcode UsageError} naming the option and what is allowed.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { ArchivePolicy } from "../worker/run_once.ts";
import { parseDuration } from "../protocol/_duration.ts";
import { UsageError } from "./_io.ts";

export { parseDuration };

/** The options of a command, as `parseArgs` takes them. */
export type OptionTable = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses a command's arguments (strict: an unknown option is refused, and
 * positionals allowed only when `allowPositionals`), turning the parser's
 * errors into usage errors that name the option, with a "did you mean" for
 * an unknown one.
 */
export function parseOptions<O extends OptionTable, P extends boolean = true>(
  args: string[],
  options: O,
  allowPositionals: P = true as P,
): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: P; strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    throw parseError(error, options);
  }
}

/** The usage error of a `parseArgs` error; anything else as it is. */
function parseError(error: unknown, options: OptionTable): unknown {
  const { code, message } = error as { code?: string; message?: string };
  const quoted = /'([^']*)'/.exec(message ?? "")?.[1] ?? "";
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const name = quoted.split("=")[0];
      const known = Object.entries(options).flatMap((
        [long, { short }],
      ) => [`--${long}`, ...short ? [`-${short}`] : []]);
      const near = suggest(name, known);
      return new UsageError(`unknown option ${name}${near ? `; did you mean ${near}?` : ""}`);
    }
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const name = quoted.split(" ")[0];
      return new UsageError(
        options[name.replace(/^--?/, "")]?.type === "boolean" || /does not take an argument/.test(message ?? "")
          ? `${name} takes no value`
          : `${name} needs a value`,
      );
    }
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(`unexpected argument ${JSON.stringify(quoted)}; this command takes options only`);
    default:
      return error;
  }
}

/**
 * The candidate nearest to `word` by edit distance, when near enough to be
 * a typo (at most a third of its length, and 1 at least); else `undefined`.
 */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

/** Levenshtein distance: insertions, deletions and substitutions, each 1. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, k) => k);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

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

/** Parses a duration option where zero makes no sense (an interval): at least 1 ms. */
export function positiveDuration(text: string, what: string): number {
  const ms = duration(text, what);
  if (ms < 1) throw new UsageError(`${what} must be longer than 0, found ${JSON.stringify(text)}`);
  return ms;
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
    options.leaseMs = positiveDuration(values.lease, "--lease");
  }
  return options;
}

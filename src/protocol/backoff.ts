/** Options of {@linkcode backoff}. */
export interface BackoffOptions {
  /**
   * The delay before the first retry, in milliseconds.
   * @default {1000}
   */
  baseMs?: number;
  /**
   * The longest delay, in milliseconds.
   * @default {300000}
   */
  capMs?: number;
  /**
   * A random number in [0, 1), for the jitter.
   * @default {Math.random}
   */
  random?: () => number;
}

/**
 * Exponential backoff with jitter: `baseMs · 2^(attempt-1)`, capped at
 * `capMs`, then scaled by a random factor in [0.5, 1) so that tasks retried
 * together spread out.
 *
 * @param attempt Which retry this is, from 1.
 * @param options Base, cap and randomness.
 * @returns The delay in milliseconds.
 *
 * @example Delays of the first retries
 * ```ts
 * import { backoff } from "jsr:@hurah/events";
 * import { deepEqual } from "node:assert/strict";
 * const noJitter = { random: () => 0.999999 };
 * deepEqual([1, 2, 3].map((n) => Math.round(backoff(n, noJitter))), [1000, 2000, 4000]);
 * ```
 */
export function backoff(attempt: number, options: BackoffOptions = {}): number {
  const { baseMs = 1000, capMs = 300_000, random = Math.random } = options;
  const exponent = Math.min(Math.max(attempt, 1) - 1, 52);
  const ceiling = Math.min(capMs, baseMs * 2 ** exponent);
  return ceiling * (0.5 + random() / 2);
}

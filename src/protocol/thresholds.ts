import { formatAge } from "./_age.ts";
import type { ListenerStatus } from "./listener_status.ts";

/** Limits for {@linkcode checkThresholds}; a limit left out is not checked. */
export interface StatusThresholds {
  /**
   * Most task files a listener's `inbox/` may hold.
   * @default {undefined}
   */
  maxPending?: number;
  /**
   * Oldest a listener's lowest pending task may be, in milliseconds.
   * @default {undefined}
   */
  maxOldestMs?: number;
  /**
   * Most entries a listener's `error/` may hold: task files and quarantined
   * files (`.reason.txt` notes not counted).
   * @default {undefined}
   */
  maxErrors?: number;
  /**
   * Longest a task may stay claimed by a parallel worker, in milliseconds.
   * @default {undefined}
   */
  maxInFlightAgeMs?: number;
}

/** Which limit of {@linkcode StatusThresholds} was crossed, named as its command line option. */
export type ThresholdName = "max-pending" | "max-oldest" | "max-errors" | "max-in-flight-age";

/** One limit crossed by one listener. */
export interface Violation {
  /** The listener id. */
  listener: string;
  /** The limit crossed. */
  threshold: ThresholdName;
  /** The limit (milliseconds for ages). */
  limit: number;
  /** What was found (milliseconds for ages). */
  found: number;
  /** One line for people: the listener, what was found and what is allowed. */
  message: string;
}

/**
 * Checks listener statuses against limits: one violation per listener and
 * limit crossed, in listener order. A value equal to its limit is within it.
 *
 * @param listeners The statuses, as in a `StatusReport`.
 * @param thresholds The limits; those left out are not checked.
 * @returns The violations; empty when every listener is within its limits.
 *
 * @example Checking a backlog limit
 * ```ts
 * import { checkThresholds, type ListenerStatus } from "jsr:@hurah/events";
 * import { deepEqual } from "node:assert/strict";
 * const listener = {
 *   listener: "product/created/image_scaler", pending: 12, oldestPending: 3, oldestPendingAgeMs: 5000,
 *   errors: 0, quarantined: 0, inFlight: [],
 * } as unknown as ListenerStatus;
 * const [violation] = checkThresholds([listener], { maxPending: 10 });
 * deepEqual(violation.message, "product/created/image_scaler: 12 pending tasks; at most 10 allowed (max-pending)");
 * ```
 */
export function checkThresholds(listeners: readonly ListenerStatus[], thresholds: StatusThresholds): Violation[] {
  const violations: Violation[] = [];
  const add = (listener: string, threshold: ThresholdName, limit: number, found: number, what: string) =>
    violations.push({ listener, threshold, limit, found, message: `${listener}: ${what} (${threshold})` });
  const { maxPending, maxOldestMs, maxErrors, maxInFlightAgeMs } = thresholds;
  for (const status of listeners) {
    const id = status.listener;
    if (maxPending !== undefined && status.pending > maxPending) {
      const what = count(status.pending, "pending task");
      add(id, "max-pending", maxPending, status.pending, `${what}; at most ${maxPending} allowed`);
    }
    const oldest = status.oldestPendingAgeMs;
    if (maxOldestMs !== undefined && oldest !== null && oldest > maxOldestMs) {
      add(
        id,
        "max-oldest",
        maxOldestMs,
        oldest,
        `the oldest pending task, #${status.oldestPending}, is ${formatAge(oldest)} old; ` +
          `at most ${formatAge(maxOldestMs)} allowed`,
      );
    }
    const errors = status.errors + status.quarantined;
    if (maxErrors !== undefined && errors > maxErrors) {
      const quarantined = status.quarantined > 0 ? ` (${status.quarantined} quarantined)` : "";
      const what = `${errors} ${errors === 1 ? "entry" : "entries"} in error/${quarantined}`;
      add(id, "max-errors", maxErrors, errors, `${what}; at most ${maxErrors} allowed`);
    }
    if (maxInFlightAgeMs !== undefined) {
      const late = status.inFlight.filter((task) => task.ageMs !== null && task.ageMs > maxInFlightAgeMs);
      if (late.length > 0) {
        const oldest = late.reduce((a, b) => (b.ageMs! > a.ageMs! ? b : a));
        const others = late.length > 1 ? ` (and ${count(late.length - 1, "other")})` : "";
        add(
          id,
          "max-in-flight-age",
          maxInFlightAgeMs,
          oldest.ageMs!,
          `task #${oldest.sequence} has been in flight for ${formatAge(oldest.ageMs!)}${others}, ` +
            `claimed by ${oldest.worker} (lease ${oldest.lease}); at most ${formatAge(maxInFlightAgeMs)} allowed`,
        );
      }
    }
  }
  return violations;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

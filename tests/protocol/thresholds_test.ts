import { deepEqual, equal } from "node:assert/strict";
import type { InFlightTask, ListenerStatus } from "../../src/protocol/listener_status.ts";
import { checkThresholds } from "../../src/protocol/thresholds.ts";

function listener(extra: Partial<ListenerStatus> = {}): ListenerStatus {
  return {
    listener: "product/created/image_scaler",
    name: "image_scaler",
    eventType: "product/created",
    dir: "/root/product/created/image_scaler_listener",
    state: "ok",
    failingAt: null,
    pending: 0,
    scanned: 0,
    retrying: 0,
    waiting: 0,
    nextDueAt: null,
    oldestPending: null,
    oldestPendingAgeMs: null,
    inFlight: [],
    errors: 0,
    quarantined: 0,
    archived: 0,
    lastDelivery: null,
    lastSequence: null,
    ...extra,
  };
}

function claim(sequence: number, ageMs: number | null, lease: InFlightTask["lease"] = "live"): InFlightTask {
  return { sequence, worker: `host-${sequence}-abc`, since: null, ageMs, lease };
}

const LIMITS = { maxPending: 10, maxOldestMs: 3_600_000, maxErrors: 0, maxInFlightAgeMs: 300_000 };

Deno.test("checkThresholds() accepts values up to their limits", () => {
  const at = listener({
    pending: 10,
    oldestPending: 1,
    oldestPendingAgeMs: 3_600_000,
    inFlight: [claim(1, 300_000), claim(2, null)],
  });
  deepEqual(checkThresholds([at, listener()], LIMITS), []);
  deepEqual(checkThresholds([listener({ pending: 1000, errors: 5 })], {}), [], "no limit, no check");
});

Deno.test("checkThresholds() reports each limit crossed, saying what was found and what is allowed", () => {
  const over = listener({
    pending: 11,
    oldestPending: 4,
    oldestPendingAgeMs: 7_500_000,
    errors: 1,
    quarantined: 1,
    inFlight: [claim(7, 400_000, "expired"), claim(8, 900_000, "missing"), claim(9, 10)],
  });
  const violations = checkThresholds([over, listener({ listener: "audit", errors: 1 })], LIMITS);
  deepEqual(violations.map(({ listener, threshold, limit, found }) => ({ listener, threshold, limit, found })), [
    { listener: "product/created/image_scaler", threshold: "max-pending", limit: 10, found: 11 },
    { listener: "product/created/image_scaler", threshold: "max-oldest", limit: 3_600_000, found: 7_500_000 },
    { listener: "product/created/image_scaler", threshold: "max-errors", limit: 0, found: 2 },
    { listener: "product/created/image_scaler", threshold: "max-in-flight-age", limit: 300_000, found: 900_000 },
    { listener: "audit", threshold: "max-errors", limit: 0, found: 1 },
  ]);
  deepEqual(violations.map((violation) => violation.message), [
    "product/created/image_scaler: 11 pending tasks; at most 10 allowed (max-pending)",
    "product/created/image_scaler: the oldest pending task, #4, is 2h 5m old; at most 1h allowed (max-oldest)",
    "product/created/image_scaler: 2 entries in error/ (1 quarantined); at most 0 allowed (max-errors)",
    "product/created/image_scaler: task #8 has been in flight for 15m (and 1 other), claimed by host-8-abc " +
    "(lease missing); at most 5m allowed (max-in-flight-age)",
    "audit: 1 entry in error/; at most 0 allowed (max-errors)",
  ]);
  equal(checkThresholds([listener({ pending: 2 })], { maxPending: 1 })[0].message.includes("2 pending tasks"), true);
});

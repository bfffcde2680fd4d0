/**
 * Schedule claims on NATS: not offered yet. A tick's claim maps onto a
 * JetStream KV `create` (it fails when the key exists: one claimer wins), a
 * bucket per event stream with a TTL for cleanup; until that is written,
 * every call says what is missing.
 */
import { NotSupportedError } from "../../errors.ts";
import type { ScheduleClaims, ScheduleState } from "../schedules.ts";

const INSTEAD = "run the schedules with a hurah watch on an event root, or dispatch from system cron " +
  "(a KV bucket with create() would claim each tick once; see docs/scale-out.md)";

/** The NATS backend's schedule claims: each call throws `NotSupportedError`. */
export class NatsSchedules implements ScheduleClaims {
  announce(): Promise<ScheduleState> {
    return Promise.reject(new NotSupportedError("recurring schedules (--schedule)", "the NATS backend", INSTEAD));
  }

  claim(): Promise<boolean> {
    return Promise.reject(new NotSupportedError("recurring schedules (--schedule)", "the NATS backend", INSTEAD));
  }

  cleanup(): Promise<number> {
    return Promise.resolve(0);
  }

  list(): Promise<ScheduleState[]> {
    return Promise.reject(new NotSupportedError("listing schedules", "the NATS backend", INSTEAD));
  }
}

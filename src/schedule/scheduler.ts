/**
 * The scheduler of `hurah watch --schedule`: for each schedule, waits for
 * its next tick, claims the tick through the backend (one watcher wins) and
 * dispatches it. At start, the latest tick missed since the schedule's last
 * claimed tick (or since it was first recorded) is dispatched, unless the
 * schedule says `missed: "skip"`; never more than one.
 *
 * @module
 */
import type { Backend, ScheduleState } from "../backend/port.ts";
import type { Delivery } from "../backend/delivery.ts";
import { Dispatcher } from "../dispatcher.ts";
import { nextTick } from "./cron.ts";
import { latestTick, type Schedule, tickPayload } from "./schedule.ts";

/** How long claims of past ticks are kept (the latest is always kept). */
const KEEP_CLAIMS_MS = 24 * 3_600_000;
/** The longest one wait lasts before the clock is read again (a clock that jumps is noticed then). */
const LONGEST_WAIT_MS = 1000;

/** What the scheduler did, for the log. */
export type ScheduleEvent =
  | { type: "tick"; schedule: string; eventType: string; tick: string; missed: boolean; deliveries: Delivery[] }
  | { type: "tick-error"; schedule: string; eventType: string; tick: string; message: string };

/** Options of {@linkcode startScheduler}. */
export interface SchedulerOptions {
  /** Stops the scheduler. */
  signal: AbortSignal;
  /** This process's worker id, written into each claim. */
  worker: string;
  /** What happened. @default {nothing} */
  onEvent?: (event: ScheduleEvent) => void;
  /** The clock. @default {() => new Date()} */
  now?: () => Date;
}

/** Running schedules. */
export interface Scheduler {
  /** Resolves once the signal aborted and every schedule stopped. */
  readonly done: Promise<void>;
}

/**
 * Records the schedules with the backend, then runs them until `signal`
 * aborts. A tick whose claim or dispatch fails is reported (`tick-error`)
 * and not retried: the next tick is waited for.
 *
 * @throws {NotSupportedError} When the backend keeps no schedules (before anything runs).
 */
export async function startScheduler(
  backend: Backend,
  schedules: readonly Schedule[],
  options: SchedulerOptions,
): Promise<Scheduler> {
  const now = options.now ?? (() => new Date());
  const onEvent = options.onEvent ?? (() => {});
  const dispatcher = new Dispatcher(backend);
  const states: ScheduleState[] = [];
  for (const schedule of schedules) {
    const { id, eventType } = schedule;
    const record = { id, cron: schedule.cron.source, timezone: schedule.zone.name, eventType };
    states.push(await backend.schedules.announce(record, now()));
  }
  const fire = async (schedule: Schedule, tick: Date, missed: boolean) => {
    const base = { schedule: schedule.id, eventType: schedule.eventType, tick: tick.toISOString() };
    try {
      if (!await backend.schedules.claim(schedule.id, tick, options.worker)) return;
      const deliveries = await dispatcher.dispatch(schedule.eventType, tickPayload(schedule, tick));
      onEvent({ type: "tick", ...base, missed, deliveries });
      await backend.schedules.cleanup(schedule.id, new Date(tick.getTime() - KEEP_CLAIMS_MS));
    } catch (error) {
      onEvent({ type: "tick-error", ...base, message: (error as Error).message });
    }
  };
  const running = Promise.all(schedules.map(async (schedule, index) => {
    const { since, latest } = states[index];
    let after = now();
    if (schedule.missed === "latest") {
      const missed = latestTick(schedule, latest ?? since, after);
      if (missed !== undefined) await fire(schedule, missed, true);
    }
    while (!options.signal.aborted) {
      const tick = nextTick(schedule.cron, after, schedule.zone);
      if (!await waitUntil(tick.getTime(), now, options.signal)) break;
      // Woken late (a suspended host, a clock set forward): the latest tick passed is the one dispatched.
      const due = latestTick(schedule, new Date(tick.getTime() - 1), now()) ?? tick;
      await fire(schedule, due, due.getTime() !== tick.getTime());
      after = due;
    }
  }));
  return { done: running.then(() => {}) };
}

/** Waits until the clock reaches `at` (epoch ms), reading it again at least every second; `false` when aborted. */
async function waitUntil(at: number, now: () => Date, signal: AbortSignal): Promise<boolean> {
  while (!signal.aborted) {
    const remaining = at - now().getTime();
    if (remaining <= 0) return true;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(remaining, LONGEST_WAIT_MS));
      signal.addEventListener("abort", done, { once: true });
    });
  }
  return false;
}

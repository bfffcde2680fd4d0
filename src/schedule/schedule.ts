/**
 * A recurring schedule, checked: its cron expression parsed, its time zone
 * looked up, its event type and payload checked, and its id, the same for
 * every watcher that is given the same schedule.
 *
 * @module
 */
import { InvalidNameError, ScheduleError } from "../errors.ts";
import { parseEventType } from "../protocol/names.ts";
import { encodePayload, encodePhpJson } from "../protocol/php_json.ts";
import { type CronExpression, nextTick, parseCron, TimeZone } from "./cron.ts";

/** What to do with the ticks missed while no watcher ran: dispatch the latest of them, or none. */
export type MissedTicks = "latest" | "skip";

/** A schedule as a config file or `--schedule` gives it. */
export interface ScheduleSpec {
  /** The cron expression, as `0 3 * * *` or `@daily`. */
  cron: string;
  /** The IANA time zone of its wall times. @default {"UTC"} */
  timezone?: string;
  /** The event type each tick dispatches. */
  eventType: string;
  /** The payload; an object gets the tick's time as `tick` (ISO 8601, UTC). @default {{}} */
  payload?: unknown;
  /** Ticks missed while no watcher ran. @default {"latest"} */
  missed?: MissedTicks;
}

/** A checked schedule. */
export interface Schedule {
  /** Its id: the event type (`/` as `.`) and 16 hex digits of a hash of expression, zone, event type and payload. */
  readonly id: string;
  readonly cron: CronExpression;
  readonly zone: TimeZone;
  readonly eventType: string;
  readonly payload: unknown;
  readonly missed: MissedTicks;
}

/**
 * Checks a schedule: parses its expression, looks its time zone up, checks
 * its event type (as a dispatch would) and its payload, and names it.
 *
 * @throws {ScheduleError} For a bad expression (naming the field), time zone or `missed`.
 * @throws {InvalidNameError} For a bad event type.
 * @throws {PayloadError} For a payload JSON cannot hold.
 */
export async function checkSchedule(spec: ScheduleSpec): Promise<Schedule> {
  const cron = parseCron(spec.cron);
  const zone = new TimeZone(spec.timezone ?? "UTC");
  parseEventType(spec.eventType);
  const missed = spec.missed ?? "latest";
  if (missed !== "latest" && missed !== "skip") {
    throw new ScheduleError(
      "missed",
      String(missed),
      `missed must be "latest" or "skip", found ${JSON.stringify(missed)}`,
    );
  }
  const payload = spec.payload === undefined ? {} : spec.payload;
  const payloadJson = encodePhpJson(encodePayload(payload));
  const canonical = JSON.stringify([cron.source.split(/\s+/).join(" "), zone.name, spec.eventType, payloadJson]);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical)));
  const hex = [...digest.slice(0, 8)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  const id = `${spec.eventType === "" ? "_root" : spec.eventType.replaceAll("/", ".")}-${hex}`;
  return { id, cron, zone, eventType: spec.eventType, payload, missed };
}

/**
 * Parses `--schedule "<cron>=<event_type>"`.
 *
 * @throws {ScheduleError} When there is no `=`, or the expression is bad.
 * @throws {InvalidNameError} When the event type is bad.
 */
export function parseScheduleFlag(text: string): ScheduleSpec {
  const at = text.lastIndexOf("=");
  if (at < 0) {
    throw new ScheduleError(
      "expression",
      text,
      `--schedule expects "<cron>=<event_type>", as "0 3 * * *=report/nightly", found ${JSON.stringify(text)}`,
    );
  }
  const spec = { cron: text.slice(0, at).trim(), eventType: text.slice(at + 1).trim() };
  parseCron(spec.cron);
  try {
    parseEventType(spec.eventType);
  } catch (error) {
    if (error instanceof InvalidNameError) error.message = `--schedule ${JSON.stringify(text)}: ${error.message}`;
    throw error;
  }
  return spec;
}

/** The payload of one tick: the schedule's, with the tick's time as `tick` when it is an object. */
export function tickPayload(schedule: Schedule, tick: Date): unknown {
  const { payload } = schedule;
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) return payload;
  return { ...payload as Record<string, unknown>, tick: tick.toISOString() };
}

/**
 * The latest tick of `schedule` in `(floor, now]`, or `undefined` when none:
 * the one tick to dispatch after downtime. Looks back over windows that
 * double from a minute, so that years of downtime cost a few dozen steps.
 */
export function latestTick(schedule: Schedule, floor: Date, now: Date): Date | undefined {
  const { cron, zone } = schedule;
  for (let window = 60_000;; window *= 2) {
    const lower = Math.max(floor.getTime(), now.getTime() - window);
    let tick = nextTick(cron, new Date(lower), zone);
    if (tick <= now) {
      for (let next = nextTick(cron, tick, zone); next <= now; next = nextTick(cron, next, zone)) tick = next;
      return tick;
    }
    if (lower === floor.getTime()) return undefined;
  }
}

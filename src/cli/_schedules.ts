/**
 * Schedules on the command line: the `schedules` of a config file,
 * `hurah watch --schedule "<cron>=<event_type>"` and `--schedule-missed`,
 * their log lines, and the schedules `hurah status` lists with their next
 * tick.
 *
 * @module
 */
import type { Backend, ScheduleState } from "../backend/port.ts";
import { InvalidNameError, NotSupportedError, PayloadError, ScheduleError } from "../errors.ts";
import { nextTick, parseCron, TimeZone } from "../schedule/cron.ts";
import type { ScheduleEvent } from "../schedule/scheduler.ts";
import {
  checkSchedule,
  type MissedTicks,
  parseScheduleFlag,
  type Schedule,
  type ScheduleSpec,
} from "../schedule/schedule.ts";
import { UsageError } from "./_io.ts";
import { formatTable } from "./_table.ts";

/** The options of `hurah watch` for schedules, for `parseArgs`. */
export const SCHEDULE_OPTIONS = {
  schedule: { type: "string", multiple: true },
  "schedule-missed": { type: "string" },
} as const;

/** Help lines of the schedule options, at column 29 as `hurah watch`'s others. */
export const SCHEDULE_HELP = `  --schedule "CRON=TYPE"     dispatch an event of TYPE at each tick of the
                             cron expression CRON (5 fields or @daily...,
                             UTC), once per tick however many watchers share
                             the root; repeatable (config file: "schedules")
  --schedule-missed latest|skip
                             after downtime, dispatch the latest missed tick
                             (default) or none, for the --schedule ones
`;

const ENTRY_KEYS = ["cron", "timezone", "event_type", "payload", "missed"];

/** Checks the `schedules` of a config file (keys and types; the expressions are parsed by `checkSchedule`). */
export function parseScheduleEntries(value: unknown, fail: (reason: string) => never): ScheduleSpec[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return fail("'schedules' must be an array");
  return value.map((entry, index): ScheduleSpec => {
    const where = `schedules[${index}]`;
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) return fail(`${where} must be an object`);
    for (const key of Object.keys(entry)) {
      if (!ENTRY_KEYS.includes(key)) {
        fail(`unknown key ${JSON.stringify(key)} in ${where}; allowed: ${ENTRY_KEYS.join(", ")}`);
      }
    }
    if (typeof entry.cron !== "string") fail(`${where}.cron must be a string, as "0 3 * * *"`);
    if (typeof entry.event_type !== "string") fail(`${where}.event_type must be a string`);
    if (entry.timezone !== undefined && typeof entry.timezone !== "string") {
      fail(`${where}.timezone must be an IANA time zone name, as "Europe/Amsterdam"`);
    }
    if (entry.missed !== undefined && entry.missed !== "latest" && entry.missed !== "skip") {
      fail(`${where}.missed must be "latest" or "skip", found ${JSON.stringify(entry.missed)}`);
    }
    return {
      cron: entry.cron,
      eventType: entry.event_type,
      ...(entry.timezone === undefined ? {} : { timezone: entry.timezone }),
      ...("payload" in entry ? { payload: entry.payload } : {}),
      ...(entry.missed === undefined ? {} : { missed: entry.missed }),
    };
  });
}

/**
 * The schedules of `hurah watch`: the config file's, then each `--schedule`
 * (with `--schedule-missed`), every one checked.
 *
 * @throws {UsageError} Naming the schedule and what is wrong with it.
 */
export async function watchSchedules(
  values: { schedule?: string[]; "schedule-missed"?: string },
  fromConfig: readonly ScheduleSpec[],
): Promise<Schedule[]> {
  const missed = values["schedule-missed"];
  if (missed !== undefined && missed !== "latest" && missed !== "skip") {
    throw new UsageError(`--schedule-missed must be latest or skip, found ${JSON.stringify(missed)}`);
  }
  if (missed !== undefined && (values.schedule ?? []).length === 0) {
    throw new UsageError("--schedule-missed is for --schedule; add --schedule");
  }
  const specs: [string, () => ScheduleSpec][] = [
    ...fromConfig.map((spec, index): [string, () => ScheduleSpec] => [`schedules[${index}]`, () => spec]),
    ...(values.schedule ?? []).map((text): [string, () => ScheduleSpec] => [
      `--schedule ${JSON.stringify(text)}`,
      () => ({ ...parseScheduleFlag(text), ...(missed === undefined ? {} : { missed: missed as MissedTicks }) }),
    ]),
  ];
  const schedules: Schedule[] = [];
  for (const [where, spec] of specs) {
    try {
      schedules.push(await checkSchedule(spec()));
    } catch (error) {
      if (error instanceof ScheduleError || error instanceof InvalidNameError || error instanceof PayloadError) {
        throw new UsageError(`${where}: ${error.message}`, { hint: false });
      }
      throw error;
    }
  }
  const ids = new Set<string>();
  for (const schedule of schedules) {
    if (ids.has(schedule.id)) {
      throw new UsageError(`schedule ${schedule.cron.source} of ${JSON.stringify(schedule.eventType)} is given twice`);
    }
    ids.add(schedule.id);
  }
  return schedules;
}

/** A log line of the scheduler, in text. */
export function scheduleLine(event: ScheduleEvent): string {
  const what = `schedule ${event.schedule}: tick ${event.tick}`;
  if (event.type === "tick-error") return `hurah watch: ${what} not dispatched: ${event.message}`;
  const listeners = event.deliveries.length === 1 ? "1 listener" : `${event.deliveries.length} listeners`;
  return `hurah watch: ${what}${event.missed ? " (missed)" : ""} dispatched ${JSON.stringify(event.eventType)} to ` +
    listeners;
}

/** One schedule as `hurah status` lists it. */
export interface ScheduleStatus {
  /** The schedule's id (its directory under `.hurah/schedules/`). */
  id: string;
  cron: string;
  timezone: string;
  event_type: string;
  /** Where it was found: the config file given, the root's `.hurah/schedules/` (a watcher ran it), or both. */
  source: "config" | "root" | "config and root";
  /** The latest tick claimed (dispatched, but for a crash between claim and dispatch), ISO 8601; `null` when none. */
  last_tick: string | null;
  /** The next tick after now, ISO 8601; `null` when the recorded expression or zone cannot be read. */
  next_tick: string | null;
}

/**
 * The schedules of a config file and those recorded under the root, with
 * their last and next tick, ordered by event type. A backend that keeps no
 * schedules (NATS) adds none of its own.
 */
export async function scheduleStatus(
  backend: Backend,
  fromConfig: readonly ScheduleSpec[],
  now: Date,
): Promise<ScheduleStatus[]> {
  const byId = new Map<string, ScheduleStatus>();
  for (const schedule of await watchSchedules({}, fromConfig)) {
    byId.set(schedule.id, {
      id: schedule.id,
      cron: schedule.cron.source,
      timezone: schedule.zone.name,
      event_type: schedule.eventType,
      source: "config",
      last_tick: null,
      next_tick: nextTick(schedule.cron, now, schedule.zone).toISOString(),
    });
  }
  let recorded: ScheduleState[] = [];
  try {
    recorded = await backend.schedules.list();
  } catch (error) {
    if (!(error instanceof NotSupportedError)) throw error;
  }
  for (const { record, latest } of recorded) {
    const known = byId.get(record.id);
    const last_tick = latest?.toISOString() ?? null;
    if (known !== undefined) {
      byId.set(record.id, { ...known, source: "config and root", last_tick });
      continue;
    }
    let next_tick: string | null = null;
    try {
      next_tick = nextTick(parseCron(record.cron), now, new TimeZone(record.timezone)).toISOString();
    } catch (error) {
      if (!(error instanceof ScheduleError)) throw error;
    }
    const { id, cron, timezone, eventType } = record;
    byId.set(id, { id, cron, timezone, event_type: eventType, source: "root", last_tick, next_tick });
  }
  return [...byId.values()].sort((a, b) =>
    a.event_type < b.event_type ? -1 : a.event_type > b.event_type ? 1 : a.id < b.id ? -1 : 1
  );
}

/** The schedules as `hurah status` prints them, after the listeners. */
export function formatSchedules(schedules: readonly ScheduleStatus[]): string {
  const rows = schedules.map((each) => [
    JSON.stringify(each.event_type),
    each.cron,
    each.timezone,
    each.last_tick ?? "-",
    each.next_tick ?? "-",
    each.source,
  ]);
  return formatTable(["SCHEDULE", "CRON", "TIME ZONE", "LAST TICK", "NEXT TICK", "FROM"], rows, new Set());
}

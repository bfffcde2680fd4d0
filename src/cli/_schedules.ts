/**
 * Schedules on the command line: the `schedules` of a config file,
 * `hurah watch --schedule "<cron>=<event_type>"` and `--schedule-missed`,
 * their log lines, and the schedules `hurah status` lists with their next
 * tick.
 *
 * @module
 */
import { InvalidNameError, PayloadError, ScheduleError } from "../errors.ts";
import type { ScheduleEvent } from "../schedule/scheduler.ts";
import {
  checkSchedule,
  type MissedTicks,
  parseScheduleFlag,
  type Schedule,
  type ScheduleSpec,
} from "../schedule/schedule.ts";
import { UsageError } from "./_io.ts";

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

/**
 * Cron expressions: the standard five fields (minute, hour, day of month,
 * month, day of week) with `*`, ranges, steps, lists and names, the `@hourly`
 * family, and the next tick after a time in an IANA time zone. Pure, and
 * dependency-free: time zones come from `Intl.DateTimeFormat`.
 *
 * Matching follows Vixie cron: when both day fields are restricted (neither
 * is `*`), a day matches when EITHER matches; otherwise both must. Unlike
 * Vixie cron, which takes any field starting with `*` for `*`, `*\/2` is
 * restricted (as in cron-parser): `0 0 *\/2 * MON` runs on odd days and on
 * Mondays. Across daylight saving time changes it does what
 * cron-parser 4 (the comparison library of the tests) does:
 *
 * - a wall time that does not exist (spring forward) is run at the instant it
 *   would have had with the offset before the change: `30 2 * * *` on the day
 *   Europe/Amsterdam goes from 02:00 to 03:00 runs at 03:30 (01:30 UTC), once;
 * - a wall time that occurs twice (fall back) is run once, at its first
 *   occurrence, when the hour field is restricted (`30 2 * * *`), and at both
 *   when the hour field is `*` (`*\/15 * * * *` keeps running every 15 minutes
 *   through the repeated hour).
 *
 * @module
 */
import { ScheduleError } from "../errors/schedule.ts";

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** The longest a valid expression waits for a matching day: February 29th, across 2100 (not a leap year). */
const SEARCH_DAYS = 9 * 366;

const MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
/** Most days each month can have (February: 29, in leap years). */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  /** Names of the values, from `min` on. */
  names?: string[];
}

const FIELDS: readonly FieldSpec[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTH_NAMES },
  // 7 is Sunday too; folded into 0 once parsed.
  { name: "day of week", min: 0, max: 7, names: DAY_NAMES },
];

const MACROS: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

/** A parsed cron expression: the values each field matches. */
export interface CronExpression {
  /** The expression as given (trimmed). */
  readonly source: string;
  /** Minutes matched (0-59), ascending. */
  readonly minutes: readonly number[];
  /** Hours matched (0-23), ascending. */
  readonly hours: readonly number[];
  /** Days of month matched (1-31). */
  readonly daysOfMonth: ReadonlySet<number>;
  /** Months matched (1-12). */
  readonly months: ReadonlySet<number>;
  /** Days of week matched (0-6, Sunday 0). */
  readonly daysOfWeek: ReadonlySet<number>;
  /** Whether the day-of-month field is `*` (not restricted). */
  readonly everyDayOfMonth: boolean;
  /** Whether the day-of-week field is `*` (not restricted). */
  readonly everyDayOfWeek: boolean;
  /** Whether the hour field covers every hour: a repeated wall time (fall back) then runs twice. */
  readonly everyHour: boolean;
}

/**
 * Parses a cron expression: five fields separated by spaces (minute 0-59,
 * hour 0-23, day of month 1-31, month 1-12 or JAN-DEC, day of week 0-7 or
 * SUN-SAT, 0 and 7 both Sunday), each a list of `*`, `N`, `N-M`, with an
 * optional step `/S` (`*\/5`, `1-10/2`, `5/15` from 5 to the end); names
 * case-insensitive. Or one of `@yearly`, `@annually`, `@monthly`, `@weekly`,
 * `@daily`, `@midnight`, `@hourly`.
 *
 * @param expression The expression, as `0 3 * * *`.
 * @returns The values each field matches.
 * @throws {ScheduleError} Naming the field and what is wrong with it; or the
 * expression, when it has not 5 fields or can never match (`0 0 30 2 *`).
 *
 * @example Parsing an expression
 * ```ts
 * import { parseCron } from "./cron.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(parseCron("0-40/20 9-17 * * MON-FRI").minutes, [0, 20, 40]);
 * ```
 */
export function parseCron(expression: string): CronExpression {
  const source = expression.trim();
  const fail = (field: string, reason: string): never => {
    throw new ScheduleError(field, expression, `Invalid cron expression ${JSON.stringify(expression)}: ${reason}`);
  };
  let text = source;
  if (text.startsWith("@")) {
    const macro = MACROS[text.toLowerCase()];
    if (macro === undefined) {
      fail("expression", `unknown macro ${text}; known: ${Object.keys(MACROS).join(", ")}`);
    }
    text = macro;
  }
  const parts = text.split(/\s+/).filter((part) => part !== "");
  if (parts.length !== 5) {
    fail(
      "expression",
      `expected 5 fields (minute hour day-of-month month day-of-week), found ${parts.length}`,
    );
  }
  const sets = parts.map((part, index) => parseField(part, FIELDS[index], fail));
  const [minutes, hours, daysOfMonth, months, weekdays] = sets;
  const daysOfWeek = new Set([...weekdays].map((day) => day % 7));
  // Restricted unless `*` (as cron-parser; Vixie cron also counts `*/2`, as anything starting with `*`, as `*`).
  const everyDayOfMonth = parts[2] === "*";
  const everyDayOfWeek = parts[4] === "*";
  if (!everyDayOfMonth && everyDayOfWeek) {
    const longest = Math.max(...[...months].map((month) => MONTH_DAYS[month - 1]));
    const first = Math.min(...daysOfMonth);
    if (first > longest) {
      fail("day of month", `day ${first} never occurs in the months given (at most ${longest} days)`);
    }
  }
  return {
    source,
    minutes: [...minutes].sort((a, b) => a - b),
    hours: [...hours].sort((a, b) => a - b),
    daysOfMonth,
    months,
    daysOfWeek,
    everyDayOfMonth,
    everyDayOfWeek,
    everyHour: hours.size === 24,
  };
}

/** The values of one field: a comma-separated list of `*`, `N`, `N-M`, each with an optional `/STEP`. */
function parseField(text: string, spec: FieldSpec, fail: (field: string, reason: string) => never): Set<number> {
  const values = new Set<number>();
  const bad = (reason: string): never => fail(spec.name, `${spec.name} field ${JSON.stringify(text)}: ${reason}`);
  const value = (word: string): number => {
    if (/^\d{1,2}$/.test(word)) {
      const number = Number(word);
      if (number < spec.min || number > spec.max) bad(`${number} is out of range ${spec.min}-${spec.max}`);
      return number;
    }
    const index = spec.names?.indexOf(word.toUpperCase()) ?? -1;
    if (index < 0) {
      const names = spec.names ? ` or a name (${spec.names[0]}-${spec.names.at(-1)})` : "";
      bad(`expected a number ${spec.min}-${spec.max}${names}, found ${JSON.stringify(word)}`);
    }
    return index + (spec.names === MONTH_NAMES ? 1 : 0);
  };
  for (const item of text.split(",")) {
    if (item === "") bad("empty list item");
    const [range, step, extra] = item.split("/");
    if (extra !== undefined) bad(`more than one '/' in ${JSON.stringify(item)}`);
    let every = 1;
    if (step !== undefined) {
      if (!/^\d{1,3}$/.test(step) || Number(step) < 1) {
        bad(`the step must be a whole number of at least 1, found ${JSON.stringify(step)}`);
      }
      every = Number(step);
    }
    let from: number;
    let to: number;
    if (range === "*") {
      [from, to] = [spec.min, spec.max];
    } else if (range.includes("-")) {
      const [low, high, more] = range.split("-");
      if (more !== undefined || low === "" || high === "") bad(`malformed range ${JSON.stringify(range)}`);
      [from, to] = [value(low), value(high)];
      if (from > to) bad(`range ${range} runs backwards (${from} > ${to})`);
    } else {
      from = value(range);
      // `5/15`: from 5 to the end of the range, every 15.
      to = step === undefined ? from : spec.max;
    }
    for (let v = from; v <= to; v += every) values.add(v);
  }
  return values;
}

/**
 * An IANA time zone, for {@linkcode nextTick}: the zone's UTC offset at any
 * instant, from `Intl.DateTimeFormat`.
 */
export class TimeZone {
  /** The zone's canonical name, as `Europe/Amsterdam` or `UTC`. */
  readonly name: string;
  readonly #format: Intl.DateTimeFormat;

  /**
   * Looks a time zone up.
   *
   * @param name An IANA name, as `Europe/Amsterdam`; `UTC` by default.
   * @throws {ScheduleError} When the runtime does not know the zone.
   */
  constructor(name = "UTC") {
    try {
      this.#format = new Intl.DateTimeFormat("en-US", {
        timeZone: name,
        hourCycle: "h23",
        year: "numeric",
        month: "numeric",
        day: "numeric",
        hour: "numeric",
        minute: "numeric",
        second: "numeric",
      });
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      throw new ScheduleError(
        "timezone",
        name,
        `Unknown time zone ${JSON.stringify(name)}: expected an IANA name, as Europe/Amsterdam or UTC`,
        { cause: error },
      );
    }
    this.name = this.#format.resolvedOptions().timeZone;
  }

  /** The zone's offset from UTC at `instant` (epoch ms), in milliseconds: wall time minus UTC. */
  offsetMs(instant: number): number {
    const whole = Math.floor(instant / 1000) * 1000;
    // "3/29/2026, 01:30:00": format() and a match take a fifth of formatToParts()'s time.
    const match = /^(\d+)\/(\d+)\/(\d+),? (\d+):(\d+):(\d+)$/.exec(this.#format.format(whole));
    let wall: number;
    if (match !== null) {
      const [, month, day, year, hour, minute, second] = match.map(Number);
      wall = Date.UTC(year, month - 1, day, hour, minute, second);
    } else {
      const parts: Record<string, number> = {};
      for (const part of this.#format.formatToParts(whole)) {
        if (part.type !== "literal") parts[part.type] = Number(part.value);
      }
      wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
    }
    return wall - whole;
  }
}

/**
 * The first tick of `cron` strictly after `after`, in the time zone `zone`
 * (see the module's notes for daylight saving time changes).
 *
 * @param cron A parsed expression.
 * @param after The time after which to look.
 * @param zone The time zone of the expression's wall times.
 * @returns The tick, on a whole minute.
 *
 * @example The next nightly tick in Amsterdam
 * ```ts
 * import { nextTick, parseCron, TimeZone } from "./cron.ts";
 * import { equal } from "node:assert/strict";
 * const tick = nextTick(parseCron("0 3 * * *"), new Date("2026-07-01T12:00:00Z"), new TimeZone("Europe/Amsterdam"));
 * equal(tick.toISOString(), "2026-07-02T01:00:00.000Z");
 * ```
 */
export function nextTick(cron: CronExpression, after: Date, zone: TimeZone): Date {
  const afterMs = after.getTime();
  let best = Infinity;
  // Walls are naive times: epoch ms of the wall clock read as UTC. The day before `after`'s wall day is looked at
  // too: a fall back can repeat its last hours after `after`.
  let day = Math.floor((afterMs + zone.offsetMs(afterMs)) / DAY_MS) - 1;
  for (let searched = 0; searched < SEARCH_DAYS; searched++, day++) {
    const start = day * DAY_MS;
    // Offsets are at most 14 h off UTC: no tick of this day or later can beat the best one found.
    if (start - 15 * HOUR_MS > best) break;
    if (!dayMatches(cron, start)) continue;
    // The offsets around the day: equal, the day maps to instants by one offset; else a change is near.
    const early = zone.offsetMs(start - 12 * HOUR_MS);
    const late = zone.offsetMs(start + DAY_MS + 12 * HOUR_MS);
    const low = Math.min(early, late);
    const high = Math.max(early, late);
    if (start + DAY_MS - low <= afterMs) continue;
    for (const hour of cron.hours) {
      if (start + (hour + 1) * HOUR_MS - low <= afterMs) continue;
      for (const minute of cron.minutes) {
        const wall = start + hour * HOUR_MS + minute * MINUTE_MS;
        if (wall - low <= afterMs) continue;
        if (wall - high > best) break;
        const instant = early === late
          ? wall - early
          : firstInstantAfter(wallInstants(cron, wall, early, late, zone), afterMs);
        if (instant !== undefined && instant > afterMs && instant < best) best = instant;
      }
      if (start + hour * HOUR_MS - high > best) break;
    }
  }
  if (best === Infinity) {
    throw new ScheduleError("expression", cron.source, `cron expression ${cron.source} has no tick within 9 years`);
  }
  return new Date(best);
}

/** Whether the naive day starting at `start` matches the month and day fields (the Vixie cron rule). */
function dayMatches(cron: CronExpression, start: number): boolean {
  const date = new Date(start);
  if (!cron.months.has(date.getUTCMonth() + 1)) return false;
  const byMonth = cron.daysOfMonth.has(date.getUTCDate());
  const byWeek = cron.daysOfWeek.has(date.getUTCDay());
  if (cron.everyDayOfMonth) return byWeek;
  if (cron.everyDayOfWeek) return byMonth;
  return byMonth || byWeek;
}

/**
 * The instants a wall time is run at, near an offset change (`early` is the
 * offset before it, `late` after): one when the wall time exists once; none
 * of its own when it falls in a gap, so the instant it has with the offset
 * before; its first occurrence (and, when the hour field is `*`, its second)
 * when it occurs twice.
 */
function wallInstants(cron: CronExpression, wall: number, early: number, late: number, zone: TimeZone): number[] {
  const before = wall - early;
  const after = wall - late;
  const found = [before, after].filter((instant, index) => zone.offsetMs(instant) === (index === 0 ? early : late));
  if (found.length === 0) return [before];
  if (found.length === 2 && found[0] !== found[1]) {
    const ordered = found.sort((a, b) => a - b);
    return cron.everyHour ? ordered : [ordered[0]];
  }
  return [found[0]];
}

function firstInstantAfter(instants: number[], afterMs: number): number | undefined {
  return instants.find((instant) => instant > afterMs);
}

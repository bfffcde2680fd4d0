/**
 * The file backend's schedule claims: under `<root>/.hurah/schedules/`, one
 * directory per schedule (`<id>/`) holding `schedule.json` (what the schedule
 * is, and since when it is known) and one marker per claimed tick,
 * `<YYYYMMDDTHHMM>Z.tick`, created exclusively (`O_EXCL`): of all the watchers
 * that try, one creates it, and that one dispatches the tick. See
 * docs/protocol.md, "Schedules".
 */
import { join } from "node:path";
import { UnsafePathError } from "../../errors.ts";
import type { ScheduleClaims, ScheduleRecord, ScheduleState } from "../schedules.ts";
import { lstatIfExists } from "./_dir.ts";
import { isAlreadyExists, isNotFound, syncDir, writeFileSynced } from "./_fs.ts";

/** Where shared hurah state lives in an event root: a name no event type segment can have. */
const STATE_DIR = ".hurah";
const SCHEDULES_DIR = "schedules";
const RECORD = "schedule.json";
const MARKER = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})Z\.tick$/;

/** The marker name of a tick (a whole minute, UTC). */
export function markerName(tick: Date): string {
  const iso = tick.toISOString(); // 2026-12-02T03:00:00.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}Z.tick`;
}

/** The tick of a marker name, or `undefined` for any other name. */
function tickOf(name: string): Date | undefined {
  const match = MARKER.exec(name);
  if (match === null) return undefined;
  const [, year, month, day, hour, minute] = match.map(Number);
  return new Date(Date.UTC(year, month - 1, day, hour, minute));
}

/** The claims of one event root. */
export class FileSchedules implements ScheduleClaims {
  readonly #dir: string;

  constructor(root: string, readonly durable = true) {
    this.#dir = join(root, STATE_DIR, SCHEDULES_DIR);
  }

  async announce(record: ScheduleRecord, now: Date): Promise<ScheduleState> {
    const dir = await this.#scheduleDir(record.id, true);
    const path = join(dir, RECORD);
    const text = JSON.stringify(
      {
        cron: record.cron,
        timezone: record.timezone,
        event_type: record.eventType,
        since: now.toISOString(),
      },
      null,
      2,
    ) + "\n";
    // Written whole, then linked into place: a reader sees all of it or nothing, and the first writer wins.
    const staging = join(dir, `.${RECORD}.${crypto.randomUUID()}`);
    await writeFileSynced(staging, text, this.durable);
    try {
      await Deno.link(staging, path);
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
    } finally {
      await Deno.remove(staging);
    }
    return await this.#state(record.id, dir) ?? { record, since: now, latest: null };
  }

  async claim(id: string, tick: Date, by: string): Promise<boolean> {
    const dir = await this.#scheduleDir(id, true);
    const text = JSON.stringify({ tick: tick.toISOString(), claimed_by: by, claimed_at: new Date().toISOString() });
    try {
      await Deno.writeTextFile(join(dir, markerName(tick)), text + "\n", { createNew: true });
    } catch (error) {
      if (isAlreadyExists(error)) return false;
      throw error;
    }
    if (this.durable) await syncDir(dir);
    return true;
  }

  async cleanup(id: string, before: Date): Promise<number> {
    const dir = await this.#scheduleDir(id, false);
    if (dir === undefined) return 0;
    const ticks = await markers(dir);
    let removed = 0;
    // The latest stays: it is where a restarted watcher looks for missed ticks.
    for (const [name, tick] of ticks.slice(0, -1)) {
      if (tick >= before) break;
      try {
        await Deno.remove(join(dir, name));
        removed++;
      } catch (error) {
        if (!isNotFound(error)) throw error; // removed by another watcher meanwhile
      }
    }
    return removed;
  }

  async list(): Promise<ScheduleState[]> {
    if (!await this.#checkedDir(this.#dir)) return [];
    const states: ScheduleState[] = [];
    for await (const entry of Deno.readDir(this.#dir)) {
      if (!entry.isDirectory || entry.name.startsWith(".")) continue;
      const state = await this.#state(entry.name, join(this.#dir, entry.name));
      if (state !== undefined) states.push(state);
    }
    return states.sort((a, b) => a.record.id < b.record.id ? -1 : a.record.id > b.record.id ? 1 : 0);
  }

  /** What `schedule.json` and the markers of a schedule say; `undefined` without a readable `schedule.json`. */
  async #state(id: string, dir: string): Promise<ScheduleState | undefined> {
    let data;
    try {
      data = JSON.parse(await Deno.readTextFile(join(dir, RECORD)));
    } catch (error) {
      if (isNotFound(error) || error instanceof SyntaxError) return undefined;
      throw error;
    }
    const ticks = await markers(dir);
    return {
      record: { id, cron: String(data.cron), timezone: String(data.timezone), eventType: String(data.event_type) },
      since: new Date(data.since),
      latest: ticks.at(-1)?.[1] ?? null,
    };
  }

  /** A schedule's directory, created when `create`; `undefined` when it does not exist and not `create`. */
  async #scheduleDir(id: string, create: true): Promise<string>;
  async #scheduleDir(id: string, create: false): Promise<string | undefined>;
  async #scheduleDir(id: string, create: boolean): Promise<string | undefined> {
    const dir = join(this.#dir, id);
    if (create) {
      // One level at a time, each checked: a link standing for .hurah or .hurah/schedules is refused, not followed.
      for (const path of [join(this.#dir, ".."), this.#dir, dir]) {
        if (await this.#checkedDir(path)) continue;
        try {
          await Deno.mkdir(path);
        } catch (error) {
          if (!isAlreadyExists(error)) throw error; // made by another watcher meanwhile
        }
      }
    }
    return await this.#checkedDir(dir) ? dir : undefined;
  }

  /** Whether a directory exists; a link or a file standing there is refused. */
  async #checkedDir(path: string): Promise<boolean> {
    const info = await lstatIfExists(path);
    if (info === undefined) return false;
    if (info.isSymlink) throw new UnsafePathError(path, "is a symbolic link; hurah does not follow links in the root");
    if (!info.isDirectory) throw new UnsafePathError(path, "expected a directory, found a file");
    return true;
  }
}

/** The markers of a schedule directory with their ticks, oldest first. */
async function markers(dir: string): Promise<[string, Date][]> {
  const found: [string, Date][] = [];
  for await (const entry of Deno.readDir(dir)) {
    const tick = tickOf(entry.name);
    if (tick !== undefined && entry.isFile) found.push([entry.name, tick]);
  }
  return found.sort((a, b) => a[1].getTime() - b[1].getTime());
}

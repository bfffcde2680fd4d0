/**
 * The listeners a dispatch reaches, looked up without listing directories
 * on every dispatch: the listing of each event type level is kept, with the
 * identity (device, inode) and modification time of the level's directory,
 * and used again while one stat of each level shows them unchanged. Adding,
 * removing or replacing an entry in a directory (a listener directory, the
 * next level's directory) changes its modification time, in this process or
 * any other, so the kept listing is the one a listing would give now.
 *
 * Deno reports modification times in milliseconds, and a file system stamps
 * them from a coarse clock: two changes within one tick leave the same time.
 * A listing whose directory was modified within the last `SETTLE_MS` is
 * therefore used once and never trusted again: the next dispatch lists that
 * directory anew, until its time is old enough that any later change must
 * show as a different time.
 */
import { join } from "node:path";
import { UnsafePathError } from "../../errors.ts";
import { listenerId } from "../../protocol/listener_id.ts";
import { LISTENER_SUFFIX } from "../../protocol/names.ts";
import type { ListenerRef } from "./_types.ts";

/**
 * How old (in milliseconds, by this process's clock) a directory's
 * modification time must be for its listing to be kept: more than a file
 * system clock tick (1 to 10 ms) plus the millisecond Deno rounds to.
 */
export const SETTLE_MS = 50;

/** One level of an event type, as listed: its directory's identity and time, and the listeners in it. */
interface Level {
  path: string;
  dev: number;
  ino: number;
  /** The directory's modification time when it was listed; NaN when too recent to be trusted. */
  mtimeMs: number;
  listeners: ListenerRef[];
}

/** The listings of the event types dispatched to, each by its levels from the root down. */
export class ListenerLookup {
  readonly #root: string;
  readonly #levels = new Map<string, Level[]>();
  readonly #now: () => number;

  /** `root` is absolute and normalized; `now` is the clock compared with modification times. */
  constructor(root: string, now: () => number = Date.now) {
    this.#root = root;
    this.#now = now;
  }

  /**
   * Every listener of the type's levels, deepest level first, each level by
   * name, and whether they were listed just now (rather than kept: a
   * listener directory may then have been removed and made again).
   * `statRoot` stats the root (following a link, as the root may be one)
   * and throws when it is missing or not a directory.
   */
  listenersFor(
    segments: readonly string[],
    statRoot: () => Deno.FileInfo,
  ): { listeners: ListenerRef[]; listed: boolean } {
    const key = segments.join("/");
    const cached = this.#levels.get(key);
    const root = statRoot();
    if (cached !== undefined && this.#unchanged(cached, root)) return { listeners: collect(cached), listed: false };
    const levels = this.#list(segments, root);
    this.#levels.set(key, levels);
    return { listeners: collect(levels), listed: true };
  }

  /** Whether every level's directory is the one listed, unmodified since. */
  #unchanged(levels: readonly Level[], root: Deno.FileInfo): boolean {
    for (const [depth, level] of levels.entries()) {
      let info: Deno.FileInfo;
      try {
        info = depth === 0 ? root : Deno.lstatSync(level.path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return false;
        throw error;
      }
      if (!same(level, info)) return false;
    }
    return true;
  }

  /** Lists the levels from the root down, each directory stat'ed before it is listed. */
  #list(segments: readonly string[], root: Deno.FileInfo): Level[] {
    const levels: Level[] = [];
    let dir = this.#root;
    let info = root;
    for (let depth = 0; depth <= segments.length; depth++) {
      const levelType = segments.slice(0, depth).join("/");
      const next = segments[depth];
      const listeners: ListenerRef[] = [];
      let nextEntry: Deno.DirEntry | undefined;
      for (const entry of Deno.readDirSync(dir)) {
        if (entry.name === next) nextEntry = entry;
        if (!entry.name.endsWith(LISTENER_SUFFIX) || entry.name.length === LISTENER_SUFFIX.length) continue;
        const path = join(dir, entry.name);
        if (entry.isSymlink) throw new UnsafePathError(path, "listener directory is a symbolic link");
        if (!entry.isDirectory) continue;
        const name = entry.name.slice(0, -LISTENER_SUFFIX.length);
        listeners.push({ name, eventType: levelType, id: listenerId(name, levelType), dir: path });
      }
      listeners.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
      const mtimeMs = info.mtime?.getTime() ?? NaN;
      const settled = this.#now() - mtimeMs >= SETTLE_MS; // false for NaN and for a time ahead of the clock
      levels.push({ path: dir, dev: info.dev, ino: info.ino ?? NaN, mtimeMs: settled ? mtimeMs : NaN, listeners });
      if (next === undefined) break;
      const nextDir = join(dir, next);
      // No directory for the rest of the type: no listener below, and none is made (PHP's dispatcher makes them,
      // but its runner and hurah's make their own), so that a type nobody listens to leaves nothing behind.
      if (nextEntry === undefined) break;
      if (nextEntry.isSymlink) throw new UnsafePathError(nextDir, "event type directory is a symbolic link");
      if (!nextEntry.isDirectory) throw new UnsafePathError(nextDir, "expected an event type directory, found a file");
      dir = nextDir;
      try {
        info = Deno.lstatSync(dir);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        // Removed since it was listed: as if it had not been there.
        break;
      }
      if (!info.isDirectory) {
        // Replaced since it was listed: the next dispatch lists the level above again (its time changed).
        break;
      }
    }
    return levels;
  }
}

/** Whether a directory's stat shows the directory listed, unmodified since (never for an untrusted listing). */
function same(level: Level, info: Deno.FileInfo): boolean {
  return info.isDirectory && info.dev === level.dev && info.ino === level.ino &&
    info.mtime?.getTime() === level.mtimeMs;
}

/** The listeners of the levels, deepest level first. */
function collect(levels: readonly Level[]): ListenerRef[] {
  const listeners: ListenerRef[] = [];
  for (let depth = levels.length - 1; depth >= 0; depth--) listeners.push(...levels[depth].listeners);
  return listeners;
}

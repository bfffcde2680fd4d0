/**
 * What a long-lived reader (the dashboard) learnt from listing a listener's
 * state directories, kept while the directory is unchanged. Listing is what
 * a scan of a large root costs (Deno's `readDir` takes 3–5 µs an entry, so a
 * million tasks take seconds); a directory's mtime changes whenever an entry
 * is added, removed or renamed in it, so one `lstat` tells whether the last
 * listing still holds.
 *
 * Deno reports mtimes to the millisecond, and the kernel stamps them from a
 * coarse clock: a change made in the same millisecond as the listing could
 * leave the mtime as it was. So a listing is reused only when the directory
 * had been unchanged for {@linkcode SETTLED_MS} when it was made; a
 * directory that changes all the time is listed each time.
 *
 * @module
 */
import { join } from "node:path";
import { readStateDir, stateDirInfo } from "./_dir.ts";

/** How long a directory must have been unchanged before its listing may be reused. */
export const SETTLED_MS = 1000;

/** One remembered listing's summary. */
interface Remembered {
  ino: number | null;
  mtimeMs: number;
  /** When the listing began (`Date.now()`, the clock the kernel stamps mtimes with). */
  listedAt: number;
  summary: unknown;
}

/** The summaries of listings, by directory path. */
export class Listings {
  readonly #remembered = new Map<string, Remembered>();
  #seen = new Set<string>();

  /**
   * `summarize` of the entries of `<listenerDir>/<state>` (as
   * {@linkcode readStateDir} gives them), from the last listing when the
   * directory is unchanged since; `summarize([])` when it does not exist.
   * Each kind of summary must use its own `kind`.
   */
  async summary<T>(
    listenerDir: string,
    state: string,
    kind: string,
    summarize: (entries: Deno.DirEntry[]) => T,
  ): Promise<T> {
    const path = join(listenerDir, state);
    const key = `${kind}\0${path}`;
    this.#seen.add(key);
    const info = await stateDirInfo(listenerDir, state);
    if (info === undefined) {
      this.#remembered.delete(key);
      return summarize([]);
    }
    const mtimeMs = info.mtime?.getTime();
    const last = this.#remembered.get(key);
    if (
      last !== undefined && mtimeMs !== undefined && last.mtimeMs === mtimeMs && last.ino === info.ino &&
      mtimeMs <= last.listedAt - SETTLED_MS
    ) {
      return last.summary as T;
    }
    const listedAt = Date.now();
    const summary = summarize(await readStateDir(listenerDir, state));
    if (mtimeMs !== undefined) this.#remembered.set(key, { ino: info.ino, mtimeMs, listedAt, summary });
    return summary;
  }

  /** Forgets the directories not asked about since the last call: listeners removed, or no longer scanned. */
  sweep(): void {
    for (const key of this.#remembered.keys()) if (!this.#seen.has(key)) this.#remembered.delete(key);
    this.#seen = new Set();
  }
}

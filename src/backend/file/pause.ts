import { join } from "node:path";
import { Layout } from "../../protocol/layout.ts";
import { listenerId } from "../../protocol/listener_id.ts";
import type { ListenerPause } from "../../protocol/listener_status.ts";
import { FileStore } from "./file_store.ts";
import { findListener } from "./listeners.ts";
import { ensureStateDir } from "./_dir.ts";
import { isNotFound, isTaken, lstatOrUndefined, readTextIfExists, removeIfExists, writeFileSynced } from "./_fs.ts";
import type { PauseOptions, PauseReport, ResumeOptions, ResumeReport } from "../operations.ts";

export type { PauseOptions, PauseReport, ResumeOptions, ResumeReport } from "../operations.ts";

/**
 * Pauses a listener: writes its pause marker, `<listener>/paused.json` (who,
 * on which host, since when, why), staged in `tmp/` and renamed into place.
 * While it is there, no hurah runner takes a new task of the listener
 * (`hurah run` takes none, `hurah watch` stops taking after the tasks it is
 * running, in every process); dispatches still reach its inbox. Pausing a
 * paused listener replaces the marker. A PHP runner does not know the
 * marker and goes on taking tasks.
 *
 * Requires `--allow-read` and `--allow-write` on the event root, and
 * `--allow-sys=hostname` for the host name.
 *
 * @param root The event root.
 * @param options The listener, and who pauses it and why.
 * @returns The pause now in force, and the one it replaced.
 * @throws {ListenerNotFoundError} When the listener does not exist.
 * @throws {InvalidNameError} When the listener id is invalid.
 * @throws {UnsafePathError} When a link stands where a directory should be.
 *
 * @example Pausing a listener while its mail server is down
 * ```ts ignore
 * import { pause } from "jsr:@hurah/events";
 * await pause("/var/lib/hurah", { listener: "user/signup/mailer", reason: "mail server down", by: "alice" });
 * ```
 */
export async function pause(root: string, options: PauseOptions): Promise<PauseReport> {
  const ref = await findListener(root, options.listener);
  const paused: ListenerPause = {
    since: (options.now ?? (() => new Date()))().toISOString(),
    by: options.by ?? `pid ${Deno.pid}`,
    host: hostName(),
    reason: options.reason ?? null,
  };
  const previous = readPause(ref.dir);
  await ensureStateDir(ref.dir, Layout.TMP);
  const staged = new FileStore(root).stagingPath(ref, "pause");
  try {
    await writeFileSynced(staged, JSON.stringify(paused) + "\n", true);
    await Deno.rename(staged, join(ref.dir, Layout.PAUSED));
  } finally {
    removeIfExists(staged);
  }
  return { listener: listenerId(ref.name, ref.eventType), paused, previous };
}

/**
 * Resumes a paused listener: takes its pause marker away (renamed into
 * `tmp/` first, so that the pause reported is the one removed), and runners
 * take its tasks again (`hurah watch` within a second).
 *
 * Requires `--allow-read` and `--allow-write` on the event root.
 *
 * @param root The event root.
 * @param options The listener.
 * @returns The pause it ended, or `null` when the listener was not paused.
 * @throws {ListenerNotFoundError} When the listener does not exist.
 * @throws {InvalidNameError} When the listener id is invalid.
 * @throws {UnsafePathError} When a link stands where a directory should be.
 *
 * @example Resuming a listener
 * ```ts ignore
 * import { resume } from "jsr:@hurah/events";
 * const { resumed } = await resume("/var/lib/hurah", { listener: "user/signup/mailer" });
 * if (resumed === null) console.log("it was not paused");
 * ```
 */
export async function resume(root: string, options: ResumeOptions): Promise<ResumeReport> {
  const ref = await findListener(root, options.listener);
  const listener = listenerId(ref.name, ref.eventType);
  await ensureStateDir(ref.dir, Layout.TMP);
  const taken = new FileStore(root).stagingPath(ref, "resume");
  try {
    await Deno.rename(join(ref.dir, Layout.PAUSED), taken);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    return { listener, resumed: null };
  }
  try {
    return { listener, resumed: decodePause(readTextIfExists(taken)) };
  } finally {
    removeIfExists(taken);
  }
}

/**
 * The pause marker of a listener directory, or `null` when there is none:
 * one `access(2)` when the listener is not paused. A marker that cannot be
 * read as one (not a regular file, not JSON) still pauses the listener,
 * with a reason that says what is wrong with it.
 */
export function readPause(listenerDir: string): ListenerPause | null {
  const path = join(listenerDir, Layout.PAUSED);
  if (!isTaken(path)) return null;
  const info = lstatOrUndefined(path);
  if (info === undefined) return null; // resumed meanwhile
  if (!info.isFile) return unreadable(info, `${Layout.PAUSED} is not a regular file`);
  return decodePause(readTextIfExists(path), info);
}

/** A marker's text as a pause; one that cannot be read as one is a pause too, saying so. */
function decodePause(text: string | undefined, info?: Deno.FileInfo): ListenerPause | null {
  if (text === undefined) return null;
  let record: Partial<Record<keyof ListenerPause, unknown>>;
  try {
    record = JSON.parse(text);
  } catch (error) {
    return unreadable(info, `${Layout.PAUSED} is not JSON (${(error as Error).message})`);
  }
  if (record === null || typeof record !== "object") {
    return unreadable(info, `${Layout.PAUSED} is not a JSON object`);
  }
  const string = (value: unknown, otherwise: string) => typeof value === "string" ? value : otherwise;
  return {
    since: string(record.since, info?.mtime?.toISOString() ?? "unknown"),
    by: string(record.by, "unknown"),
    host: string(record.host, "unknown"),
    reason: typeof record.reason === "string" ? record.reason : null,
  };
}

function unreadable(info: Deno.FileInfo | undefined, problem: string): ListenerPause {
  return {
    since: info?.mtime?.toISOString() ?? "unknown",
    by: "unknown",
    host: "unknown",
    reason: `${problem}; paused until it is removed (hurah resume)`,
  };
}

/** This host's name, or `unknown host` when it may not be read (asking would prompt). */
export function hostName(): string {
  const granted = Deno.permissions.querySync?.({ name: "sys", kind: "hostname" }).state === "granted";
  return granted ? Deno.hostname() : "unknown host";
}

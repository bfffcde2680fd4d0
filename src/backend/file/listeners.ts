import { join } from "node:path";
import { ListenerNotFoundError, UnsafePathError } from "../../errors.ts";
import { listenerId, parseListenerId } from "../../protocol/listener_id.ts";
import { LISTENER_SUFFIX, MAX_SEGMENTS, parseEventType } from "../../protocol/names.ts";
import { FileStore, type ListenerRef } from "./file_store.ts";
import { lstatIfExists } from "./_dir.ts";

function isTypeSegment(name: string): boolean {
  try {
    return parseEventType(name).length === 1;
  } catch {
    return false;
  }
}

/**
 * Every listener under an event root, found by walking the event type
 * directories, ordered by listener id. Symbolic links are never followed:
 * a linked type or listener directory is skipped, and so is anything whose
 * name is not a valid event type segment (dotfiles among them).
 *
 * Requires `--allow-read` on the event root.
 *
 * @param root The event root.
 * @returns The listeners: handler name, event type and directory.
 * @throws {UnsafePathError} When the root does not exist or is not a directory.
 *
 * @example Listing the listeners of a root
 * ```ts ignore
 * import { listListeners } from "jsr:@hurah/events";
 * for (const listener of await listListeners("/var/lib/hurah")) {
 *   console.log(listener.id, listener.dir);
 * }
 * ```
 */
export async function listListeners(root: string): Promise<ListenerRef[]> {
  const store = new FileStore(root);
  store.checkRoot();
  const found: ListenerRef[] = [];
  const walk = async (dir: string, segments: string[]): Promise<void> => {
    const subdirs: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isDirectory) continue; // files, and links, which are never followed
      if (entry.name.endsWith(LISTENER_SUFFIX) && entry.name.length > LISTENER_SUFFIX.length) {
        const name = entry.name.slice(0, -LISTENER_SUFFIX.length);
        const eventType = segments.join("/");
        found.push({ name, eventType, id: listenerId(name, eventType), dir: join(dir, entry.name) });
      } else if (segments.length < MAX_SEGMENTS && isTypeSegment(entry.name)) {
        subdirs.push(entry.name);
      }
    }
    for (const name of subdirs) await walk(join(dir, name), [...segments, name]);
  };
  await walk(store.root, []);
  return found.sort((a, b) => compare(a.id, b.id));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The listener named by a listener id (`product/created/image_scaler`, or
 * `audit` for the root type), checking that its directory exists. No path
 * component below the root may be a symbolic link.
 *
 * Requires `--allow-read` on the event root.
 *
 * @param root The event root.
 * @param id The listener id.
 * @returns The listener: handler name, event type, id and directory.
 * @throws {InvalidNameError} When the id is not a valid listener id.
 * @throws {ListenerNotFoundError} When its directory does not exist.
 * @throws {UnsafePathError} When a symbolic link stands on the way.
 *
 * @example Finding a listener
 * ```ts ignore
 * import { findListener } from "jsr:@hurah/events";
 * const listener = await findListener("/var/lib/hurah", "product/created/image_scaler");
 * console.log(listener.dir);
 * ```
 */
export async function findListener(root: string, id: string): Promise<ListenerRef> {
  const listener = parseListenerId(id);
  const { name, eventType } = listener;
  const store = new FileStore(root);
  store.checkRoot();
  let dir = store.root;
  const parts = [...parseEventType(eventType), name + LISTENER_SUFFIX];
  for (const part of parts) {
    dir = join(dir, part);
    const info = await lstatIfExists(dir);
    const expected = join(store.root, ...parts);
    if (info === undefined) throw new ListenerNotFoundError(id, expected);
    if (info.isSymlink) throw new UnsafePathError(dir, "is a symbolic link; hurah does not follow links in the root");
    if (!info.isDirectory) throw new ListenerNotFoundError(id, expected, `a file at ${dir}`);
  }
  return { ...listener, dir };
}

/**
 * Delayed events on files: each waits in `<root>/.hurah/delayed/` (outside
 * every inbox, so no runner, PHP's included, sees it early) and is delivered
 * when due, with the listeners of that moment, through the normal delivery
 * (so it gets its sequence numbers then). One process delivers at a time
 * (`deliver.lock`), and a journal makes a pass cut short by a crash finish
 * without delivering anything twice. See docs/protocol.md, "Delayed events".
 */
import { join, relative } from "node:path";
import { LockTimeoutError } from "../../errors.ts";
import {
  decodeDelayed,
  decodeJournal,
  delayedFileName,
  DelayedLayout,
  type DelayedRecord,
  dueOfFileName,
  encodeDelayed,
  encodeJournalLine,
  HURAH_DIR,
  type Journal,
  type JournalLine,
} from "../../protocol/delayed.ts";
import { Layout } from "../../protocol/layout.ts";
import { parseEventType } from "../../protocol/names.ts";
import { encodeNewTask, formatDelivery } from "../../protocol/task_file.ts";
import type { DelayedStatus } from "../../protocol/listener_status.ts";
import type { DueDelivery, ScheduledEvent, ScheduleEvent, WaitOptions } from "../port.ts";
import { ensureStateDir, lstatIfExists } from "./_dir.ts";
import { isNotFound, lockFile, readTextIfExists, removeIfExists, syncDir, syncFile, writeFileSynced } from "./_fs.ts";
import { readTracking } from "./_numbering.ts";
import type { FileStore, ListenerRef } from "./file_store.ts";

/** The most delayed events one pass delivers; the rest wait for the next pass, at once. */
const PASS_LIMIT = 512;

/**
 * How many delayed events wait under a root, and when the first is due;
 * `undefined` when none waits. Reads no delayed file (the names say it).
 */
export async function delayedStatus(root: string): Promise<DelayedStatus | undefined> {
  const dir = join(root, DelayedLayout.DIR);
  const info = await lstatIfExists(dir);
  if (info === undefined || !info.isDirectory) return undefined;
  let waiting = 0;
  let first = Infinity;
  for await (const entry of Deno.readDir(dir)) {
    const due = entry.isFile ? dueOfFileName(entry.name) : undefined;
    if (due === undefined) continue;
    waiting++;
    first = Math.min(first, due);
  }
  return waiting === 0 ? undefined : { waiting, nextDueAt: new Date(first).toISOString() };
}

/** A due event of a pass, read. */
interface DueEvent {
  name: string;
  record: DelayedRecord;
  segments: string[];
}

/** The delayed events of one event root. */
export class DelayedStore {
  /** `<root>/.hurah/delayed`. */
  readonly dir: string;
  readonly #store: FileStore;
  readonly #durable: boolean;
  readonly #now: () => Date;
  readonly #prefix = `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  #counter = 0;

  constructor(store: FileStore, options: { durable: boolean; now: () => Date }) {
    this.#store = store;
    this.dir = join(store.root, DelayedLayout.DIR);
    this.#durable = options.durable;
    this.#now = options.now;
  }

  /** Writes the event's file (staged in `tmp/`, flushed when durable, renamed into place). */
  async schedule(event: ScheduleEvent): Promise<ScheduledEvent> {
    this.#store.checkRoot();
    await ensureStateDir(this.#store.root, HURAH_DIR);
    await ensureStateDir(join(this.#store.root, HURAH_DIR), "delayed");
    await ensureStateDir(this.dir, DelayedLayout.TMP);
    const name = delayedFileName(event.notBefore, event.eventId);
    const staged = join(this.dir, DelayedLayout.TMP, `${name}.${this.#prefix}.${++this.#counter}.tmp`);
    try {
      await writeFileSynced(staged, encodeDelayed(event), this.#durable);
      Deno.renameSync(staged, join(this.dir, name)); // the event id makes the name this dispatch's own
    } catch (error) {
      removeIfExists(staged);
      throw error;
    }
    if (this.#durable) await syncDir(this.dir);
    return {
      scheduled: true,
      eventType: event.eventType,
      eventId: event.eventId,
      notBefore: event.notBefore.toISOString(),
      location: join(this.dir, name),
    };
  }

  /**
   * Delivers every event due at `now`, under `deliver.lock`; a pass a crash
   * (or an error) cut short is finished first. Returns at once when nothing
   * is due; `busy` when another process holds the lock past `wait`.
   */
  async deliverDue(now: Date, wait: WaitOptions = {}): Promise<DueDelivery> {
    const at = now.getTime();
    const first = this.#list(at);
    if (first.due.length === 0 && !first.journal) return { events: 0, deliveries: 0, nextDueAt: first.next };
    let lock: Deno.FsFile;
    try {
      lock = await lockFile(join(this.dir, DelayedLayout.LOCK), {
        timeoutMs: wait.timeoutMs ?? 0,
        signal: wait.signal,
        onWait: wait.onWait,
      });
    } catch (error) {
      if (!(error instanceof LockTimeoutError)) throw error;
      return { events: 0, deliveries: 0, nextDueAt: first.next, busy: true };
    }
    const result: DueDelivery = { events: 0, deliveries: 0 };
    try {
      const journalText = readTextIfExists(join(this.dir, DelayedLayout.JOURNAL));
      const journal = journalText === undefined ? undefined : decodeJournal(journalText);
      if (journal !== undefined) this.#add(result, await this.#pass(journal.events, journal));
      else if (journalText !== undefined) removeIfExists(join(this.dir, DelayedLayout.JOURNAL)); // it began nothing
      for (;;) {
        // Listed again under the lock: another process may have delivered them meanwhile.
        const { due, next } = this.#list(at);
        result.nextDueAt = next;
        if (due.length === 0) break;
        this.#add(result, await this.#pass(due.slice(0, PASS_LIMIT), undefined));
        if (due.length <= PASS_LIMIT) break;
      }
    } finally {
      lock.close();
    }
    return result;
  }

  #add(result: DueDelivery, pass: { events: number; deliveries: number }): void {
    result.events += pass.events;
    result.deliveries += pass.deliveries;
  }

  /** The delayed files due at `at` (by name: due time, then event id), the next due time after, and whether a journal is there. */
  #list(at: number): { due: string[]; next?: number; journal: boolean } {
    const due: string[] = [];
    let next = Infinity;
    let journal = false;
    try {
      for (const entry of Deno.readDirSync(this.dir)) {
        if (entry.name === DelayedLayout.JOURNAL) journal = true;
        if (!entry.isFile) continue;
        const dueAt = dueOfFileName(entry.name);
        if (dueAt === undefined) continue;
        if (dueAt <= at) due.push(entry.name);
        else next = Math.min(next, dueAt);
      }
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    due.sort();
    return { due, next: Number.isFinite(next) ? next : undefined, journal };
  }

  /**
   * Delivers the events of `names` (those still there), listener by
   * listener, journalling each listener before and after; then removes
   * their files and the journal. With the journal of a pass cut short, skips
   * the listeners it finished and, in one it began, the events whose tasks
   * are found there already (by event id, past the number it began after).
   */
  async #pass(names: readonly string[], journal: Journal | undefined): Promise<{ events: number; deliveries: number }> {
    const events: DueEvent[] = [];
    for (const name of names) {
      const text = readTextIfExists(join(this.dir, name));
      if (text === undefined) continue; // delivered and removed by the pass that was cut short
      let record: DelayedRecord;
      let segments: string[];
      try {
        record = decodeDelayed(text);
        segments = parseEventType(record.eventType);
      } catch (error) {
        await this.#setAside(name, (error as Error).message);
        continue;
      }
      events.push({ name, record, segments });
    }
    const byListener = new Map<string, { listener: ListenerRef; key: string; events: DueEvent[] }>();
    const listenersOf = new Map<string, ListenerRef[]>();
    for (const event of events) {
      let listeners = listenersOf.get(event.record.eventType);
      if (listeners === undefined) {
        listenersOf.set(event.record.eventType, listeners = this.#store.listenersFor(event.segments));
      }
      for (const listener of listeners) {
        let group = byListener.get(listener.dir);
        if (group === undefined) {
          const key = relative(this.#store.root, listener.dir);
          byListener.set(listener.dir, group = { listener, key, events: [] });
        }
        group.events.push(event);
      }
    }
    // Every listener not begun yet is begun at once, with the number its tasks of this pass will be past: one flush
    // before the first link. (A `done` line needs none: lost, the next pass finds the tasks by their event ids.)
    const began: JournalLine[] = [...byListener.values()]
      .filter((group) => journal?.listeners.get(group.key) === undefined)
      .map((group) => ({ began: group.key, after: readTracking(group.listener.dir)?.sequence ?? 0 }));
    const journalPath = join(this.dir, DelayedLayout.JOURNAL);
    const opening = [...(journal === undefined ? [{ events: events.map((event) => event.name) }] : []), ...began];
    if (journal === undefined) {
      await writeFileSynced(journalPath, opening.map(encodeJournalLine).join(""), this.#durable);
      if (this.#durable) await syncDir(this.dir);
    }
    const log = Deno.openSync(journalPath, { append: true });
    let deliveries = 0;
    try {
      if (journal !== undefined && began.length > 0) {
        writeAll(log, opening.map(encodeJournalLine).join(""));
        if (this.#durable) await syncFile(log, this.dir);
      }
      for (const { listener, key, events: mine } of byListener.values()) {
        const after = journal?.listeners.get(key);
        if (after === "done") continue;
        let todo = mine;
        if (after !== undefined) {
          const found = eventIdsPast(listener.dir, after, new Set(mine.map((event) => event.record.eventId)));
          todo = mine.filter((event) => !found.has(event.record.eventId));
        }
        if (todo.length > 0) {
          const delivery = formatDelivery(this.#now());
          const builds = todo.map(({ record }) => (sequence: number) =>
            encodeNewTask(record.payloadJson, sequence, delivery, record.eventType, record.eventId)
          );
          deliveries += (await this.#store.deliver(listener, builds, delivery)).length;
        }
        writeAll(log, encodeJournalLine({ done: key }));
      }
    } finally {
      log.close();
    }
    for (const event of events) removeIfExists(join(this.dir, event.name));
    // Flushed before the journal goes: delayed files back after a power loss, with no journal, would be delivered again.
    if (this.#durable) await syncDir(this.dir);
    removeIfExists(journalPath);
    return { events: events.length, deliveries };
  }

  /** Moves a delayed file that cannot be read to `error/`, with a reason file beside it. */
  async #setAside(name: string, reason: string): Promise<void> {
    const errorDir = await ensureStateDir(this.dir, DelayedLayout.ERROR);
    Deno.renameSync(join(this.dir, name), join(errorDir, name));
    Deno.writeTextFileSync(join(errorDir, name + Layout.REASON_SUFFIX), `not a delayed event: ${reason}\n`);
  }
}

/** Writes all of `text` to `file`. */
function writeAll(file: Deno.FsFile, text: string): void {
  const bytes = new TextEncoder().encode(text);
  for (let written = 0; written < bytes.length;) written += file.writeSync(bytes.subarray(written));
}

/**
 * Which of `ids` the tasks of a listener numbered past `after` carry as
 * `event_id`, wherever they are: inbox, in flight, archive, error (in that
 * order, so that a task moving on between two listings is seen in one; a
 * second round looks again for those not found).
 */
export function eventIdsPast(dir: string, after: number, ids: ReadonlySet<string>): Set<string> {
  const found = new Set<string>();
  for (let round = 0; round < 2 && found.size < ids.size; round++) {
    for (const state of [Layout.INBOX, Layout.INFLIGHT, Layout.ARCHIVE, Layout.ERROR]) {
      let entries: Deno.DirEntry[];
      try {
        entries = [...Deno.readDirSync(join(dir, state))];
      } catch (error) {
        if (isNotFound(error)) continue;
        throw error;
      }
      for (const entry of entries) {
        const match = /^([0-9]{1,15})\.json(~.*)?$/.exec(entry.name);
        if (!entry.isFile || !match || Number(match[1]) <= after) continue;
        let id: unknown;
        try {
          id = JSON.parse(readTextIfExists(join(dir, state, entry.name)) ?? "null")?.event_id;
        } catch {
          continue; // not a task this pass wrote: those are written whole
        }
        if (typeof id === "string" && ids.has(id)) found.add(id);
      }
    }
  }
  return found;
}

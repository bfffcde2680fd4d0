/**
 * The dashboard's one scan of the backend: every page, every server-sent
 * event stream and `/metrics` read the last {@linkcode Snapshot}, so that
 * any number of open pages cost one `status` scan per interval. Between two
 * scans it counts what moved (tasks handled, errors, dispatches), for the
 * rate charts and the Prometheus counters, and reads the newest archived
 * tasks for the latency histogram.
 *
 * @module
 */
import { toError } from "../errors.ts";
import type { Operations } from "../backend/operations.ts";
import type { ListenerStatus, StatusReport } from "../protocol/listener_status.ts";
import { checkThresholds, type StatusThresholds, type Violation } from "../protocol/thresholds.ts";

/**
 * The upper bounds of the latency histogram's buckets, in seconds (then
 * `+Inf`). Whole seconds: a task's `delivery` is written to the second (the
 * PHP format), and so is the time a file got into `archive/` as Deno reads it.
 */
export const LATENCY_BUCKETS: readonly number[] = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400];

/** What one listener has done since the dashboard started. */
export interface ListenerCounters {
  /** Tasks that left the queue (pending and in flight), by how: `success` (archived or deleted) or `error`. */
  handled: { success: number; error: number };
  /** Counts of the latency histogram, one per bucket of {@linkcode LATENCY_BUCKETS}, then `+Inf`; not cumulative. */
  buckets: number[];
  /** Sum of the latencies observed, in seconds. */
  latencySum: number;
  /** Latencies observed. */
  latencyCount: number;
  /** The highest archived sequence number observed (or there when the listener was first seen). */
  lastArchived: number;
  /** The highest count of tasks gone from the queue (dispatched less pending and in flight) seen so far. */
  highWater: number;
  /** That count at the last scan. */
  lastGone: number;
  /** Tasks gone from the queue since the listener was first seen. */
  left: number;
}

/** One point of the rate charts: tasks handled and errors per second between two scans. */
export interface RatePoint {
  /** The scan's time, milliseconds since the epoch. */
  time: number;
  /** Tasks handled per second since the scan before. */
  handled: number;
  /** Tasks sent to `error/` per second since the scan before. */
  errors: number;
}

/** The last scan. */
export interface Snapshot {
  /** The status report. */
  report: StatusReport;
  /** How long the scan took, in milliseconds. */
  scanMs: number;
  /** The limits crossed, when limits were given. */
  violations: Violation[];
  /** When each failing listener's first failure record was written (`failing since`), by listener id. */
  failingSince: Map<string, string>;
  /** The counters, by listener id. */
  counters: Map<string, ListenerCounters>;
  /** The rate history, by listener id, oldest first. */
  rates: Map<string, RatePoint[]>;
  /** A number that grows by one with each scan. */
  generation: number;
}

/** Options of {@linkcode Scanner}. */
export interface ScannerOptions {
  /**
   * How many pending tasks per listener each scan reads (as `status`'s
   * `scanLimit`): enough to find a listener stopped on FAILURE (its first
   * task) and count the retries near the head of its inbox.
   * @default {20}
   */
  scanLimit?: number;
  /**
   * The shortest time between two scans, in milliseconds. A scan that takes
   * longer than half of it spaces the next by twice its own time.
   * @default {1000}
   */
  intervalMs?: number;
  /**
   * How long the rate charts reach back, in milliseconds.
   * @default {600000}
   */
  historyMs?: number;
  /**
   * The `--check` limits shown on the overview.
   * @default {{}}
   */
  thresholds?: StatusThresholds;
  /**
   * The clock, for tests.
   * @default {() => Date.now()}
   */
  now?: () => number;
}

/** Scans the backend, once for every reader; scans on its own while somebody listens. */
export class Scanner {
  readonly #operations: Operations;
  readonly #scanLimit: number;
  readonly #intervalMs: number;
  readonly #historyMs: number;
  readonly #thresholds: StatusThresholds;
  readonly #now: () => number;
  readonly #counters = new Map<string, ListenerCounters>();
  readonly #rates = new Map<string, RatePoint[]>();
  readonly #failingSince = new Map<string, { at: number; since: string }>();
  readonly #listeners = new Set<(snapshot: Snapshot) => void>();
  #snapshot: Snapshot | undefined;
  #scanning: Promise<Snapshot> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #failed: Error | undefined;

  constructor(operations: Operations, options: ScannerOptions = {}) {
    this.#operations = operations;
    this.#scanLimit = options.scanLimit ?? 20;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#historyMs = options.historyMs ?? 600_000;
    this.#thresholds = options.thresholds ?? {};
    this.#now = options.now ?? (() => Date.now());
  }

  /**
   * The last scan, at once; when it is older than the interval, a new scan
   * starts in the background for the next caller (so a page or a scrape never
   * waits for a scan of a large root but the first). Throws what the last
   * background scan threw, once.
   */
  async current(): Promise<Snapshot> {
    const last = this.#snapshot;
    if (last === undefined) return await this.scan();
    const failed = this.#failed;
    if (failed !== undefined) {
      this.#failed = undefined;
      throw failed;
    }
    if (!this.#closed && this.#now() - Date.parse(last.report.time) >= this.#spacing(last)) {
      this.scan().catch((error) => this.#failed = toError(error));
    }
    return last;
  }

  /** The last scan, however old; `undefined` before the first. Never scans. */
  latest(): Snapshot | undefined {
    return this.#snapshot;
  }

  /** Scans now, unless a scan is running: then its result. */
  scan(): Promise<Snapshot> {
    this.#scanning ??= this.#scan().finally(() => this.#scanning = undefined);
    return this.#scanning;
  }

  /**
   * Calls `listener` with every scan from now on; scans on a timer while
   * anyone is subscribed. Returns the unsubscribe function.
   */
  subscribe(listener: (snapshot: Snapshot) => void): () => void {
    this.#listeners.add(listener);
    this.#schedule();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stopTimer();
    };
  }

  /** Stops the timer; no scan starts after this. Resolves once a scan still running has ended. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    this.#stopTimer();
    await this.#scanning?.catch(() => {}); // its error is of no use any more
  }

  #spacing(snapshot: Snapshot): number {
    return Math.max(this.#intervalMs, 2 * snapshot.scanMs);
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined || this.#listeners.size === 0) return;
    const delay = this.#snapshot === undefined ? 0 : this.#spacing(this.#snapshot);
    this.#timer = setTimeout(async () => {
      try {
        const snapshot = await this.scan();
        for (const listener of [...this.#listeners]) listener(snapshot);
      } catch (error) {
        // A failed scan (the root moved away, a link appeared) is shown by the next page load; the timer goes on.
        this.#failed = toError(error);
      } finally {
        this.#timer = undefined;
        this.#schedule();
      }
    }, delay);
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #scan(): Promise<Snapshot> {
    const started = performance.now();
    const report = await this.#operations.status({ scanLimit: this.#scanLimit, now: () => new Date(this.#now()) });
    const time = Date.parse(report.time);
    const previous = new Map(this.#snapshot?.report.listeners.map((l) => [l.listener, l]) ?? []);
    const previousTime = this.#snapshot === undefined ? undefined : Date.parse(this.#snapshot.report.time);
    for (const listener of report.listeners) {
      const before = previous.get(listener.listener);
      if (before !== undefined && previousTime !== undefined) {
        await this.#count(listener, before, (time - previousTime) / 1000, time);
      } else {
        this.#counters.set(
          listener.listener,
          this.#counters.get(listener.listener) ?? await this.#newCounters(listener),
        );
      }
      await this.#noteFailing(listener);
    }
    const ids = new Set(report.listeners.map((l) => l.listener));
    for (const map of [this.#counters, this.#rates, this.#failingSince]) {
      for (const id of map.keys()) if (!ids.has(id)) map.delete(id);
    }
    const failingSince = new Map([...this.#failingSince].map(([id, { since }]) => [id, since]));
    this.#failed = undefined;
    this.#snapshot = {
      report,
      scanMs: performance.now() - started,
      violations: checkThresholds(report.listeners, this.#thresholds),
      failingSince,
      counters: this.#counters,
      rates: this.#rates,
      generation: (this.#snapshot?.generation ?? 0) + 1,
    };
    return this.#snapshot;
  }

  /** Adds what moved between two scans of a listener to its counters and its rate history. */
  async #count(now: ListenerStatus, before: ListenerStatus, seconds: number, time: number): Promise<void> {
    const counters = this.#counters.get(now.listener) ?? await this.#newCounters(before);
    this.#counters.set(now.listener, counters);
    // What left the queue: tasks dispatched less tasks pending or in flight. A dispatch reserves its numbers in
    // tracking.json before it links the task files, so one scan may see a number whose file is not there yet: only
    // what two scans in a row agree on counts (the lower of the two), and only past the highest count so far, so a
    // requeue (pending up with no dispatch) and its handling again count nothing twice. Deleted archives
    // (--archive delete) count too. The growth of error/ is the errors; the rest are successes.
    const gone = (now.lastSequence ?? 0) - now.pending - now.inFlight.length;
    const agreed = Math.min(gone, counters.lastGone);
    counters.lastGone = gone;
    const left = Math.max(0, agreed - counters.highWater);
    counters.highWater = Math.max(counters.highWater, agreed);
    counters.left += left;
    const errors = Math.max(0, now.errors - before.errors);
    counters.handled.error += errors;
    counters.handled.success = Math.max(counters.handled.success, counters.left - counters.handled.error);
    if (now.archived > before.archived) await this.#observeLatencies(now, counters, now.archived - before.archived);
    const points = this.#rates.get(now.listener) ?? [];
    points.push({
      time,
      handled: seconds > 0 ? left / seconds : 0,
      errors: seconds > 0 ? errors / seconds : 0,
    });
    while (points.length > 0 && points[0].time < time - this.#historyMs) points.shift();
    this.#rates.set(now.listener, points);
  }

  /** Observes the latency (delivery to archive) of the newest archived tasks not observed yet, at most 100. */
  async #observeLatencies(listener: ListenerStatus, counters: ListenerCounters, added: number): Promise<void> {
    const list = await this.#operations.tasks({
      listener: listener.listener,
      location: "archive",
      newest: true,
      limit: Math.min(added, 100),
    });
    let highest = counters.lastArchived;
    for (const { sequence, since, task } of list.tasks) {
      if (sequence <= counters.lastArchived || since === null || typeof task?.delivery !== "string") continue;
      const seconds = (Date.parse(since) - Date.parse(task.delivery)) / 1000;
      if (!Number.isFinite(seconds)) continue;
      highest = Math.max(highest, sequence);
      const latency = Math.max(0, seconds);
      const bucket = LATENCY_BUCKETS.findIndex((bound) => latency <= bound);
      counters.buckets[bucket === -1 ? LATENCY_BUCKETS.length : bucket]++;
      counters.latencySum += latency;
      counters.latencyCount++;
    }
    counters.lastArchived = highest;
  }

  /** Counters from 0; tasks archived before the dashboard first saw the listener are not observed. */
  async #newCounters(listener: ListenerStatus): Promise<ListenerCounters> {
    const newest = listener.archived === 0 ? undefined : await this.#operations.tasks({
      listener: listener.listener,
      location: "archive",
      newest: true,
      limit: 1,
    });
    return {
      handled: { success: 0, error: 0 },
      buckets: new Array(LATENCY_BUCKETS.length + 1).fill(0),
      latencySum: 0,
      latencyCount: 0,
      lastArchived: newest?.tasks[0]?.sequence ?? 0,
      highWater: (listener.lastSequence ?? 0) - listener.pending - listener.inFlight.length,
      lastGone: (listener.lastSequence ?? 0) - listener.pending - listener.inFlight.length,
      left: 0,
    };
  }

  /** Finds when a failing listener's failure was recorded, once per task it is stopped at. */
  async #noteFailing(listener: ListenerStatus): Promise<void> {
    if (listener.failingAt === null) {
      this.#failingSince.delete(listener.listener);
      return;
    }
    if (this.#failingSince.get(listener.listener)?.at === listener.failingAt) return;
    const inspection = await this.#operations.inspect({ listener: listener.listener, sequence: listener.failingAt });
    const failures = inspection.found.find((found) => found.location === "inbox")?.task?.failures ?? [];
    const since = failures.at(-1)?.time;
    if (since !== undefined) this.#failingSince.set(listener.listener, { at: listener.failingAt, since });
  }
}

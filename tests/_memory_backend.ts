/**
 * A backend in memory, for the worker's unit tests: it implements the port
 * (`src/backend/port.ts`) with maps instead of directories, so the listener
 * loop and the task runner run with no disk, and with whatever clock the test
 * passes. It proves the port is enough for a second backend.
 */
import type { ListenerQueue, Take, TakeHooks, TakenTask, TaskRead } from "../src/backend/port.ts";
import { TaskLostError } from "../src/errors.ts";
import type { TaskRecord } from "../src/protocol/task_file.ts";
import type { Destination } from "../src/protocol/transition.ts";
import type { Listener } from "../src/protocol/listener_id.ts";
import type { ListenerPause } from "../src/protocol/listener_status.ts";

/** A task of the memory backend: its number and name. */
export type MemoryTask = TakenTask;

/** Where a task of the memory backend is. */
export type MemoryPlace = "inbox" | "claimed" | "archive" | "error" | "quarantined";

/** Options of {@linkcode MemoryQueue}. */
export interface MemoryQueueOptions {
  /** Parallel mode: this worker's id; each task taken is claimed for it. Ordered mode without. */
  worker?: string;
  /** The clock, for deferred tasks. */
  now: () => Date;
  /** The listener. @default {mailer on user/signup} */
  listener?: Listener;
}

/** One listener's tasks in memory, opened for one worker. */
export class MemoryQueue implements ListenerQueue<MemoryTask> {
  /** Every task by sequence number: where it is, its record, and who claimed it. */
  readonly tasks = new Map<number, { place: MemoryPlace; record: TaskRecord; owner?: string }>();
  /** Reasons given for quarantined tasks. */
  readonly quarantined = new Map<number, string>();
  /** Workers known to be gone: their claims are taken back at the next take. */
  readonly gone = new Set<string>();
  /** How many times each task was taken. */
  readonly takes = new Map<number, number>();
  #next = 1;
  #seen = new Set<number>();
  readonly #notBefore = new Map<number, number>();

  /** How many times the listener was held (once per pass). */
  holds = 0;
  /** Archived tasks are kept this long when `expire()` runs (`undefined`: it has not run). */
  expiredAfterMs: number | undefined;
  readonly listener: Listener;

  constructor(readonly options: MemoryQueueOptions) {
    this.listener = options.listener ?? { name: "mailer", eventType: "user/signup", id: "user/signup/mailer" };
  }

  hold(): Promise<Disposable> {
    this.holds++;
    return Promise.resolve({ [Symbol.dispose]: () => {} });
  }

  /** Nothing to keep up: memory leaves no staging files, and gone workers' claims are taken back by `take()`. */
  upkeep(): Promise<void> {
    return Promise.resolve();
  }

  /** Archived tasks are all as old as the test says: every one goes. */
  expire(olderThanMs: number): Promise<void> {
    this.expiredAfterMs = olderThanMs;
    for (const sequence of this.in("archive")) this.tasks.delete(sequence);
    return Promise.resolve();
  }

  /** Adds tasks to the inbox with the next numbers, as a dispatch does. */
  deliver(...payloads: unknown[]): number[] {
    return payloads.map((payload) => {
      const sequence = this.#next++;
      this.tasks.set(sequence, {
        place: "inbox",
        record: { payload, sequence, count: sequence, delivery: "2026-12-01T00:00:00+00:00" },
      });
      return sequence;
    });
  }

  /** The sequence numbers in a place, ascending. */
  in(place: MemoryPlace): number[] {
    return [...this.tasks].filter(([, task]) => task.place === place).map(([sequence]) => sequence).sort((a, b) =>
      a - b
    );
  }

  /** A task's record. */
  record(sequence: number): TaskRecord {
    return this.tasks.get(sequence)!.record;
  }

  claimed(): boolean {
    return this.options.worker !== undefined;
  }

  read(taken: MemoryTask): TaskRead {
    const task = this.#mine(taken);
    if (!task) return { kind: "gone" };
    return { kind: "task", task: structuredClone(task.record) };
  }

  settle(taken: MemoryTask, to: Destination, record?: TaskRecord): Promise<void> {
    const task = this.#mine(taken);
    if (!task) return Promise.reject(new TaskLostError("memory", taken.sequence));
    if (record) task.record = structuredClone(record);
    task.place = to === "archive" ? "archive" : to === "error" ? "error" : "inbox";
    delete task.owner;
    return Promise.resolve();
  }

  note(taken: MemoryTask, record: TaskRecord): Promise<void> {
    const task = this.#mine(taken);
    if (!task) return Promise.reject(new TaskLostError("memory", taken.sequence));
    task.record = structuredClone(record);
    return Promise.resolve();
  }

  quarantine(taken: MemoryTask, reason: string): Promise<boolean> {
    const task = this.#mine(taken);
    if (!task) return Promise.resolve(false);
    task.place = "quarantined";
    this.quarantined.set(taken.sequence, reason);
    return Promise.resolve(true);
  }

  /** The pause a test set: no task is taken while there is one. */
  pause: ListenerPause | null = null;

  paused(): Promise<ListenerPause | null> {
    return Promise.resolve(this.pause);
  }

  startPass(): void {
    this.#seen = new Set();
  }

  async take(max: number, hooks: TakeHooks<MemoryTask>): Promise<Take<MemoryTask>> {
    const take: Take<MemoryTask> = { tasks: [], strays: [] };
    const { worker } = this.options;
    for (const [sequence, task] of this.tasks) {
      if (task.place !== "claimed" || task.owner === undefined || !this.gone.has(task.owner)) continue;
      const why = `worker ${task.owner} is gone`;
      task.owner = worker; // taken over
      await hooks.recover({ sequence, task: `${sequence}.json` }, why);
    }
    const now = this.options.now().getTime();
    for (const sequence of this.in("inbox")) {
      if (take.tasks.length >= max || hooks.stopped()) break;
      if (this.#seen.has(sequence)) continue;
      const dueAt = this.#notBefore.get(sequence);
      if (dueAt !== undefined && dueAt > now) {
        take.dueAt = Math.min(take.dueAt ?? Infinity, dueAt);
        continue;
      }
      this.#seen.add(sequence);
      this.takes.set(sequence, (this.takes.get(sequence) ?? 0) + 1);
      if (worker !== undefined) Object.assign(this.tasks.get(sequence)!, { place: "claimed", owner: worker });
      take.tasks.push({ sequence, task: `${sequence}.json` });
    }
    return take;
  }

  defer(taken: MemoryTask, dueAt: number): void {
    this.#notBefore.set(taken.sequence, dueAt);
  }

  finished(): void {}

  async [Symbol.asyncDispose](): Promise<void> {}

  /** The task if this worker may act on it: in the inbox (ordered), or claimed by this worker (parallel). */
  #mine(taken: MemoryTask) {
    const task = this.tasks.get(taken.sequence);
    if (!task) return undefined;
    const { worker } = this.options;
    if (worker === undefined) return task.place === "inbox" ? task : undefined;
    if (task.place !== "claimed" || task.owner !== worker) {
      throw new TaskLostError("memory", taken.sequence);
    }
    return task;
  }
}

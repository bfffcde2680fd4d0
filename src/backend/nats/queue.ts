/**
 * The NATS backend's {@linkcode ListenerQueue}: a listener's durable pull
 * consumer, opened for one worker. A take pulls exactly the free slots
 * (`no_wait`, with a short server-side expiry, so that nothing is delivered
 * to a request nobody reads any more). Every task taken is owned by this
 * worker until it is settled: an in-progress ack every third of the ack wait
 * keeps it so. Settling is an ack (archive), an error record then a term
 * (error), or a nak, with a delay when the record says `not_before` (retry)
 * or the FAILURE pause; before a nak, the record and the deliveries
 * accounted for are written to the retry state stream, the slow path.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { headers, type Msg, nanos } from "@nats-io/transport-node";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { TaskLostError } from "../../errors.ts";
import type { Listener } from "../../protocol/listener_id.ts";
import { encodeTask, type TaskRecord } from "../../protocol/task_file.ts";
import type { Destination } from "../../protocol/transition.ts";
import type { ListenerQueue, OpenOptions, Take, TakeHooks, TaskRead } from "../port.ts";
import { encodeState, HEADER, parseAckSubject } from "./_message.ts";
import { ERROR_PREFIX, EVENT_STREAM, REQUEUE_STREAM, STATE_PREFIX, STATE_STREAM, taskSubject } from "./subjects.ts";
import { Puller } from "./_pull.ts";
import { dueInMs, failurePauseMs, type NatsTask, readState, toTask } from "./_delivery.ts";

export { failurePauseMs, type NatsTask };

/** The connection a queue uses. */
export interface NatsLink {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

/** How a NATS queue works. */
export interface NatsQueueOptions {
  /** The listener's consumer name. */
  consumer: string;
  /** The ack wait of the consumer, in milliseconds: in-progress acks go out every third of it. */
  ackWaitMs: number;
  /** How long a pull that is not filled at once waits on the server, in milliseconds. */
  pullExpiresMs: number;
  /** How long an ack (or a state write) waits for the server, in milliseconds. */
  requestTimeoutMs: number;
  /** Whether in-progress acks keep the tasks owned (off: only to show what they prevent). */
  inProgressAcks: boolean;
}

const WPI = "+WPI";
/** Pulls in a row a take sends again when the server dropped them unanswered (it was too busy to read them in time). */
const MAX_UNANSWERED = 3;
const TERM = "+TERM";

/** One listener's consumer, opened for one worker. */
export class NatsQueue implements ListenerQueue<NatsTask> {
  /** Messages pulled and not handed out yet (owned: kept alive by in-progress acks). */
  readonly #buffer: NatsTask[] = [];
  /** Messages taken earlier in this pass that came back (a RETRY without delay): handed out in the next pass. */
  #nextPass: NatsTask[] = [];
  /** Messages handed out and not settled. */
  readonly #owned = new Set<NatsTask>();
  /** Sequences taken in this pass. */
  #seen = new Set<number>();
  /** When this worker's delayed naks come due (epoch ms), by sequence. */
  readonly #delayed = new Map<number, number>();
  #firstTake = true;
  /** Whether this pass found the requeue consumer empty (it is pulled first, until then). */
  #requeuesDone = false;
  readonly #heartbeat: ReturnType<typeof setInterval>;
  #closed = false;
  /** The pulls from the listener's consumers, and their answers. */
  readonly #puller: Puller;

  constructor(
    readonly link: NatsLink,
    readonly listener: Listener,
    readonly open: OpenOptions,
    readonly options: NatsQueueOptions,
  ) {
    this.#puller = new Puller(link, options);
    this.#heartbeat = setInterval(() => {
      if (options.inProgressAcks) this.#keepAlive();
    }, Math.max(100, Math.floor(options.ackWaitMs / 3)));
  }

  /** Every task is this worker's until settled: the server redelivers it to nobody else meanwhile. */
  claimed(): boolean {
    return true;
  }

  /** Ordered mode is the consumer's `max_ack_pending` of 1: nothing to hold here. */
  hold(): Promise<Disposable> {
    return Promise.resolve({ [Symbol.dispose]: () => {} });
  }

  /** Nothing to keep up: lost deliveries are found by `take()` from the delivery count. */
  upkeep(): Promise<void> {
    return Promise.resolve();
  }

  /** No archive is kept on NATS (an ack removes the task): nothing to expire. */
  expire(): Promise<void> {
    return Promise.resolve();
  }

  /** Never: the NATS backend cannot pause a listener yet (`pause` is not supported). */
  paused(): Promise<null> {
    return Promise.resolve(null);
  }

  startPass(): void {
    this.#seen = new Set();
    this.#firstTake = true;
    this.#requeuesDone = false;
    this.#buffer.unshift(...this.#nextPass);
    this.#nextPass = [];
  }

  async take(max: number, hooks: TakeHooks<NatsTask>): Promise<Take<NatsTask>> {
    const take: Take<NatsTask> = { tasks: [], strays: [] };
    const first = this.#firstTake;
    this.#firstTake = false;
    let unanswered = 0;
    while (take.tasks.length < max && !hooks.stopped()) {
      const task = this.#buffer.shift();
      if (task === undefined && this.#puller.late.length > 0) {
        const late = this.#puller.takeLate();
        this.#buffer.push(...await Promise.all(late.map((message) => this.#toTask(message))));
        continue;
      }
      if (task === undefined && !this.#requeuesDone) {
        // Requeued (and migrated) tasks come first in a pass, until their consumer has none left in it.
        const messages = await this.#puller.pull(REQUEUE_STREAM, max - take.tasks.length);
        if (messages.length === 0 && (!this.#puller.unanswered || ++unanswered > MAX_UNANSWERED)) {
          this.#requeuesDone = true;
        }
        this.#buffer.push(...await Promise.all(messages.map((message) => this.#toTask(message))));
        continue;
      }
      if (task === undefined) {
        const messages = await this.#puller.pull(EVENT_STREAM, max - take.tasks.length);
        if (messages.length === 0 && this.#puller.unanswered && ++unanswered <= MAX_UNANSWERED) continue;
        if (messages.length === 0) break;
        if (first && take.backlog === undefined) {
          take.backlog = take.tasks.length + messages.length + parseAckSubject(messages.at(-1)!.reply!).pending;
        }
        this.#buffer.push(...await Promise.all(messages.map((message) => this.#toTask(message))));
        continue;
      }
      if (this.#seen.has(task.sequence)) {
        this.#nextPass.push(task);
        continue;
      }
      this.#owned.add(task);
      if (task.lost > 0) {
        const why = `${task.lost} earlier ${task.lost === 1 ? "delivery was" : "deliveries were"} not settled ` +
          `(a worker stopped, or its ack wait of ${this.options.ackWaitMs} ms lapsed)`;
        try {
          await hooks.recover(task, why);
        } finally {
          this.#owned.delete(task); // settled by the recovery; else left to its ack wait, and found lost again
        }
        continue;
      }
      this.#seen.add(task.sequence);
      take.tasks.push(task);
    }
    const now = this.open.now().getTime();
    for (const [sequence, dueAt] of this.#delayed) {
      if (dueAt <= now) this.#delayed.delete(sequence);
      else take.dueAt = Math.min(take.dueAt ?? Infinity, dueAt);
    }
    return take;
  }

  defer(task: NatsTask, dueAt: number): void {
    this.#delayed.set(task.sequence, dueAt);
  }

  finished(task: NatsTask): void {
    this.#owned.delete(task);
  }

  read(task: NatsTask): TaskRead {
    if (task.done) throw new TaskLostError(this.listener.id, task.sequence);
    return task.found.kind === "task" ? { kind: "task", task: structuredClone(task.found.task) } : task.found;
  }

  /** Keeps the record for the settlement that follows (which writes it, on the paths that keep state). */
  note(task: NatsTask, record: TaskRecord): Promise<void> {
    if (task.done) return Promise.reject(new TaskLostError(this.listener.id, task.sequence));
    task.record = structuredClone(record);
    return Promise.resolve();
  }

  async settle(task: NatsTask, to: Destination, record?: TaskRecord): Promise<void> {
    if (task.done) throw new TaskLostError(this.listener.id, task.sequence);
    if (record) task.record = structuredClone(record);
    const now = this.open.now().getTime();
    switch (to) {
      case "archive":
        await this.#ack(task);
        break;
      case "error":
        await this.#publishError(
          task,
          encodeTask(task.record ?? { payload: null, sequence: task.sequence, count: task.sequence, delivery: "" }),
        );
        await this.#finish(task, TERM);
        break;
      case "first":
        await this.#nak(task, failurePauseMs(task.record), now);
        break;
      default: // inbox (a retry: its `not_before` is the delay), untouched (not counted: state says it was accounted)
        await this.#nak(task, dueInMs(task.record, now), now);
    }
    if (task.hadState && (to === "archive" || to === "error")) await this.#dropState(task);
  }

  async quarantine(task: NatsTask, reason: string): Promise<boolean> {
    if (task.done) return false;
    await this.#publishError(task, reason, reason);
    await this.#finish(task, TERM);
    if (task.hadState) await this.#dropState(task);
    return true;
  }

  /** Stops the in-progress acks and gives back every message not settled (a nak without delay, accounted). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    const late = this.#puller.takeLate();
    const left = [...this.#owned, ...this.#buffer, ...this.#nextPass].filter((task) => !task.done);
    this.#owned.clear();
    this.#buffer.length = 0;
    this.#nextPass = [];
    if (this.link.nc.isClosed()) return; // the server redelivers them after their ack wait (counted as lost)
    // A delivery to a pull given up on, arriving after this, is given back too (if that fails, it waits out its
    // ack wait and comes back counted as lost).
    this.#puller.close((message) => {
      this.#toTask(message).then((task) => {
        const now = this.open.now().getTime();
        return this.#nak(task, dueInMs(task.record, now), now);
      }).catch(() => {});
    });
    left.push(...await Promise.all(late.map((message) => this.#toTask(message))));
    const now = this.open.now().getTime();
    await Promise.all(left.map((task) => this.#nak(task, dueInMs(task.record, now), now)));
  }

  /** Sends an in-progress ack for every message this worker owns. */
  #keepAlive(): void {
    if (this.link.nc.isClosed()) return;
    for (const task of [...this.#owned, ...this.#buffer, ...this.#nextPass]) {
      if (!task.done) this.link.nc.publish(task.reply, WPI);
    }
    for (const message of this.#puller.late) this.link.nc.publish(message.reply!, WPI);
  }

  /** A delivered message as a task, its retry state read when redelivered. */
  #toTask(message: Msg): Promise<NatsTask> {
    return toTask(message, {
      consumer: this.options.consumer,
      maxTaskSize: this.open.maxTaskSize,
      readState: (key) => readState(this.link.jsm, this.options.consumer, key),
    });
  }

  /** Acks a task and waits for the server to confirm it. */
  async #ack(task: NatsTask): Promise<void> {
    task.done = true;
    this.#owned.delete(task);
    await this.#puller.confirm(task.reply, "+ACK");
  }

  /** Sends a final ack (`+TERM`, a nak) and flushes it to the server. */
  async #finish(task: NatsTask, payload: string): Promise<void> {
    task.done = true;
    this.#owned.delete(task);
    this.link.nc.publish(task.reply, payload);
    await this.link.nc.flush();
  }

  /** Writes the retry state (this delivery accounted for), then naks, with a delay when given. */
  async #nak(task: NatsTask, delayMs: number, now: number): Promise<void> {
    if (task.record !== undefined) {
      const state = encodeState({ record: task.record, accounted: task.deliveryCount });
      await this.link.js.publish(taskSubject(STATE_PREFIX, this.options.consumer, task.stateKey), state, {
        timeout: this.options.requestTimeoutMs,
      });
    }
    if (delayMs > 0) this.#delayed.set(task.sequence, now + delayMs);
    await this.#finish(task, delayMs > 0 ? `-NAK ${JSON.stringify({ delay: nanos(Math.ceil(delayMs)) })}` : "-NAK");
  }

  /** Publishes a task's error record (or a quarantined message's reason) to the error stream. */
  async #publishError(task: NatsTask, body: string, reason?: string): Promise<void> {
    const head = headers();
    if (reason !== undefined) head.set(HEADER.reason, reason.replace(/[\r\n]+/g, " "));
    await this.link.js.publish(taskSubject(ERROR_PREFIX, this.options.consumer, task.sequence), body, {
      headers: head,
      timeout: this.options.requestTimeoutMs,
    });
  }

  /** Removes a finished task's retry state. */
  async #dropState(task: NatsTask): Promise<void> {
    await this.link.jsm.streams.purge(STATE_STREAM, {
      filter: taskSubject(STATE_PREFIX, this.options.consumer, task.stateKey),
    });
  }
}

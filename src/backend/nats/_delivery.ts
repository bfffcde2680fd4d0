/**
 * A JetStream delivery as the worker's task: the record built from the
 * message (or from hurah's retry state when redelivered), the deliveries
 * nobody settled, and when a nak's delay comes due.
 */
import type { Msg } from "@nats-io/transport-node";
import type { JetStreamManager } from "@nats-io/jetstream";
import { CorruptFileError } from "../../errors.ts";
import { backoff } from "../../protocol/backoff.ts";
import { decodeTask, type TaskRecord } from "../../protocol/task_file.ts";
import type { TakenTask, TaskRead } from "../port.ts";
import { decodeState, firstRecord, HEADER, parseAckSubject, type RetryState, stableTaskId } from "./_message.ts";
import { REQUEUE_STREAM, STATE_PREFIX, STATE_STREAM, taskSubject } from "./subjects.ts";

/** A delivered message, as the worker handles it. */
export interface NatsTask extends TakenTask {
  /** The stream sequence (global: every listener's task of one event has the same). */
  readonly sequence: number;
  /** `<sequence>.json`, as with files. */
  readonly task: string;
  /** The ack subject of this delivery. */
  readonly reply: string;
  /** How many times the message was delivered to this consumer, this time included. */
  readonly deliveryCount: number;
  /** Deliveries before this one that nobody settled (a worker died, an ack wait lapsed). */
  readonly lost: number;
  /** Whether a retry state was found (to be removed once the task is done). */
  readonly hadState: boolean;
  /** The key of its retry state: the sequence, or `rq<n>` for a requeued task (message `n` of the requeue stream). */
  readonly stateKey: string;
  /** What reading it found. */
  found: TaskRead;
  /** The record as last noted. */
  record: TaskRecord | undefined;
  /** Settled (or given back): no more acks for it. */
  done: boolean;
}

/** What building a task from a delivery needs. */
export interface ToTaskOptions {
  /** The listener's consumer name (the stable task id is made of it). */
  consumer: string;
  /** The largest payload read; a larger one is refused. */
  maxTaskSize: number;
  /** Reads a task's retry state, by its key. */
  readState(key: string): Promise<RetryState | undefined>;
}

/** The pause after a FAILURE: as the watcher's default, by the FAILURE records in a row at the end of the record. */
export function failurePauseMs(record: TaskRecord | undefined): number {
  let failures = 0;
  for (const failure of [...(record?.failures ?? [])].reverse()) {
    if (failure.result !== "FAILURE") break;
    failures++;
  }
  return Math.ceil(backoff(Math.max(1, failures), { capMs: 60_000 }));
}

/** Milliseconds until a record's `not_before`, 0 when none or past. */
export function dueInMs(record: TaskRecord | undefined, now: number): number {
  const due = typeof record?.not_before === "string" ? Date.parse(record.not_before) : NaN;
  return due > now ? Math.ceil(due - now) : 0;
}

/** A delivered message as a task: its record built from the message, or from the retry state when redelivered. */
export async function toTask(message: Msg, options: ToTaskOptions): Promise<NatsTask> {
  const reply = message.reply!;
  const info = parseAckSubject(reply);
  const { deliveryCount } = info;
  const requeued = info.stream === REQUEUE_STREAM;
  // A requeued task keeps its sequence: the last token of its subject (hurah.rq.<consumer>.<sequence>).
  const sequence = requeued ? Number(message.subject.split(".").at(-1)) : info.streamSequence;
  const stateKey = requeued ? `rq${info.streamSequence}` : String(sequence);
  const state = deliveryCount > 1 ? await options.readState(stateKey) : undefined;
  const lost = Math.max(0, deliveryCount - 1 - (state?.accounted ?? 0));
  const base = {
    sequence,
    task: `${sequence}.json`,
    reply,
    deliveryCount,
    lost,
    hadState: state !== undefined,
    stateKey,
  };
  if (state !== undefined) {
    return { ...base, found: { kind: "task", task: state.record }, record: state.record, done: false };
  }
  if (requeued) {
    try {
      const record = decodeTask(message.data, sequence);
      return { ...base, found: { kind: "task", task: record }, record, done: false };
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      const reason = `corrupt requeued task: ${error.message}`;
      return { ...base, found: { kind: "refused", reason }, record: undefined, done: false };
    }
  }
  if (message.data.length > options.maxTaskSize) {
    const reason = `task too large: ${message.data.length} bytes of payload, over the limit of ` +
      `${options.maxTaskSize} bytes (maxTaskSize)`;
    return { ...base, found: { kind: "refused", reason }, record: undefined, done: false };
  }
  const eventId = message.headers?.get(HEADER.msgId) || undefined;
  try {
    const record = firstRecord(new TextDecoder().decode(message.data), sequence, {
      delivery: message.headers?.get(HEADER.delivery) ?? "",
      eventType: message.headers?.get(HEADER.eventType) || undefined,
      eventId,
      taskId: stableTaskId(eventId ?? String(sequence), options.consumer),
    });
    return { ...base, found: { kind: "task", task: record }, record, done: false };
  } catch (error) {
    if (!(error instanceof CorruptFileError)) throw error;
    return {
      ...base,
      found: { kind: "refused", reason: `corrupt task: ${error.message}` },
      record: undefined,
      done: false,
    };
  }
}

/** The retry state of a task, or `undefined` when there is none (or it is unreadable: then a fresh record). */
export async function readState(jsm: JetStreamManager, consumer: string, key: string): Promise<RetryState | undefined> {
  const subject = taskSubject(STATE_PREFIX, consumer, key);
  const stored = await jsm.streams.getMessage(STATE_STREAM, { last_by_subj: subject });
  if (stored === null) return undefined;
  try {
    return decodeState(new TextDecoder().decode(stored.data));
  } catch (error) {
    if (error instanceof CorruptFileError) return undefined;
    throw error;
  }
}

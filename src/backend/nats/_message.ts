/**
 * What a JetStream delivery carries: its ack subject's tokens (stream,
 * consumer, delivery count, sequences, pending) and the task record built
 * from the message and, when redelivered, from hurah's retry state.
 */
import { createHash } from "node:crypto";
import { CorruptFileError } from "../../errors.ts";
import { decodeTask, type TaskRecord } from "../../protocol/task_file.ts";

/** The headers hurah's messages carry (with `Nats-Msg-Id`, the event id). */
export const HEADER = {
  /** The delivery time, as a task's `delivery`. */
  delivery: "Hurah-Delivery",
  /** The event type, as a task's `event_type`. */
  eventType: "Hurah-Event-Type",
  /** JetStream's de-duplication id: the event id. */
  msgId: "Nats-Msg-Id",
  /** Why an entry of the error stream is there (a quarantined message). */
  reason: "Hurah-Reason",
} as const;

/** The tokens of a JetStream ack subject (`$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`). */
export interface AckInfo {
  stream: string;
  consumer: string;
  /** How many times this message was delivered to this consumer, this one included. */
  deliveryCount: number;
  /** The stream sequence: the task's `sequence`. */
  streamSequence: number;
  /** How many messages of the consumer wait after this one. */
  pending: number;
}

/**
 * Reads an ack subject, old (9 tokens) or new (12, with domain and account hash).
 *
 * @throws {RangeError} When it is not one.
 */
export function parseAckSubject(reply: string): AckInfo {
  const tokens = reply.split(".");
  if (tokens.length === 9) tokens.splice(2, 0, "_", "");
  if (tokens.length < 11 || tokens[0] !== "$JS" || tokens[1] !== "ACK") {
    throw new RangeError(`not a JetStream ack subject: ${JSON.stringify(reply)}`);
  }
  return {
    stream: tokens[4],
    consumer: tokens[5],
    deliveryCount: Number(tokens[6]),
    streamSequence: Number(tokens[7]),
    pending: Number(tokens[10]),
  };
}

/** What hurah keeps beside a message on its slow paths: the record as last written, and the deliveries accounted for. */
export interface RetryState {
  /** The task record as hurah last wrote it (retry count, failures, `not_before`...). */
  record: TaskRecord;
  /** The delivery count of the last delivery hurah settled (nak): later deliveries beyond the next one were lost. */
  accounted: number;
}

/** Encodes a retry state. */
export function encodeState(state: RetryState): string {
  return JSON.stringify({ accounted: state.accounted, record: state.record });
}

/**
 * Decodes a retry state.
 *
 * @throws {CorruptFileError} When it is not one.
 */
export function decodeState(text: string): RetryState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CorruptFileError(`retry state is not JSON: ${(error as Error).message}`);
  }
  const state = parsed as Partial<RetryState>;
  if (typeof state?.accounted !== "number" || typeof state.record !== "object" || state.record === null) {
    throw new CorruptFileError("retry state lacks accounted or record");
  }
  return state as RetryState;
}

/**
 * The task record of a message as first delivered: the payload as published,
 * with the fields a task file has.
 *
 * @throws {CorruptFileError} When the payload does not parse (or nests too deep).
 */
export function firstRecord(
  payloadJson: string,
  sequence: number,
  fields: { delivery: string; eventType: string | undefined; eventId: string | undefined; taskId: string },
): TaskRecord {
  const rest = JSON.stringify({
    sequence,
    count: sequence,
    delivery: fields.delivery,
    ...(fields.eventType !== undefined ? { event_type: fields.eventType } : {}),
    ...(fields.eventId !== undefined ? { event_id: fields.eventId } : {}),
    task_id: fields.taskId,
  });
  return decodeTask(`{"payload":${payloadJson === "" ? "?" : payloadJson},${rest.slice(1)}`, sequence);
}

/**
 * A task id that is the same at every delivery of one event to one listener:
 * a UUID (version 8) made of the SHA-256 of the event id and the consumer
 * (hashed at once, by `node:crypto`: a tenth of the cost of an awaited
 * `crypto.subtle.digest()` here, on every task taken).
 */
export function stableTaskId(eventId: string, consumer: string): string {
  const bytes = createHash("sha256").update(`${eventId}\n${consumer}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x80;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `null` for a message that is not there (getMessage answers "no message found" with an error on some servers). */
export function notThere(error: unknown): null {
  if ((error as { code?: unknown })?.code === 10037) return null;
  throw error;
}

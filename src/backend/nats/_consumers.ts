/**
 * The streams and consumers hurah creates (only when missing: a stream is
 * never deleted nor re-created, docs/scale-out.md says why), how hurah knows
 * its consumers (the listener in a consumer's description) and JetStream's
 * "not found".
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { Listener } from "../../protocol/listener_id.ts";
import {
  ERROR_PREFIX,
  ERROR_STREAM,
  EVENT_PREFIX,
  EVENT_STREAM,
  listenerFilter,
  REQUEUE_PREFIX,
  REQUEUE_STREAM,
  STATE_PREFIX,
  STATE_STREAM,
} from "./subjects.ts";

/** Creates the streams that do not exist, with `replicas`. */
export async function addStreams(jsm: JetStreamManager, replicas: number): Promise<void> {
  const common = { storage: StorageType.File, num_replicas: replicas, discard: DiscardPolicy.Old };
  const streams: (Partial<StreamConfig> & { name: string })[] = [
    { ...common, name: EVENT_STREAM, subjects: [`${EVENT_PREFIX}.>`], retention: RetentionPolicy.Interest },
    { ...common, name: ERROR_STREAM, subjects: [`${ERROR_PREFIX}.>`], retention: RetentionPolicy.Limits },
    { ...common, name: REQUEUE_STREAM, subjects: [`${REQUEUE_PREFIX}.>`], retention: RetentionPolicy.Workqueue },
    {
      ...common,
      name: STATE_STREAM,
      subjects: [`${STATE_PREFIX}.>`],
      retention: RetentionPolicy.Limits,
      max_msgs_per_subject: 1,
    },
  ];
  for (const config of streams) {
    try {
      await jsm.streams.info(config.name);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await jsm.streams.add(config);
    }
  }
}

/**
 * Creates a listener's two consumers (of events, of its requeued tasks)
 * where missing: ordered mode's `max_ack_pending` of 1, explicit acks, no
 * MaxDeliver (hurah counts attempts). Returns whether the event consumer
 * was new.
 */
export async function addConsumers(
  jsm: JetStreamManager,
  listener: Listener,
  consumer: string,
  options: { ackWaitMs: number; replicas: number },
): Promise<boolean> {
  let created = false;
  const base = {
    durable_name: consumer,
    description: describeListener(listener),
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(options.ackWaitMs),
    max_ack_pending: 1,
    max_deliver: -1,
    num_replicas: options.replicas,
  };
  const consumers = [
    { stream: EVENT_STREAM, filter_subject: listenerFilter(listener.eventType), deliver_policy: DeliverPolicy.New },
    { stream: REQUEUE_STREAM, filter_subject: `${REQUEUE_PREFIX}.${consumer}.>`, deliver_policy: DeliverPolicy.All },
  ];
  for (const { stream, ...config } of consumers) {
    try {
      await jsm.consumers.info(stream, consumer);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await jsm.consumers.add(stream, { ...base, ...config });
      if (stream === EVENT_STREAM) created = true;
    }
  }
  return created;
}

/** What a consumer's description holds: the listener it is of. */
export function describeListener(listener: Listener): string {
  return JSON.stringify({ hurah: 1, name: listener.name, eventType: listener.eventType });
}

/** The listener of a consumer's description, or `undefined` when it is not one of hurah's. */
export function listenerOfDescription(description: string | undefined): Listener | undefined {
  try {
    const parsed = JSON.parse(description ?? "");
    if (parsed?.hurah !== 1 || typeof parsed.name !== "string" || typeof parsed.eventType !== "string") return;
    const { name, eventType } = parsed;
    return { name, eventType, id: eventType === "" ? name : `${eventType}/${name}` };
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** Whether an error is JetStream's answer "not found" (stream or consumer). */
export function isNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamNotFound || error.code === JetStreamApiCodes.ConsumerNotFound);
}

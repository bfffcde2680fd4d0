/** How hurah knows its consumers (the listener in a consumer's description) and JetStream's "not found". */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { Listener } from "../../protocol/listener_id.ts";

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

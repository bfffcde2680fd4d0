/**
 * Delivering delayed events from a watcher: a timer for the next due time,
 * and a re-list of the waiting events every {@linkcode DELAYED_RELIST_MS}
 * (events scheduled meanwhile, and the file watcher, are not trusted to be
 * seen otherwise). Every watcher of a root runs it; the backend makes each
 * event delivered once.
 */
import type { Backend } from "../backend/port.ts";
import { backoff } from "../protocol/backoff.ts";
import type { RunEvent } from "./report.ts";
import { sleep } from "./_wakeup.ts";

/** How often a watcher lists the delayed events again, in milliseconds. */
export const DELAYED_RELIST_MS = 250;

/** How long a watcher waits while another process delivers, before it looks again. */
const BUSY_RETRY_MS = 50;

/**
 * The shortest wait between two looks: events due within it are delivered
 * together (one pass, one journal), instead of a pass and a listing of the
 * waiting events per event when many come due close together.
 */
const COALESCE_MS = 50;

/**
 * Delivers delayed events as they come due, until `stop` aborts. An error
 * is reported as a `delayed` event with its message and tried again with
 * backoff; the watcher goes on.
 */
export async function deliverDelayed(
  backend: Backend,
  stop: AbortSignal,
  now: () => Date,
  onEvent: (event: RunEvent) => void,
): Promise<void> {
  let failures = 0;
  while (!stop.aborted) {
    let waitMs = DELAYED_RELIST_MS;
    try {
      const result = await backend.deliverDue(now(), { timeoutMs: 0 });
      failures = 0;
      if (result.events > 0) onEvent({ type: "delayed", events: result.events, deliveries: result.deliveries });
      if (result.busy) waitMs = BUSY_RETRY_MS;
      else if (result.nextDueAt !== undefined) {
        waitMs = Math.min(waitMs, Math.max(COALESCE_MS, result.nextDueAt - now().getTime()));
      }
    } catch (error) {
      waitMs = backoff(++failures, { capMs: 60_000 });
      const message = error instanceof Error ? error.stack ?? error.message : String(error);
      onEvent({ type: "delayed", events: 0, deliveries: 0, message, retryInMs: waitMs });
    }
    await sleep(waitMs, stop);
  }
}

/**
 * `inspect` on NATS: where a task of a listener is, found in the streams (the
 * event stream and the consumer's info, the requeue, retry state and error
 * streams).
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { CorruptFileError } from "../../errors.ts";
import type { Listener } from "../../protocol/listener_id.ts";
import { decodeTask, type TaskRecord } from "../../protocol/task_file.ts";
import type { FoundTask, TaskInspection, TaskLocation } from "../operations.ts";
import { decodeState, firstRecord, HEADER, notThere } from "./_message.ts";
import {
  consumerName,
  ERROR_PREFIX,
  ERROR_STREAM,
  EVENT_STREAM,
  eventTypeOfSubject,
  reaches,
  REQUEUE_PREFIX,
  REQUEUE_STREAM,
  STATE_PREFIX,
  STATE_STREAM,
  taskSubject,
} from "./subjects.ts";

/** Finds task `sequence` of `listener`: its stored message, requeued copy and error record, as `inspect()` reports. */
export async function inspectNatsTask(
  jsm: JetStreamManager,
  listener: Listener,
  sequence: number,
): Promise<TaskInspection> {
  const consumer = await consumerName(listener.id);
  const dir = `${EVENT_STREAM}/${consumer}`;
  const found: FoundTask[] = [];
  /** A found entry: a stored message (or error record) of the task. */
  const entry = (location: TaskLocation, path: string, since: Date, task: TaskRecord | null): FoundTask => ({
    location,
    file: `${sequence}.json`,
    path,
    worker: null,
    since: since.toISOString(),
    task,
    problem: null,
    text: null,
    reason: null,
  });
  const message = await jsm.streams.getMessage(EVENT_STREAM, { seq: sequence }).catch(notThere);
  if (message && reaches(listener.eventType, eventTypeOfSubject(message.subject))) {
    const info = await jsm.consumers.info(EVENT_STREAM, consumer);
    const state = await jsm.streams.getMessage(STATE_STREAM, {
      last_by_subj: taskSubject(STATE_PREFIX, consumer, sequence),
    }).catch(notThere);
    const record = (): TaskRecord | null => {
      try {
        return firstRecord(new TextDecoder().decode(message.data), sequence, {
          delivery: message.header?.get(HEADER.delivery) ?? "",
          eventType: message.header?.get(HEADER.eventType) || undefined,
          eventId: message.header?.get(HEADER.msgId) || undefined,
          taskId: "",
        });
      } catch (error) {
        if (error instanceof CorruptFileError) return null;
        throw error;
      }
    };
    if (state) {
      found.push(entry("inbox", `${dir}/${sequence}`, state.time, decodeState(state.string()).record));
    } else if (sequence > info.delivered.stream_seq) {
      found.push(entry("inbox", `${dir}/${sequence}`, message.time, record()));
    } else if (sequence > info.ack_floor.stream_seq) {
      found.push(entry("inflight", `${dir}/${sequence}`, message.time, record()));
    }
  }
  const requeued = await jsm.streams.getMessage(REQUEUE_STREAM, {
    last_by_subj: taskSubject(REQUEUE_PREFIX, consumer, sequence),
  }).catch(notThere);
  if (requeued) {
    const retry = await jsm.streams.getMessage(STATE_STREAM, {
      last_by_subj: taskSubject(STATE_PREFIX, consumer, `rq${requeued.seq}`),
    }).catch(notThere);
    const task = retry ? decodeState(retry.string()).record : decodeTask(requeued.string(), sequence);
    found.push(entry("inbox", `${REQUEUE_STREAM}/${requeued.subject}`, (retry ?? requeued).time, task));
  }
  const error = await jsm.streams.getMessage(ERROR_STREAM, {
    last_by_subj: taskSubject(ERROR_PREFIX, consumer, sequence),
  }).catch(notThere);
  if (error) {
    const text = error.string();
    const reason = error.header?.get(HEADER.reason) || null;
    let task: TaskRecord | null = null;
    let problem: string | null = reason;
    if (reason === null) {
      try {
        task = decodeTask(text, sequence);
      } catch (thrown) {
        if (!(thrown instanceof CorruptFileError)) throw thrown;
        problem = thrown.message;
      }
    }
    found.push({
      ...entry("error", `${ERROR_STREAM}/${error.subject}`, error.time, task),
      problem,
      reason,
      text: task === null ? text.slice(0, 4096) : null,
    });
  }
  return { listener: listener.id, dir, sequence, found };
}

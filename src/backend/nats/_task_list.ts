/**
 * `tasks()` of the NATS operations: the first tasks of a listener in one
 * state, read from the streams. `inbox`: the tasks put back with a retry
 * state, the requeued (and migrated) tasks, and the events its consumer has
 * not delivered yet; `error`: its error records; `archive`: nothing (no
 * archive is kept on NATS).
 */
import type { JetStreamManager, MsgRequest, StoredMsg } from "@nats-io/jetstream";
import { CorruptFileError } from "../../errors.ts";
import type { Listener } from "../../protocol/listener_id.ts";
import { decodeTask, type TaskRecord } from "../../protocol/task_file.ts";
import type { ListedTask, TaskList, TaskListOptions } from "../operations.ts";
import { decodeState, firstRecord, HEADER, stableTaskId } from "./_message.ts";
import {
  ERROR_PREFIX,
  ERROR_STREAM,
  EVENT_STREAM,
  listenerFilter,
  REQUEUE_PREFIX,
  REQUEUE_STREAM,
  STATE_PREFIX,
  STATE_STREAM,
} from "./subjects.ts";

/** How many undelivered events `newest` looks through for the last ones (a stream is read forwards only). */
export const NEWEST_SCAN_LIMIT = 10_000;

/** `null` for a message that is not there (getMessage answers "no message found" with an error on some servers). */
function notThere(error: unknown): null {
  if ((error as { code?: unknown })?.code === 10037) return null;
  throw error;
}

/** One entry to list: its sequence and how to read it (a request per entry, only for those listed). */
interface Candidate {
  sequence: number;
  read: () => Promise<{ time: Date; task: TaskRecord | null; problem: string | null } | null>;
}

/** The sequences of a consumer's subjects in a stream (`<prefix>.<consumer>.<key>`), with their keys. */
async function subjectKeys(jsm: JetStreamManager, stream: string, prefix: string, consumer: string) {
  const info = await jsm.streams.info(stream, { subjects_filter: `${prefix}.${consumer}.>` });
  return Object.keys(info.state.subjects ?? {}).map((subject) => ({ subject, key: subject.split(".").at(-1)! }));
}

/** A task record decoded, or what is wrong with it. */
function decoded(text: string, sequence: number): { task: TaskRecord | null; problem: string | null } {
  try {
    return { task: decodeTask(text, sequence), problem: null };
  } catch (error) {
    if (!(error instanceof CorruptFileError)) throw error;
    return { task: null, problem: `corrupt task: ${error.message}` };
  }
}

/**
 * Lists the first tasks of one state of a listener on NATS (the dashboard's
 * listener page): at most `limit` entries are read, one request each.
 * `total` counts the error records (`error`), or the retry states, requeued
 * tasks and undelivered events (`inbox`; a retry state is kept until its task
 * is done, so a retried task in flight again counts too). With `newest` on
 * `inbox`, the last of the first {@linkcode NEWEST_SCAN_LIMIT} undelivered
 * events are listed.
 */
export async function listNatsTasks(
  jsm: JetStreamManager,
  listener: Listener,
  consumer: string,
  options: TaskListOptions,
): Promise<TaskList> {
  const limit = options.limit ?? 50;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new RangeError(`limit must be a non-negative integer, found ${JSON.stringify(limit)}`);
  }
  const now = (options.now ?? (() => new Date()))().getTime();
  const get = (stream: string, query: MsgRequest) => jsm.streams.getMessage(stream, query).catch(notThere);
  const candidates: Candidate[] = [];
  let total = 0;
  if (options.location === "error") {
    for (const { subject, key } of await subjectKeys(jsm, ERROR_STREAM, ERROR_PREFIX, consumer)) {
      total++;
      candidates.push({
        sequence: Number(key),
        read: async () => {
          const record = await get(ERROR_STREAM, { last_by_subj: subject });
          if (record === null) return null;
          const reason = record.header?.get(HEADER.reason) || null;
          if (reason !== null) return { time: record.time, task: null, problem: `quarantined: ${reason}` };
          return { time: record.time, ...decoded(record.string(), Number(key)) };
        },
      });
    }
  } else if (options.location === "inbox") {
    const stated = new Set<string>();
    const stateOf = async (subject: string) => {
      const state = await get(STATE_STREAM, { last_by_subj: subject });
      return state === null ? null : { time: state.time, task: decodeState(state.string()).record, problem: null };
    };
    for (const { subject, key } of await subjectKeys(jsm, STATE_STREAM, STATE_PREFIX, consumer)) {
      stated.add(key);
      if (key.startsWith("rq")) continue; // a requeued task's state: listed with its requeued message below
      total++;
      candidates.push({ sequence: Number(key), read: () => stateOf(subject) });
    }
    for (const { subject, key } of await subjectKeys(jsm, REQUEUE_STREAM, REQUEUE_PREFIX, consumer)) {
      const sequence = Number(key);
      total++;
      candidates.push({
        sequence,
        read: async () => {
          const message = await get(REQUEUE_STREAM, { last_by_subj: subject });
          if (message === null) return null;
          if (stated.has(`rq${message.seq}`)) return await stateOf(`${STATE_PREFIX}.${consumer}.rq${message.seq}`);
          return { time: message.time, ...decoded(message.string(), sequence) };
        },
      });
    }
    const info = await jsm.consumers.info(EVENT_STREAM, consumer);
    total += info.num_pending;
    const want = options.newest ? NEWEST_SCAN_LIMIT : limit;
    const filter = listenerFilter(listener.eventType);
    for (let seq = info.delivered.stream_seq + 1, found = 0; found < Math.min(want, info.num_pending); found++) {
      const message = await get(EVENT_STREAM, { next_by_subj: filter, seq } as unknown as MsgRequest);
      if (message === null) break;
      seq = message.seq + 1;
      if (stated.has(String(message.seq))) continue;
      candidates.push({ sequence: message.seq, read: () => Promise.resolve(eventTask(message, consumer)) });
    }
  }
  candidates.sort((a, b) => options.newest ? b.sequence - a.sequence : a.sequence - b.sequence);
  const tasks: ListedTask[] = [];
  for (const candidate of candidates) {
    if (tasks.length >= limit) break;
    const read = await candidate.read();
    if (read === null) continue; // settled or removed meanwhile
    tasks.push({
      sequence: candidate.sequence,
      since: read.time.toISOString(),
      ageMs: now - read.time.getTime(),
      task: read.task,
      problem: read.problem,
    });
  }
  return { listener: listener.id, location: options.location, total, tasks };
}

/** An undelivered event's task, as the worker will see it. */
function eventTask(message: StoredMsg, consumer: string) {
  const eventId = message.header?.get(HEADER.msgId) || undefined;
  try {
    const task = firstRecord(new TextDecoder().decode(message.data), message.seq, {
      delivery: message.header?.get(HEADER.delivery) ?? "",
      eventType: message.header?.get(HEADER.eventType) || undefined,
      eventId,
      taskId: stableTaskId(eventId ?? String(message.seq), consumer),
    });
    return { time: message.time, task, problem: null };
  } catch (error) {
    if (!(error instanceof CorruptFileError)) throw error;
    return { time: message.time, task: null, problem: `corrupt task: ${error.message}` };
  }
}

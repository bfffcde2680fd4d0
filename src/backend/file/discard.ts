import { join } from "node:path";
import { CorruptFileError } from "../../errors.ts";
import { Layout } from "../../protocol/layout.ts";
import { listenerId } from "../../protocol/listener_id.ts";
import {
  decodeTask,
  DEFAULT_MAX_TASK_SIZE,
  encodeTask,
  type TaskRecord,
  withFailure,
} from "../../protocol/task_file.ts";
import { attemptOf } from "../../protocol/transition.ts";
import { FileStore, type ListenerRef } from "./file_store.ts";
import { findListener } from "./listeners.ts";
import { hostName } from "./pause.ts";
import { ensureStateDir, listClaims, lstatIfExists, replaceOwnFile } from "./_dir.ts";
import { isAlreadyExists, isNotFound, readRegularFile, syncDir } from "./_fs.ts";
import type { DiscardOptions, DiscardReport } from "../operations.ts";

export type { DiscardOptions, DiscardRefusal, DiscardReport } from "../operations.ts";

/**
 * Moves pending tasks of a listener from `inbox/` to `error/`, each with a
 * `DISCARDED` failure record ("discarded by <by> on <host>: <reason>",
 * `fate: "error"`), so that `hurah requeue` can bring them back. The task a
 * listener stopped at on FAILURE is pending too: discarding it lets the
 * runner go on with the next one.
 *
 * It is safe beside running runners: it holds the listener's run lock
 * **shared** while it works, so no ordered runner is in the middle of a pass
 * (handling a task in place in `inbox/`): it waits for one that is
 * (`wait`). Parallel workers hold the lock shared too, and handle only the
 * tasks they claimed into `inflight/`: a task in flight is refused. Each
 * task is taken by a rename of `inbox/<N>.json` to a name of this call's own,
 * `error/<N>.json~discard-<pid>.<id>` (a claim racing it gets `ENOENT`, and
 * only one of two discards wins), rewritten there (staged in `tmp/`), then
 * hard-linked to `error/<N>.json` and its own name unlinked. A PHP runner
 * takes no lock: do not discard while one works the listener.
 *
 * Requires `--allow-read` and `--allow-write` on the event root, and
 * `--allow-sys=hostname` for the host name.
 *
 * @param root The event root.
 * @param options The listener, which tasks, who and why.
 * @returns The tasks discarded, and those refused (not pending, in flight, nowhere) with where they are.
 * @throws {ListenerNotFoundError} When the listener does not exist.
 * @throws {InvalidNameError} When the listener id is invalid.
 * @throws {UnsafePathError} When a link stands where a directory should be.
 * @throws {RangeError} When a sequence number is not a positive integer.
 * @throws {LockTimeoutError} When an ordered runner's pass outlasts `wait.timeoutMs`; nothing was discarded.
 *
 * @example Getting a poison task out of the way
 * ```ts ignore
 * import { discard } from "jsr:@hurah/events";
 * const report = await discard("/var/lib/hurah", {
 *   listener: "user/signup/mailer",
 *   sequences: [42],
 *   reason: "address rejected for good",
 *   by: "alice",
 * });
 * for (const refusal of report.refused) console.error(`#${refusal.sequence}: ${refusal.reason}`);
 * ```
 */
export async function discard(root: string, options: DiscardOptions): Promise<DiscardReport> {
  for (const sequence of options.sequences) {
    if (!Number.isSafeInteger(sequence) || sequence < 1) {
      throw new RangeError(`a sequence number must be a positive integer, found ${JSON.stringify(sequence)}`);
    }
  }
  const ref = await findListener(root, options.listener);
  const durable = options.durable ?? true;
  const store = new FileStore(root, { durable });
  const reason = options.reason ? `: ${options.reason}` : "";
  const context: Context = {
    ref,
    store,
    durable,
    message: `discarded by ${options.by ?? `pid ${Deno.pid}`} on ${hostName()}${reason}`,
    worker: `${hostName()}:${Deno.pid}`,
    token: `${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`,
    now: options.now ?? (() => new Date()),
  };
  const report: DiscardReport = { listener: listenerId(ref.name, ref.eventType), discarded: [], refused: [] };
  // Shared: beside parallel workers, and never in the middle of an ordered pass.
  using _ = await lockShared(store, ref, options);
  for (const sequence of new Set(options.sequences)) {
    const refusal = await discardOne(context, sequence);
    if (refusal === undefined) report.discarded.push(sequence);
    else report.refused.push({ sequence, reason: refusal });
  }
  if (durable && report.discarded.length > 0) {
    await syncDir(join(ref.dir, Layout.INBOX));
    await syncDir(join(ref.dir, Layout.ERROR));
  }
  return report;
}

async function lockShared(store: FileStore, ref: ListenerRef, options: DiscardOptions): Promise<Disposable> {
  const file = await store.lockRunner(ref, true, options.wait ?? {});
  return { [Symbol.dispose]: () => file.close() };
}

interface Context {
  ref: ListenerRef;
  store: FileStore;
  durable: boolean;
  /** The failure record's message. */
  message: string;
  /** This process, as `host:pid`. */
  worker: string;
  /** Names this process's own files, as the `discard-<token>` of `error/<N>.json~discard-<token>`. */
  token: string;
  now: () => Date;
}

/** Discards one task; says why not when it was not. */
async function discardOne(context: Context, sequence: number): Promise<string | undefined> {
  const { ref, store } = context;
  const file = `${sequence}.json`;
  const inboxPath = join(ref.dir, Layout.INBOX, file);
  const found = readTask(inboxPath, sequence);
  if (found === undefined) return await whereElse(store, ref, file);
  if ("problem" in found) return `inbox/${file} is ${found.problem}; a runner quarantines it to error/ by itself`;
  await ensureStateDir(ref.dir, Layout.ERROR);
  // Take it under a name of this process's own: a runner's claim of it now fails, as does a second discard.
  const own = `${file}${Layout.CLAIM_SEPARATOR}discard-${context.token}`;
  const ownPath = join(ref.dir, Layout.ERROR, own);
  try {
    await Deno.rename(inboxPath, ownPath);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    return `taken meanwhile: ${await whereElse(store, ref, file)}`;
  }
  const taken = readTask(ownPath, sequence); // as it was when taken (a worker may have put it back rewritten)
  if (taken === undefined || "problem" in taken) {
    const moved = await store.quarantine(
      ref,
      Layout.ERROR,
      own,
      `discarded by hurah discard; ${context.message}`,
      file,
    );
    return `inbox/${file} changed while it was being discarded; it is in error/ as ${moved.split("/").pop()}`;
  }
  const record = withFailure(taken.task, {
    result: "DISCARDED",
    message: context.message,
    time: context.now().toISOString(),
    attempt: attemptOf(taken.task),
    worker: context.worker,
    fate: "error",
  });
  await replaceOwnFile(store, ref, ownPath, encodeTask(record), context.durable);
  try {
    await Deno.link(ownPath, join(ref.dir, Layout.ERROR, file)); // never replaces a file, as rename would
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
    const why = `error/${file} was taken when hurah discard moved this task there`;
    const moved = await store.quarantine(ref, Layout.ERROR, own, why, file);
    return `error/${file} is taken; the task is in error/ as ${moved.split("/").pop()} (with its DISCARDED record)`;
  }
  await Deno.remove(ownPath); // this process's own name: nobody else renames onto it
  return undefined;
}

/** A task file's record, what makes it unreadable as one, or `undefined` when it is not there. */
function readTask(path: string, sequence: number): { task: TaskRecord } | { problem: string } | undefined {
  let read;
  try {
    read = readRegularFile(path, DEFAULT_MAX_TASK_SIZE); // no link followed, no FIFO waited on
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  if (read.kind === "not a file") return { problem: `a ${read.found}, not a task file` };
  if (read.kind === "too large") return { problem: `too large (${read.size} bytes)` };
  try {
    return { task: decodeTask(read.bytes, sequence) };
  } catch (error) {
    if (!(error instanceof CorruptFileError)) throw error;
    return { problem: `a corrupt task file (${error.message})` };
  }
}

/** Why a task is not pending: where it is instead, or that it is nowhere. */
async function whereElse(store: FileStore, ref: ListenerRef, file: string): Promise<string> {
  const claim = (await listClaims(store, ref)).find((claim) => claim.task === file);
  if (claim !== undefined) {
    return `not pending: it is in flight (inflight/${claim.file}), being handled; left to its worker`;
  }
  if (await lstatIfExists(join(ref.dir, Layout.ARCHIVE, file))) return "not pending: it is in archive/ (handled)";
  if (await lstatIfExists(join(ref.dir, Layout.ERROR, file))) return "not pending: it is in error/ already";
  return `not found: no task ${file} in inbox/, inflight/, archive/ or error/ (never delivered, or pruned)`;
}

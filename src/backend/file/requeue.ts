import { join } from "node:path";
import { CorruptFileError } from "../../errors.ts";
import { Layout } from "../../protocol/layout.ts";
import { listenerId } from "../../protocol/listener_id.ts";
import { decodeTask, encodeTask, requeuedTask, sequenceOf, type TaskRecord } from "../../protocol/task_file.ts";
import { FileStore, type ListenerRef } from "./file_store.ts";
import { findListener } from "./listeners.ts";
import { ensureStateDir, isReasonNote, listClaims, lstatIfExists, readStateDir, replaceOwnFile } from "./_dir.ts";
import { isAlreadyExists, isNotFound, readTextIfExists, syncDir } from "./_fs.ts";
import type { RequeueOptions, RequeueRefusal, RequeueReport } from "../operations.ts";

export type { RequeueOptions, RequeueRefusal, RequeueReport } from "../operations.ts";

/**
 * Puts tasks from a listener's `error/` back into its `inbox/`, to be
 * handled again. Each keeps its history: a `REQUEUED` failure record is
 * appended (saying who and when, without `fate`, so that a runner does not
 * send it straight back to `error/`), and `retry_count`, `lost_count` and
 * `not_before` are removed. Each task is first taken by a rename to a name of this call's
 * own, `error/<N>.json~requeue-<pid>.<id>` (so that of two requeues of one
 * task only one puts it back; the other reports it in `skipped`, requeued
 * by someone else meanwhile), rewritten there (staged in `tmp/`, then
 * renamed over it), then hard-linked to `inbox/<N>.json` (which refuses to
 * replace a file) and its own name unlinked. No name that a runner may
 * have replaced meanwhile is ever unlinked or overwritten, so a runner that
 * handles the task at once and sends it back to `error/` loses nothing. A
 * task whose number is taken in `inbox/` or `inflight/` is refused and left
 * in `error/`. Files that cannot be read as tasks (quarantined) are never
 * put back.
 *
 * Requires `--allow-read` and `--allow-write` on the event root, and
 * `--allow-sys=hostname` for the default `by`.
 *
 * @param root The event root.
 * @param options The listener and which tasks.
 * @returns The tasks put back, those refused, and with `all` the quarantined files skipped.
 * @throws {ListenerNotFoundError} When the listener does not exist.
 * @throws {InvalidNameError} When the listener id is invalid.
 * @throws {UnsafePathError} When a link stands where a directory should be.
 * @throws {TypeError} When both `sequences` and `all` are given.
 * @throws {RangeError} When a sequence number is not a positive integer.
 *
 * @example Putting a failed task back
 * ```ts ignore
 * import { requeue } from "jsr:@hurah/events";
 * const report = await requeue("/var/lib/hurah", { listener: "product/created/image_scaler", sequences: [3] });
 * for (const refusal of report.refused) console.error(`#${refusal.sequence}: ${refusal.reason}`);
 * ```
 */
export async function requeue(root: string, options: RequeueOptions): Promise<RequeueReport> {
  const sequences = options.sequences ?? [];
  if (options.all && sequences.length > 0) throw new TypeError("give either sequences or all, not both");
  for (const sequence of sequences) {
    if (!Number.isSafeInteger(sequence) || sequence < 1) {
      throw new RangeError(`a sequence number must be a positive integer, found ${JSON.stringify(sequence)}`);
    }
  }
  const ref = await findListener(root, options.listener);
  const durable = options.durable ?? true;
  const context: Context = {
    ref,
    store: new FileStore(root, { durable }),
    worker: processId(),
    by: options.by ?? processId(),
    token: `${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`,
    durable,
    now: options.now ?? (() => new Date()),
  };
  const report: RequeueReport = {
    listener: listenerId(ref.name, ref.eventType),
    requeued: [],
    refused: [],
    skipped: [],
  };
  if (options.all) {
    const entries = (await readStateDir(ref.dir, Layout.ERROR)).filter((entry) => !isReasonNote(entry.name));
    const tasks: number[] = [];
    for (const entry of entries) {
      const sequence = sequenceOf(entry.name);
      if (sequence !== undefined) tasks.push(sequence);
      else report.skipped.push(await quarantined(ref, entry.name, null, "not a task file"));
    }
    for (const sequence of tasks.sort((a, b) => a - b)) await requeueOne(context, sequence, report, false);
  } else {
    for (const sequence of new Set(sequences)) await requeueOne(context, sequence, report, true);
  }
  if (context.durable && report.requeued.length > 0) {
    await syncDir(join(ref.dir, Layout.INBOX));
    await syncDir(join(ref.dir, Layout.ERROR));
  }
  return report;
}

interface Context {
  ref: ListenerRef;
  store: FileStore;
  /** This process, as `host:pid`. */
  worker: string;
  by: string;
  /** Names this process's own files, as the `requeue-<token>` of `error/<N>.json~requeue-<token>`. */
  token: string;
  durable: boolean;
  now: () => Date;
}

async function requeueOne(context: Context, sequence: number, report: RequeueReport, asked: boolean): Promise<void> {
  const { ref } = context;
  const file = `${sequence}.json`;
  const path = join(ref.dir, Layout.ERROR, file);
  const refuse = (reason: string) => report.refused.push({ file, sequence, reason });
  const read = await readFailedTask(path, sequence);
  if (read === undefined) {
    refuse(await whereElse(context.store, ref, file));
    return;
  }
  if ("problem" in read) {
    const refusal = await quarantined(ref, file, sequence, read.problem);
    (asked ? report.refused : report.skipped).push(refusal);
    return;
  }
  const takenBefore = await numberTaken(context.store, ref, file);
  if (takenBefore !== undefined) {
    refuse(`${takenBefore} already exists; left in error/`);
    return;
  }
  // Take the task under a name of this process's own, so that only one requeue puts it back, and no
  // other process acts on a name this one then renames or unlinks.
  const own = `${file}${Layout.CLAIM_SEPARATOR}requeue-${context.token}`;
  const ownPath = join(ref.dir, Layout.ERROR, own);
  try {
    await Deno.rename(path, ownPath);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    report.skipped.push({ file, sequence, reason: `error/${file} was requeued by someone else meanwhile` });
    return;
  }
  const taken = await readFailedTask(ownPath, sequence);
  if (taken === undefined || "problem" in taken) {
    // Replaced between the two reads: leave it as found.
    refuse(`error/${file} changed while it was being put back; ${await putBack(context, ownPath, file)}`);
    return;
  }
  const { task } = taken;
  const requeued = requeuedTask(task, {
    from: "into inbox/ from error/",
    by: context.by,
    worker: context.worker,
    time: context.now(),
  });
  await replaceOwnFile(context.store, ref, ownPath, encodeTask(requeued), context.durable);
  const takenNow = await numberTaken(context.store, ref, file);
  if (takenNow !== undefined) {
    refuse(`${takenNow} appeared meanwhile; ${await putBack(context, ownPath, file)} (with its REQUEUED record)`);
    return;
  }
  await ensureStateDir(ref.dir, Layout.INBOX);
  try {
    await Deno.link(ownPath, join(ref.dir, Layout.INBOX, file)); // never replaces a task, as rename would
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
    refuse(`inbox/${file} appeared meanwhile; ${await putBack(context, ownPath, file)} (with its REQUEUED record)`);
    return;
  }
  await Deno.remove(ownPath); // this process's own name: nobody else renames onto it
  report.requeued.push(sequence);
}

/**
 * Puts a task taken as `error/<N>.json~requeue-<token>` back as
 * `error/<N>.json`, or, should that name be taken, under a free variant of
 * it with a note (it is never lost, nor does it replace a file). Says where.
 */
async function putBack(context: Context, ownPath: string, file: string): Promise<string> {
  const errorDir = join(context.ref.dir, Layout.ERROR);
  try {
    await Deno.link(ownPath, join(errorDir, file));
    await Deno.remove(ownPath);
    return `left in error/`;
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
  const own = ownPath.slice(errorDir.length + 1);
  const moved = await context.store.quarantine(
    context.ref,
    Layout.ERROR,
    own,
    `error/${file} already existed when this task was put back there by hurah requeue`,
    file,
  );
  return `left in error/ as ${moved.slice(errorDir.length + 1)}, as error/${file} is taken`;
}

/** A file of `error/`: its task, what makes it unreadable as one, or `undefined` when it is not there. */
async function readFailedTask(
  path: string,
  sequence: number,
): Promise<{ task: TaskRecord } | { problem: string } | undefined> {
  const info = await lstatIfExists(path);
  if (info === undefined) return undefined;
  if (!info.isFile) {
    return { problem: info.isSymlink ? "a symbolic link" : info.isDirectory ? "a directory" : "not a regular file" };
  }
  const text = await readTextIfExists(path);
  if (text === undefined) return undefined; // removed meanwhile
  try {
    return { task: decodeTask(text, sequence) };
  } catch (error) {
    if (!(error instanceof CorruptFileError)) throw error;
    return { problem: `a corrupt task file (${error.message})` };
  }
}

/** The inbox or in-flight name that holds this task's number, if any. */
async function numberTaken(store: FileStore, ref: ListenerRef, file: string): Promise<string | undefined> {
  if (await lstatIfExists(join(ref.dir, Layout.INBOX, file))) return `inbox/${file}`;
  const claim = (await listClaims(store, ref)).find((claim) => claim.task === file);
  if (claim !== undefined) return `inflight/${claim.file}`;
  return undefined;
}

/** Why a task is not in `error/`: where it is instead, or that it is nowhere. */
async function whereElse(store: FileStore, ref: ListenerRef, file: string): Promise<string> {
  if (await lstatIfExists(join(ref.dir, Layout.INBOX, file))) return "not in error/: it is pending in inbox/";
  if (await lstatIfExists(join(ref.dir, Layout.ARCHIVE, file))) return "not in error/: it is in archive/";
  const claim = (await listClaims(store, ref)).find((claim) => claim.task === file);
  if (claim !== undefined) return `not in error/: it is in flight (inflight/${claim.file})`;
  if (await lstatIfExists(join(ref.dir, Layout.ERROR, `${file}.1`))) {
    return `not in error/ as ${file}; error/${file}.1 is a quarantined file, which is never put back`;
  }
  return `not found: expected error/${file}`;
}

/** A refusal for a quarantined entry of `error/`, quoting its note when it has one. */
async function quarantined(
  ref: ListenerRef,
  file: string,
  sequence: number | null,
  what: string,
): Promise<RequeueRefusal> {
  const note = join(ref.dir, Layout.ERROR, file + Layout.REASON_SUFFIX);
  const text = (await lstatIfExists(note))?.isFile ? (await readTextIfExists(note))?.trim() : undefined;
  const why = text ? ` (quarantined: ${text})` : "";
  return { file, sequence, reason: `error/${file} is ${what}, so it is not put back${why}` };
}

/** `host:pid`, or `pid:<pid>` when the host name may not be read (asking would prompt). */
function processId(): string {
  const granted = Deno.permissions.querySync?.({ name: "sys", kind: "hostname" }).state === "granted";
  return granted ? `${Deno.hostname()}:${Deno.pid}` : `pid:${Deno.pid}`;
}

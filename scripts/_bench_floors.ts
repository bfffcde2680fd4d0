/**
 * The floors of the benchmark: the system calls that hurah cannot avoid, in bare loops, run by the same worker
 * processes as hurah itself: a delivery (create + write + rename, tmp file → inbox; durable: fsync the file and the
 * inbox); the protocol's delivery as a PHP-compatible locked dispatcher needs it at the least (flock, read
 * tracking.json, write the task and the tracking file, rename both; four fsyncs when durable); a drained task (read
 * + JSON.parse + rename, inbox → archive, and its fsync variant; the inbox listed at once, fast, or as a stream,
 * lean); a watcher (`Deno.watchFs` on the inbox, then list, read, parse, rename).
 *
 * Each comes with the synchronous calls (the cost of the system calls themselves) and, where it tells something,
 * with Deno's asynchronous ones, which hand every call to a thread pool. The two variants of a floor are written out
 * twice on purpose: a shared body would add an `await` (a microtask) to every synchronous call.
 *
 * @module
 */
import { closeSync, constants, existsSync, openSync, readSync } from "node:fs";
import { dirname, join } from "node:path";

/** When a timed loop started and ended (epoch milliseconds, sub-millisecond precision), and what it did. */
export type Timing = { start: number; end: number; count: number };

/** Epoch milliseconds with sub-millisecond precision, comparable between processes. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

const encoder = new TextEncoder();

function writeFileSync(path: string, bytes: Uint8Array, fsync: boolean): void {
  const file = Deno.openSync(path, { write: true, create: true, truncate: true });
  try {
    for (let written = 0; written < bytes.length;) written += file.writeSync(bytes.subarray(written));
    if (fsync) file.syncSync();
  } finally {
    file.close();
  }
}

async function writeFile(path: string, bytes: Uint8Array, fsync: boolean): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    for (let written = 0; written < bytes.length;) written += await file.write(bytes.subarray(written));
    if (fsync) await file.sync();
  } finally {
    file.close();
  }
}

function syncDirSync(path: string): void {
  using dir = Deno.openSync(path, { read: true });
  dir.syncSync();
}

async function syncDir(path: string): Promise<void> {
  using dir = await Deno.open(path, { read: true });
  await dir.sync();
}

/** A task file's text as hurah writes it, with the sequence number spliced in: the floors write files of the same size. */
export function taskText(sequence: number, payload: unknown = { product_id: sequence }): string {
  return JSON.stringify({
    payload,
    sequence,
    count: sequence,
    delivery: "2026-11-29T03:39:28+00:00",
    event_type: "bench",
    event_id: "0add4ab8-0983-4055-a580-331ebd5a63de",
    task_id: "597f48f9-b115-43df-8e72-f88bce455086",
  });
}

/**
 * What a dispatch floor does: `events` to each listener directory of `dirs` (with `inbox/` and `tmp/`), flushed as
 * durable mode does, named after `writer` (unique per process, so that processes writing the same inboxes use
 * distinct names).
 */
export type DispatchFloorOptions = { dirs: string[]; events: number; durable: boolean; writer: string };

/** (a) create + write + rename per delivery, synchronous calls. */
export function floorDispatchSync({ dirs, events, durable, writer }: DispatchFloorOptions): Timing {
  const start = now();
  for (let i = 0; i < events; i++) {
    const bytes = encoder.encode(taskText(i));
    for (const dir of dirs) {
      const staged = join(dir, "tmp", `floor.${writer}.${i}.tmp`);
      writeFileSync(staged, bytes, durable);
      Deno.renameSync(staged, join(dir, "inbox", `${writer}.${i}.json`));
      if (durable) syncDirSync(join(dir, "inbox"));
    }
  }
  return { start, end: now(), count: events * dirs.length };
}

/** (a) create + write + rename per delivery, Deno's asynchronous calls. */
export async function floorDispatchAsync({ dirs, events, durable, writer }: DispatchFloorOptions): Promise<Timing> {
  const start = now();
  for (let i = 0; i < events; i++) {
    const bytes = encoder.encode(taskText(i));
    for (const dir of dirs) {
      const staged = join(dir, "tmp", `floor.${writer}.${i}.tmp`);
      await writeFile(staged, bytes, durable);
      await Deno.rename(staged, join(dir, "inbox", `${writer}.${i}.json`));
      if (durable) await syncDir(join(dir, "inbox"));
    }
  }
  return { start, end: now(), count: events * dirs.length };
}

function trackingText(sequence: number): string {
  const time = "2026-11-29T03:39:28+00:00";
  return JSON.stringify({ sequence, count: sequence, first: time, last: time });
}

/** The sequence a listener's tracking.json holds, 0 when there is none yet. */
function readSequenceSync(dir: string): number {
  try {
    return JSON.parse(Deno.readTextFileSync(join(dir, "tracking.json"))).sequence;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

async function readSequence(dir: string): Promise<number> {
  try {
    return JSON.parse(await Deno.readTextFile(join(dir, "tracking.json"))).sequence;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

/**
 * The protocol floor, synchronous calls. The lock files stay open for the whole loop (opened before the clock
 * starts); per delivery: flock, read tracking.json, write the task to tmp/, write tracking to tmp/, rename
 * tracking.json into place, rename the task into the inbox, unlock. Durable: fsync both files before their renames,
 * then the inbox and the listener directory.
 */
export function protocolFloorSync({ dirs, events, durable, writer }: DispatchFloorOptions): Timing {
  const locks = dirs.map((dir) => Deno.openSync(join(dir, "dispatch.lock"), { read: true, write: true, create: true }));
  try {
    const start = now();
    for (let i = 0; i < events; i++) {
      for (const [k, dir] of dirs.entries()) {
        locks[k].lockSync(true);
        try {
          const sequence = readSequenceSync(dir) + 1;
          const staged = join(dir, "tmp", `task.${writer}.${i}.tmp`);
          const stagedTracking = join(dir, "tmp", `tracking.${writer}.${i}.tmp`);
          writeFileSync(staged, encoder.encode(taskText(sequence)), durable);
          writeFileSync(stagedTracking, encoder.encode(trackingText(sequence)), durable);
          Deno.renameSync(stagedTracking, join(dir, "tracking.json"));
          Deno.renameSync(staged, join(dir, "inbox", `${sequence}.json`));
          if (durable) {
            syncDirSync(join(dir, "inbox"));
            syncDirSync(dir);
          }
        } finally {
          locks[k].unlockSync();
        }
      }
    }
    return { start, end: now(), count: events * dirs.length };
  } finally {
    for (const lock of locks) lock.close();
  }
}

/**
 * The checked protocol floor, synchronous calls: every system call `dispatch()` makes, in its order, with no
 * JavaScript around them but the loop. Beside the protocol floor's: one `stat` of each level's directory (the
 * listener lookup revalidated), tracking.json read with open + read + close, `inbox/<N>.json` probed before and after
 * the tracking.json rename (a PHP dispatcher may have taken N meanwhile), the number recorded in `dispatch.lock`
 * (seek + write), and the task linked into the inbox, then its staging name removed (a rename could replace a task
 * file a PHP dispatcher wrote). Durable: fsync the task file and the inbox, as hurah does.
 */
export function checkedProtocolFloorSync({ dirs, events, durable, writer }: DispatchFloorOptions): Timing {
  const locks = dirs.map((dir) => Deno.openSync(join(dir, "dispatch.lock"), { read: true, write: true, create: true }));
  const [root, typeDir] = [dirname(dirname(dirs[0])), dirname(dirs[0])];
  const record = new Uint8Array(16);
  try {
    const start = now();
    for (let i = 0; i < events; i++) {
      Deno.statSync(root);
      Deno.lstatSync(typeDir);
      for (const [k, dir] of dirs.entries()) {
        locks[k].lockSync(true);
        try {
          const sequence = readSequenceSync(dir) + 1;
          const target = join(dir, "inbox", `${sequence}.json`);
          existsSync(target);
          const stagedTracking = join(dir, "tmp", `tracking.${writer}.${i}.tmp`);
          writeFileSync(stagedTracking, encoder.encode(trackingText(sequence)), false);
          locks[k].seekSync(0, Deno.SeekMode.Start);
          encoder.encodeInto(`${sequence}`.padEnd(16), record);
          locks[k].writeSync(record);
          Deno.renameSync(stagedTracking, join(dir, "tracking.json"));
          existsSync(target);
          const staged = join(dir, "tmp", `task.${writer}.${i}.tmp`);
          writeFileSync(staged, encoder.encode(taskText(sequence)), durable);
          Deno.linkSync(staged, target);
          Deno.removeSync(staged);
          if (durable) syncDirSync(join(dir, "inbox"));
        } finally {
          locks[k].unlockSync();
        }
      }
    }
    return { start, end: now(), count: events * dirs.length };
  } finally {
    for (const lock of locks) lock.close();
  }
}

/** The protocol floor with Deno's asynchronous calls (the lock taken with `await lock()`). */
export async function protocolFloorAsync({ dirs, events, durable, writer }: DispatchFloorOptions): Promise<Timing> {
  const locks = await Promise.all(
    dirs.map((dir) => Deno.open(join(dir, "dispatch.lock"), { read: true, write: true, create: true })),
  );
  try {
    const start = now();
    for (let i = 0; i < events; i++) {
      for (const [k, dir] of dirs.entries()) {
        await locks[k].lock(true);
        try {
          const sequence = await readSequence(dir) + 1;
          const staged = join(dir, "tmp", `task.${writer}.${i}.tmp`);
          const stagedTracking = join(dir, "tmp", `tracking.${writer}.${i}.tmp`);
          await writeFile(staged, encoder.encode(taskText(sequence)), durable);
          await writeFile(stagedTracking, encoder.encode(trackingText(sequence)), durable);
          await Deno.rename(stagedTracking, join(dir, "tracking.json"));
          await Deno.rename(staged, join(dir, "inbox", `${sequence}.json`));
          if (durable) {
            await syncDir(join(dir, "inbox"));
            await syncDir(dir);
          }
        } finally {
          await locks[k].unlock();
        }
      }
    }
    return { start, end: now(), count: events * dirs.length };
  } finally {
    for (const lock of locks) lock.close();
  }
}

/** The task files of an inbox in sequence order (non-numeric names last). */
function listTasks(inbox: string): string[] {
  const names: string[] = [];
  for (const entry of Deno.readDirSync(inbox)) if (entry.isFile && !entry.name.startsWith(".")) names.push(entry.name);
  return names.sort((a, b) => parseInt(a) - parseInt(b));
}

/**
 * What a drain floor does: the listener directory `dir` with the backlog in `inbox/` and an `archive/`; `fsync` each
 * file before its rename and `archive/` after it; `concurrency`: how many loops share the list (asynchronous calls).
 */
export type DrainFloorOptions = { dir: string; fsync: boolean; concurrency?: number };

/** (b) list once, then read + JSON.parse + rename per task, synchronous calls; (c) with fsyncs. */
export function floorDrainSync({ dir, fsync }: DrainFloorOptions): Timing {
  const [inbox, archive] = [join(dir, "inbox"), join(dir, "archive")];
  const start = now();
  const names = listTasks(inbox);
  for (const name of names) {
    const path = join(inbox, name);
    if (fsync) {
      using file = Deno.openSync(path, { read: true });
      const bytes = new Uint8Array(file.statSync().size);
      for (let read = 0; read < bytes.length;) read += file.readSync(bytes.subarray(read)) ?? bytes.length;
      JSON.parse(new TextDecoder().decode(bytes));
      file.syncSync();
    } else {
      JSON.parse(Deno.readTextFileSync(path));
    }
    Deno.renameSync(path, join(archive, name));
    if (fsync) syncDirSync(archive);
  }
  return { start, end: now(), count: names.length };
}

const READ_SAFELY = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * The checked drain floor, synchronous calls: every system call an ordered `runOnce` makes on a task, in its order,
 * with no JavaScript around them but the loop and the parse. Beside the floor's read + rename: the pause marker looked
 * for before the take, the task read as hurah reads it (`lstat`, open with `O_NOFOLLOW | O_NONBLOCK` through
 * `node:fs`, read, close, `lstat` again), and the archive name checked to be free before the rename.
 */
export function floorDrainCheckedSync({ dir }: DrainFloorOptions): Timing {
  const [inbox, archive, paused] = [join(dir, "inbox"), join(dir, "archive"), join(dir, "paused.json")];
  const decoder = new TextDecoder();
  const start = now();
  const names = listTasks(inbox);
  for (const name of names) {
    const path = `${inbox}/${name}`;
    if (existsSync(paused)) throw new Error(`${paused} appeared`);
    const seen = Deno.lstatSync(path);
    const bytes = new Uint8Array(seen.size);
    const fd = openSync(path, READ_SAFELY);
    try {
      for (let read = 0, n; read < bytes.length && (n = readSync(fd, bytes, read, bytes.length - read, null)) > 0;) {
        read += n;
      }
    } finally {
      closeSync(fd);
    }
    if (Deno.lstatSync(path).ino !== seen.ino) throw new Error(`${path} was replaced`);
    JSON.parse(decoder.decode(bytes));
    const target = `${archive}/${name}`;
    if (existsSync(target)) throw new Error(`${target} is taken`);
    Deno.renameSync(path, target);
  }
  return { start, end: now(), count: names.length };
}

/**
 * (b) with the lean listing: the inbox read as a stream (Deno's async listing) keeping only the numbers (little
 * memory, slower than the synchronous listing), then read + JSON.parse + rename per task with synchronous calls.
 */
export async function floorDrainStreamed({ dir }: DrainFloorOptions): Promise<Timing> {
  const [inbox, archive] = [join(dir, "inbox"), join(dir, "archive")];
  const start = now();
  const sequences: number[] = [];
  for await (const entry of Deno.readDir(inbox)) {
    const sequence = parseInt(entry.name);
    if (entry.isFile && sequence > 0) sequences.push(sequence);
  }
  sequences.sort((a, b) => a - b);
  for (const sequence of sequences) {
    const name = `${sequence}.json`;
    JSON.parse(Deno.readTextFileSync(join(inbox, name)));
    Deno.renameSync(join(inbox, name), join(archive, name));
  }
  return { start, end: now(), count: sequences.length };
}

/** Parallel mode's floor, synchronous calls: list once, then claim (inbox → inflight), read + parse, → archive. */
export function claimFloorSync({ dir }: DrainFloorOptions): Timing {
  const [inbox, inflight, archive] = [join(dir, "inbox"), join(dir, "inflight"), join(dir, "archive")];
  Deno.mkdirSync(inflight, { recursive: true });
  const start = now();
  const names = listTasks(inbox);
  for (const name of names) {
    const claimed = join(inflight, `${name}~floor`);
    Deno.renameSync(join(inbox, name), claimed);
    JSON.parse(Deno.readTextFileSync(claimed));
    Deno.renameSync(claimed, join(archive, name));
  }
  return { start, end: now(), count: names.length };
}

/** (b) with Deno's asynchronous calls, in `concurrency` loops sharing one list. */
export async function floorDrainAsync({ dir, concurrency = 1 }: DrainFloorOptions): Promise<Timing> {
  const [inbox, archive] = [join(dir, "inbox"), join(dir, "archive")];
  const start = now();
  const names = listTasks(inbox);
  let next = 0;
  const loop = async () => {
    while (next < names.length) {
      const name = names[next++];
      const path = join(inbox, name);
      JSON.parse(await Deno.readTextFile(path));
      await Deno.rename(path, join(archive, name));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { start, end: now(), count: names.length };
}

/** Writes one task file the floor's way: tmp/ + write (+ fsync) + rename into the inbox (+ fsync of it). */
export function floorDeliverSync(dir: string, name: string, text: string, durable: boolean): void {
  const staged = join(dir, "tmp", `${name}.tmp`);
  writeFileSync(staged, encoder.encode(text), durable);
  Deno.renameSync(staged, join(dir, "inbox", name));
  if (durable) syncDirSync(join(dir, "inbox"));
}

/** A running floor watcher, as hurah's: `close()` stops it and waits for its loop, which ends after `expect` tasks. */
export type FloorWatcher = { ready: Promise<void>; close(): Promise<void> };

/**
 * The watcher floor: `Deno.watchFs` on the inbox; on every event, list the inbox and read + parse + rename each task
 * to `archive/`, calling `onTask` with the parsed record. Watching when this returns.
 */
export function floorWatch(dir: string, expect: number, onTask: (record: { payload: unknown }) => void): FloorWatcher {
  const [inbox, archive] = [join(dir, "inbox"), join(dir, "archive")];
  const watcher = Deno.watchFs(inbox, { recursive: false });
  const stop = () => {
    try {
      watcher.close();
    } catch {
      // closed already
    }
  };
  let handled = 0;
  const drain = () => {
    for (const name of listTasks(inbox)) {
      const path = join(inbox, name);
      let text: string;
      try {
        text = Deno.readTextFileSync(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) continue;
        throw error;
      }
      onTask(JSON.parse(text));
      Deno.renameSync(path, join(archive, name));
      handled++;
    }
  };
  const done = (async () => {
    drain();
    if (handled >= expect) return stop();
    for await (const event of watcher) {
      if (event.kind === "remove" || event.kind === "access") continue;
      drain();
      if (handled >= expect) break;
    }
    stop();
  })();
  return {
    ready: Promise.resolve(),
    close: async () => {
      stop();
      await done;
    },
  };
}

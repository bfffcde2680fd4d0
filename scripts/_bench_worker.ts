/// <reference lib="deno.unstable" />
/**
 * A benchmark worker process, spawned by scripts/bench.ts. Every contender,
 * hurah's and the floors', runs in one of these, so they all run in the same
 * kind of process:
 *
 *     deno run -A --unstable-kv --v8-flags=--expose-gc,--max-semi-space-size=1 scripts/_bench_worker.ts
 *
 * It reads one JSON command per line on stdin. For each it sets up (opens
 * what it needs, collects garbage), prints `{"ready":true}`, waits for a line
 * `go`, runs, and prints `{"result":{...}}`. Times are epoch milliseconds with
 * sub-millisecond precision (`performance.timeOrigin + performance.now()`),
 * so the parent can compare the clocks of several workers.
 *
 * With `--once '<json>'` it runs one command without waiting and prints its
 * result: that is how the bench runs it under `strace -c`, and how to profile
 * one contender:
 *
 *     deno run -A --cpu-prof --cpu-prof-dir=prof scripts/_bench_worker.ts --once '{"op":"dispatch",...}'
 *
 * @module
 */
import { Dispatcher, type DispatchEvent, runOnce, Task, type TaskContext, watch } from "../mod.ts";
import {
  claimFloorSync,
  floorDeliverSync,
  floorDispatchAsync,
  floorDispatchSync,
  floorDrainAsync,
  floorDrainStreamed,
  floorDrainSync,
  floorWatch,
  now,
  protocolFloorAsync,
  protocolFloorSync,
  taskText,
  type Timing,
} from "./_bench_floors.ts";
import { percentile } from "./_bench_stats.ts";

/** A command's result: what the parent reads. */
export type WorkerResult = Record<string, number | boolean | string>;

/** Sets a command up; the returned function runs it. */
type Op = (params: Params) => Promise<() => Promise<WorkerResult>>;

/** A command's parameters, as sent by the parent. */
export interface Params {
  op: string;
  contender: string;
  root: string;
  eventType: string;
  /** Listener directories (`<root>/<event type>/<name>_listener`). */
  dirs: string[];
  /** The handler name of the first listener (for runOnce and watch). */
  name: string;
  events: number;
  durable: boolean;
  writer: string;
  concurrency: number;
  intervalMs: number;
  timeoutMs: number;
  /** Deno KV: the database file. */
  path: string;
  /** Deno KV end to end: messages per `atomic()` commit. @default {1: one `enqueue()` each} */
  batch?: number;
}

const success = () => Task.SUCCESS;

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** VmRSS and VmHWM of this process, in KiB. */
export function memoryKiB(): { rss: number; hwm: number } {
  const status = Deno.readTextFileSync("/proc/self/status");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0). */
function resetPeak(): void {
  Deno.writeTextFileSync("/proc/self/clear_refs", "5");
}

function timing(t: Timing): WorkerResult {
  return { start: t.start, end: t.end, count: t.count };
}

/** Rejects after `ms` with a message, so that a stuck trial fails instead of hanging the bench. */
function deadline(ms: number, what: string): { promise: Promise<never>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms} ms`)), ms);
  });
  promise.catch(() => {});
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Events per `dispatchMany()` call of the `hurah-batch` contender, and `dispatch()` calls at once of `hurah-concurrent`. */
export const DISPATCH_BATCH = 100;

/** Dispatches `events` events, as fast as one loop can: hurah (one by one or in batches), or one of the floors. */
const dispatchOp: Op = (p) => {
  const floor = { dirs: p.dirs, events: p.events, durable: p.durable, writer: p.writer };
  switch (p.contender) {
    case "hurah": {
      const dispatcher = new Dispatcher(p.root, { durable: p.durable });
      return Promise.resolve(async () => {
        const start = now();
        let count = 0;
        for (let i = 0; i < p.events; i++) {
          count += (await dispatcher.dispatch(p.eventType, { product_id: i })).length;
        }
        return timing({ start, end: now(), count });
      });
    }
    case "hurah-concurrent":
    case "hurah-batch": {
      const dispatcher = new Dispatcher(p.root, { durable: p.durable });
      const send = p.contender === "hurah-batch"
        ? (events: DispatchEvent[]) => dispatcher.dispatchMany(events)
        : (events: DispatchEvent[]) => Promise.all(events.map((e) => dispatcher.dispatch(e.eventType, e.payload)));
      return Promise.resolve(async () => {
        const start = now();
        let count = 0;
        for (let i = 0; i < p.events; i += DISPATCH_BATCH) {
          const events = Array.from({ length: Math.min(DISPATCH_BATCH, p.events - i) }, (_, k) => ({
            eventType: p.eventType,
            payload: { product_id: i + k },
          }));
          for (const each of await send(events)) count += each.length;
        }
        return timing({ start, end: now(), count });
      });
    }
    case "floor":
      return Promise.resolve(() => Promise.resolve(timing(floorDispatchSync(floor))));
    case "floor-async":
      return Promise.resolve(async () => timing(await floorDispatchAsync(floor)));
    case "protocol":
      return Promise.resolve(() => Promise.resolve(timing(protocolFloorSync(floor))));
    case "protocol-async":
      return Promise.resolve(async () => timing(await protocolFloorAsync(floor)));
  }
  throw new Error(`dispatch: unknown contender ${p.contender}`);
};

/** Dispatches one event every `intervalMs` (on a fixed schedule), the send time in the payload. */
const pacedOp: Op = (p) => {
  const dispatcher = new Dispatcher(p.root, { durable: p.durable });
  const deliver = p.contender === "hurah"
    ? async (i: number) => void await dispatcher.dispatch(p.eventType, { i, t: now() })
    : (i: number) =>
      Promise.resolve(floorDeliverSync(p.dirs[0], `${i + 1}.json`, taskText(i + 1, { i, t: now() }), p.durable));
  return Promise.resolve(async () => {
    const start = now();
    for (let i = 0; i < p.events; i++) {
      const wait = start + i * p.intervalMs - now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      await deliver(i);
    }
    return timing({ start, end: now(), count: p.events });
  });
};

/** Drains a listener's backlog once: `runOnce` (ordered or parallel) or a drain floor. */
const drainOp: Op = (p) => {
  gc();
  const dir = p.dirs[0];
  let drain: () => Promise<Timing>;
  switch (p.contender) {
    case "hurah":
    case "hurah-parallel":
      drain = async () => {
        const start = now();
        const report = await runOnce(p.root, {
          name: p.name,
          eventType: p.eventType,
          handler: success,
          durable: p.durable,
          concurrency: p.contender === "hurah" ? 1 : p.concurrency,
        });
        return { start, end: now(), count: report.archived };
      };
      break;
    case "floor":
      drain = () => Promise.resolve(floorDrainSync({ dir, fsync: false }));
      break;
    case "floor-stream":
      drain = () => floorDrainStreamed({ dir, fsync: false });
      break;
    case "floor-claim":
      drain = () => Promise.resolve(claimFloorSync({ dir, fsync: false }));
      break;
    case "floor-fsync":
      drain = () => Promise.resolve(floorDrainSync({ dir, fsync: true }));
      break;
    case "floor-async":
      drain = () => floorDrainAsync({ dir, fsync: false });
      break;
    case "floor-async-parallel":
      drain = () => floorDrainAsync({ dir, fsync: false, concurrency: p.concurrency });
      break;
    default:
      throw new Error(`drain: unknown contender ${p.contender}`);
  }
  return Promise.resolve(async () => timing(await drain()));
};

/**
 * Watches one listener until `events` tasks were handled: hurah's `watch()`
 * or the watcher floor. The handler takes the clock on entry; where the
 * payload carries its send time `t`, the difference is a trigger latency.
 */
const watchOp: Op = async (p) => {
  gc();
  const latencies: number[] = [];
  let handled = 0;
  let first = NaN;
  let last = NaN;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => finish = resolve);
  const onTask = (payload: unknown) => {
    const at = now();
    const t = (payload as { t?: number } | null)?.t;
    if (typeof t === "number") latencies.push(at - t);
    if (handled === 0) first = at;
    last = at;
    if (++handled === p.events) finish();
  };
  let close: () => Promise<unknown>;
  if (p.contender === "floor") {
    const watcher = floorWatch(p.dirs[0], p.events, (record) => onTask(record.payload));
    close = async () => {
      watcher.close();
      await watcher.done;
    };
  } else {
    const watcher = watch(p.root, {
      listeners: [{
        name: p.name,
        eventType: p.eventType,
        concurrency: p.concurrency,
        handler: (context: TaskContext) => {
          onTask(context.payload);
          return Task.SUCCESS;
        },
      }],
      durable: p.durable,
    });
    await watcher.ready;
    close = () => watcher.close();
  }
  return async () => {
    const limit = deadline(p.timeoutMs, `watch (${p.contender}) handled ${handled} of ${p.events}`);
    try {
      await Promise.race([finished, limit.promise]);
    } finally {
      limit.cancel();
      await close();
    }
    return {
      first,
      last,
      count: handled,
      ...latencyStats(latencies),
    };
  };
};

/** p50, p90, p99, max and mean of latencies in milliseconds. */
function latencyStats(latencies: number[]): WorkerResult {
  if (latencies.length === 0) return {};
  return {
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: Math.max(...latencies),
    mean: latencies.reduce((sum, x) => sum + x, 0) / latencies.length,
  };
}

/**
 * Drains a backlog as `hurah run` (ordered or parallel) or `hurah watch`
 * does, or as the drain floor does, and reports the process's RSS just before (idle, after a warm-up on
 * an empty listener and a garbage collection) and its peak during the drain.
 * Meant for a fresh process (`--once`).
 */
const memoryOp: Op = async (p) => {
  const idle = { name: "idle", eventType: "warmup", handler: success };
  if (p.contender === "floor") {
    const empty = `${p.root}/warmup/floor_listener`; // loads the floor's code on an empty inbox
    for (const sub of ["inbox", "archive"]) Deno.mkdirSync(`${empty}/${sub}`, { recursive: true });
    await floorDrainStreamed({ dir: empty, fsync: false });
  } else if (p.contender === "watch") {
    const warm = watch(p.root, { listeners: [idle], durable: false });
    await warm.ready;
    await warm.close();
  } else {
    // The same mode as the measured drain, so that its code is loaded before the idle measurement.
    await runOnce(p.root, { ...idle, durable: false, concurrency: p.contender === "run" ? 1 : p.concurrency });
  }
  gc();
  const before = memoryKiB();
  resetPeak();
  return async () => {
    const start = now();
    let count: number;
    if (p.contender === "floor") {
      count = (await floorDrainStreamed({ dir: p.dirs[0], fsync: false })).count;
    } else if (p.contender === "watch") {
      let handled = 0;
      let finish!: () => void;
      const finished = new Promise<void>((resolve) => finish = resolve);
      const watcher = watch(p.root, {
        listeners: [{
          name: p.name,
          eventType: p.eventType,
          handler: () => {
            if (++handled === p.events) finish();
            return Task.SUCCESS;
          },
        }],
        durable: false,
      });
      const limit = deadline(p.timeoutMs, `memory (watch) handled ${handled} of ${p.events}`);
      try {
        await Promise.race([finished, limit.promise]);
      } finally {
        limit.cancel();
        await watcher.close();
      }
      count = handled;
    } else {
      const report = await runOnce(p.root, {
        name: p.name,
        eventType: p.eventType,
        handler: success,
        durable: false,
        concurrency: p.contender === "run" ? 1 : p.concurrency,
      });
      count = report.archived;
    }
    const end = now();
    const after = memoryKiB();
    return { start, end, count, idleKiB: before.rss, peakKiB: after.hwm, afterKiB: after.rss };
  };
};

/** Deno KV: `events` sequential `enqueue()`s. */
const kvEnqueueOp: Op = async (p) => {
  const kv = await Deno.openKv(p.path);
  return async () => {
    try {
      const start = now();
      for (let i = 0; i < p.events; i++) await kv.enqueue({ product_id: i });
      return timing({ start, end: now(), count: p.events });
    } finally {
      kv.close();
    }
  };
};

/**
 * Deno KV end to end: `events` sequential `enqueue()`s while `listenQueue()`
 * in the same process handles them (a local KV queue delivers only to the
 * process that enqueued); ends when the last one was handled. With `batch`
 * above 1, that many `enqueue()`s per `atomic()` commit.
 */
const kvEndToEndOp: Op = async (p) => {
  const kv = await Deno.openKv(p.path);
  let handled = 0;
  let last = NaN;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => finish = resolve);
  const listening = kv.listenQueue(() => {
    last = now();
    if (++handled === p.events) finish();
  });
  return async () => {
    const start = now();
    const limit = deadline(p.timeoutMs, `Deno KV handled ${handled} of ${p.events}`);
    try {
      const batch = Math.max(1, p.batch ?? 1);
      for (let i = 0; i < p.events; i += batch) {
        if (batch === 1) {
          await kv.enqueue({ product_id: i });
          continue;
        }
        const atomic = kv.atomic();
        for (let k = i; k < Math.min(i + batch, p.events); k++) atomic.enqueue({ product_id: k });
        if (!(await atomic.commit()).ok) throw new Error("Deno KV: an atomic enqueue was not committed");
      }
      await Promise.race([finished, limit.promise]);
    } finally {
      limit.cancel();
      kv.close();
      await listening.catch(() => {});
    }
    return { start, end: last, count: handled };
  };
};

/** hurah end to end in one process: `watch()` handles what a `Dispatcher` of the same process sends. */
const inProcessOp: Op = async (p) => {
  let handled = 0;
  let last = NaN;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => finish = resolve);
  const watcher = watch(p.root, {
    listeners: [{
      name: p.name,
      eventType: p.eventType,
      handler: () => {
        last = now();
        if (++handled === p.events) finish();
        return Task.SUCCESS;
      },
    }],
    durable: p.durable,
  });
  await watcher.ready;
  const dispatcher = new Dispatcher(p.root, { durable: p.durable });
  return async () => {
    const start = now();
    const limit = deadline(p.timeoutMs, `in-process watch handled ${handled} of ${p.events}`);
    try {
      for (let i = 0; i < p.events; i++) await dispatcher.dispatch(p.eventType, { product_id: i });
      await Promise.race([finished, limit.promise]);
    } finally {
      limit.cancel();
      await watcher.close();
    }
    return { start, end: last, count: handled };
  };
};

const OPS: Record<string, Op> = {
  dispatch: dispatchOp,
  paced: pacedOp,
  drain: drainOp,
  watch: watchOp,
  memory: memoryOp,
  "kv-enqueue": kvEnqueueOp,
  "kv-e2e": kvEndToEndOp,
  "in-process": inProcessOp,
};

const DEFAULTS: Params = {
  op: "",
  contender: "hurah",
  root: "",
  eventType: "bench",
  dirs: [],
  name: "l00",
  events: 0,
  durable: false,
  writer: "w0",
  concurrency: 4,
  intervalMs: 5,
  timeoutMs: 120_000,
  path: "",
};

async function setUp(line: string): Promise<() => Promise<WorkerResult>> {
  const params: Params = { ...DEFAULTS, ...JSON.parse(line) };
  const op = OPS[params.op];
  if (op === undefined) throw new Error(`unknown op ${params.op}`);
  return await op(params);
}

const encoder = new TextEncoder();

function print(value: unknown): void {
  const bytes = encoder.encode(JSON.stringify(value) + "\n");
  for (let written = 0; written < bytes.length;) written += Deno.stdout.writeSync(bytes.subarray(written));
}

/** Lines of stdin, one at a time. */
async function* lines(): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    const parts = pending.split("\n");
    pending = parts.pop()!;
    for (const part of parts) if (part.trim() !== "") yield part;
  }
}

async function main(): Promise<void> {
  const once = Deno.args.indexOf("--once");
  if (once >= 0) {
    const run = await setUp(Deno.args[once + 1]);
    print({ result: await run() });
    return;
  }
  const input = lines();
  for (;;) {
    const command = await input.next();
    if (command.done) return;
    const run = await setUp(command.value);
    print({ ready: true });
    const go = await input.next();
    if (go.done) return;
    print({ result: await run() });
  }
}

if (import.meta.main) await main();

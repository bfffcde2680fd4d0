/// <reference lib="deno.unstable" />
/**
 * A benchmark worker process, spawned by scripts/bench.ts. Every contender, hurah's and the floors', runs in one of
 * these, so they all run in the same kind of process:
 *
 *     deno run -A --unstable-kv --v8-flags=--expose-gc,--max-semi-space-size=1 scripts/_bench_worker.ts
 *
 * It reads one JSON command per line on stdin. For each it sets up (opens what it needs, collects garbage), prints
 * `{"ready":true}`, waits for a line `go`, runs, and prints `{"result":{...}}`. Times are epoch milliseconds with
 * sub-millisecond precision (`performance.timeOrigin + performance.now()`), so the parent can compare the clocks of
 * several workers. With `--once '<json>'` it runs one command without waiting and prints its result: that is how the
 * bench runs it under `strace -c`, and how to profile one contender:
 *
 *     deno run -A --cpu-prof --cpu-prof-dir=prof scripts/_bench_worker.ts --once '{"op":"dispatch",...}'
 *
 * @module
 */
import { Dispatcher, type DispatchEvent, runOnce, Task, type TaskContext, watch } from "../mod.ts";
import * as floors from "./_bench_floors.ts";
import { DISPATCH_BATCH, readLines, type WorkerResult } from "./_bench_harness.ts";
import { percentile } from "./_bench_stats.ts";

const { now } = floors;

/** Sets a command up; the returned function runs it. */
type Op = (params: Params) => Run | Promise<Run>;
type Run = () => Promise<WorkerResult>;

/** A command's parameters, as sent by the parent, over these defaults. */
const DEFAULTS = {
  op: "",
  contender: "hurah",
  root: "",
  eventType: "bench",
  dirs: [] as string[], // listener directories (`<root>/<event type>/<name>_listener`)
  name: "l00", // the handler name of the first listener (for runOnce and watch)
  events: 0,
  durable: false,
  writer: "w0",
  concurrency: 4,
  intervalMs: 5,
  timeoutMs: 120_000,
  path: "", // Deno KV: the database file
  batch: 1, // Deno KV end to end: messages per `atomic()` commit (1: one `enqueue()` each)
};
type Params = typeof DEFAULTS;

const success = () => Task.SUCCESS;
const gc = () => (globalThis as { gc?: () => void }).gc?.();

/** VmRSS and VmHWM of this process, in KiB. */
function memoryKiB(): { rss: number; hwm: number } {
  const status = Deno.readTextFileSync("/proc/self/status");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rss: field("VmRSS"), hwm: field("VmHWM") };
}

/** Counts handled tasks up to `expect`, with the clock at the first and the last. */
class Tally {
  handled = 0;
  first = NaN;
  last = NaN;
  readonly done: Promise<void>;
  #finish!: () => void;

  constructor(readonly expect: number) {
    this.done = new Promise((resolve) => this.#finish = resolve);
  }

  /** Counts one handled task; returns the clock taken on entry. */
  hit(): number {
    const at = now();
    if (this.handled === 0) this.first = at;
    this.last = at;
    if (++this.handled === this.expect) this.#finish();
    return at;
  }

  /** Runs `work`, then waits until all were handled; fails after `ms` so that a stuck trial cannot hang the bench. */
  async wait(ms: number, what: string, close: () => unknown, work?: () => Promise<void>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what} handled ${this.handled} of ${this.expect} after ${ms} ms`)),
        ms,
      );
    });
    limit.catch(() => {});
    try {
      await work?.();
      await Promise.race([this.done, limit]);
    } finally {
      clearTimeout(timer);
      await close();
    }
  }
}

/** hurah's `watch()` on the first listener, calling `onTask` with each payload. */
function watchListener(p: Params, onTask: (payload: unknown) => void, concurrency?: number) {
  const handler = (context: TaskContext) => {
    onTask(context.payload);
    return Task.SUCCESS;
  };
  return watch(p.root, {
    listeners: [{ name: p.name, eventType: p.eventType, concurrency, handler }],
    durable: p.durable,
  });
}

/** hurah's `runOnce` over the first listener with a no-op handler: `concurrency` 1 is ordered mode. */
async function drainListener(p: Params, concurrency: number): Promise<floors.Timing> {
  const options = { name: p.name, eventType: p.eventType, handler: success, durable: p.durable, concurrency };
  const start = now();
  const report = await runOnce(p.root, options);
  return { start, end: now(), count: report.archived };
}

/** Dispatches `count` events in calls of `DISPATCH_BATCH`: `dispatchMany()`, or as many `dispatch()`es at once. */
async function dispatchBatches(dispatcher: Dispatcher, p: Params, many: boolean): Promise<number> {
  let count = 0;
  for (let i = 0; i < p.events; i += DISPATCH_BATCH) {
    const events: DispatchEvent[] = Array.from({ length: Math.min(DISPATCH_BATCH, p.events - i) }, (_, k) => ({
      eventType: p.eventType,
      payload: { product_id: i + k },
    }));
    const sent = many
      ? await dispatcher.dispatchMany(events)
      : await Promise.all(events.map((e) => dispatcher.dispatch(e.eventType, e.payload)));
    for (const each of sent) count += each.length;
  }
  return count;
}

/** A timed loop of hurah's `Dispatcher`, set up before the clock starts; `body` returns the deliveries made. */
function timed(p: Params, body: (dispatcher: Dispatcher) => Promise<number>): () => Promise<floors.Timing> {
  const dispatcher = new Dispatcher(p.root, { durable: p.durable });
  return async () => {
    const start = now();
    const count = await body(dispatcher);
    return { start, end: now(), count };
  };
}

/** The dispatch contenders: each sets up and returns its timed loop. */
const DISPATCHES: Record<string, (p: Params) => () => floors.Timing | Promise<floors.Timing>> = {
  hurah: (p) =>
    timed(p, async (dispatcher) => {
      let count = 0;
      for (let i = 0; i < p.events; i++) count += (await dispatcher.dispatch(p.eventType, { product_id: i })).length;
      return count;
    }),
  "hurah-concurrent": (p) => timed(p, (d) => dispatchBatches(d, p, false)),
  "hurah-batch": (p) => timed(p, (d) => dispatchBatches(d, p, true)),
  floor: (p) => () => floors.floorDispatchSync(p),
  "floor-async": (p) => () => floors.floorDispatchAsync(p),
  protocol: (p) => () => floors.protocolFloorSync(p),
  "protocol-checked": (p) => () => floors.checkedProtocolFloorSync(p),
  "protocol-async": (p) => () => floors.protocolFloorAsync(p),
};

/** The drain contenders: `runOnce` (ordered or parallel) or a drain floor. */
const DRAINS: Record<string, (p: Params) => floors.Timing | Promise<floors.Timing>> = {
  hurah: (p) => drainListener(p, 1),
  "hurah-parallel": (p) => drainListener(p, p.concurrency),
  floor: (p) => floors.floorDrainSync({ dir: p.dirs[0], fsync: false }),
  "floor-stream": (p) => floors.floorDrainStreamed({ dir: p.dirs[0], fsync: false }),
  "floor-checked": (p) => floors.floorDrainCheckedSync({ dir: p.dirs[0], fsync: false }),
  "floor-claim": (p) => floors.claimFloorSync({ dir: p.dirs[0], fsync: false }),
  "floor-fsync": (p) => floors.floorDrainSync({ dir: p.dirs[0], fsync: true }),
  "floor-async": (p) => floors.floorDrainAsync({ dir: p.dirs[0], fsync: false }),
  "floor-async-parallel": (p) => floors.floorDrainAsync({ dir: p.dirs[0], fsync: false, concurrency: p.concurrency }),
};

/** The drain each process kind of the memory workload runs (`watch` runs hurah's `watch()`). */
const MEMORY_DRAINS: Record<string, string> = { floor: "floor-stream", run: "hurah", "run-parallel": "hurah-parallel" };

/** `table[key]`, or an error `<unknown> <key>`. */
function pick<T>(table: Record<string, T>, key: string, unknown: string): T {
  if (table[key] === undefined) throw new Error(`${unknown} ${key}`);
  return table[key];
}

const OPS: Record<string, Op> = {
  /** Dispatches `events` events, as fast as one loop can: hurah (one by one or in batches), or one of the floors. */
  dispatch: (p) => {
    const run = pick(DISPATCHES, p.contender, "dispatch: unknown contender")(p);
    return async () => await run();
  },

  /** Dispatches one event every `intervalMs` (on a fixed schedule), the send time in the payload. */
  paced: (p) => {
    const dispatcher = new Dispatcher(p.root, { durable: p.durable });
    const deliver = p.contender === "hurah"
      ? async (i: number) => void await dispatcher.dispatch(p.eventType, { i, t: now() })
      : (i: number) =>
        Promise.resolve(
          floors.floorDeliverSync(p.dirs[0], `${i + 1}.json`, floors.taskText(i + 1, { i, t: now() }), p.durable),
        );
    return async () => {
      const start = now();
      for (let i = 0; i < p.events; i++) {
        const wait = start + i * p.intervalMs - now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        await deliver(i);
      }
      return { start, end: now(), count: p.events };
    };
  },

  /** Drains a listener's backlog once: `runOnce` (ordered or parallel) or a drain floor. */
  drain: (p) => {
    gc();
    const drain = pick(DRAINS, p.contender, "drain: unknown contender");
    return async () => await drain(p);
  },

  /**
   * Watches one listener until `events` tasks were handled: hurah's `watch()` or the watcher floor. The handler
   * takes the clock on entry; where the payload carries its send time `t`, the difference is a trigger latency
   * (p50, p90, p99, max and mean in milliseconds).
   */
  watch: async (p) => {
    gc();
    const latencies: number[] = [];
    const tally = new Tally(p.events);
    const onTask = (payload: unknown) => {
      const at = tally.hit();
      const t = (payload as { t?: number } | null)?.t;
      if (typeof t === "number") latencies.push(at - t);
    };
    const watcher = p.contender === "floor"
      ? floors.floorWatch(p.dirs[0], p.events, (record) => onTask(record.payload))
      : watchListener(p, onTask, p.concurrency);
    await watcher.ready;
    return async () => {
      await tally.wait(p.timeoutMs, `watch (${p.contender})`, () => watcher.close());
      const stats = latencies.length === 0 ? {} : {
        ...Object.fromEntries([50, 90, 99].map((n) => [`p${n}`, percentile(latencies, n)])),
        max: Math.max(...latencies),
        mean: latencies.reduce((sum, x) => sum + x, 0) / latencies.length,
      };
      return { first: tally.first, last: tally.last, count: tally.handled, ...stats };
    };
  },

  /**
   * Drains a backlog as `hurah run` (ordered or parallel) or `hurah watch` does, or as the drain floor does, and
   * reports the process's RSS just before (idle, after a warm-up on an empty listener and a garbage collection) and
   * its peak during the drain. Meant for a fresh process.
   */
  memory: async (p) => {
    const drain = DRAINS[MEMORY_DRAINS[p.contender]]; // undefined for `watch`
    const idle = { ...p, name: "idle", eventType: "warmup", durable: false, dirs: [`${p.root}/warmup/floor_listener`] };
    if (drain === undefined) {
      const warm = watchListener(idle, () => {});
      await warm.ready;
      await warm.close();
    } else { // the same code as the measured drain, loaded on an empty listener
      if (p.contender === "floor") {
        for (const sub of ["inbox", "archive"]) Deno.mkdirSync(`${idle.dirs[0]}/${sub}`, { recursive: true });
      }
      await drain(idle);
    }
    gc();
    const before = memoryKiB();
    Deno.writeTextFileSync("/proc/self/clear_refs", "5"); // resets VmHWM to the current RSS (Linux ≥ 4.0)
    const drained = { ...p, durable: false };
    return async () => {
      const start = now();
      let count: number;
      if (drain === undefined) {
        const tally = new Tally(p.events);
        const watcher = watchListener(drained, () => tally.hit());
        await tally.wait(p.timeoutMs, "memory (watch)", () => watcher.close());
        count = tally.handled;
      } else {
        count = (await drain(drained)).count;
      }
      const end = now();
      const after = memoryKiB();
      return { start, end, count, idleKiB: before.rss, peakKiB: after.hwm, afterKiB: after.rss };
    };
  },

  /** Deno KV: `events` sequential `enqueue()`s. */
  "kv-enqueue": async (p) => {
    const kv = await Deno.openKv(p.path);
    return async () => {
      try {
        const start = now();
        for (let i = 0; i < p.events; i++) await kv.enqueue({ product_id: i });
        return { start, end: now(), count: p.events };
      } finally {
        kv.close();
      }
    };
  },

  /**
   * Deno KV end to end: `events` sequential `enqueue()`s while `listenQueue()` in the same process handles them (a
   * local KV queue delivers only to the process that enqueued); ends when the last one was handled. With `batch`
   * above 1, that many `enqueue()`s per `atomic()` commit.
   */
  "kv-e2e": async (p) => {
    const kv = await Deno.openKv(p.path);
    const tally = new Tally(p.events);
    const listening = kv.listenQueue(() => void tally.hit());
    const batch = Math.max(1, p.batch);
    const enqueue = async () => {
      for (let i = 0; i < p.events; i += batch) {
        if (batch === 1) {
          await kv.enqueue({ product_id: i });
          continue;
        }
        const atomic = kv.atomic();
        for (let k = i; k < Math.min(i + batch, p.events); k++) atomic.enqueue({ product_id: k });
        if (!(await atomic.commit()).ok) throw new Error("Deno KV: an atomic enqueue was not committed");
      }
    };
    const close = async () => {
      kv.close();
      await listening.catch(() => {});
    };
    return async () => {
      const start = now();
      await tally.wait(p.timeoutMs, "Deno KV", close, enqueue);
      return { start, end: tally.last, count: tally.handled };
    };
  },

  /** hurah end to end in one process: `watch()` handles what a `Dispatcher` of the same process sends. */
  "in-process": async (p) => {
    const tally = new Tally(p.events);
    const watcher = watchListener(p, () => tally.hit());
    await watcher.ready;
    const dispatcher = new Dispatcher(p.root, { durable: p.durable });
    const send = async () => {
      for (let i = 0; i < p.events; i++) await dispatcher.dispatch(p.eventType, { product_id: i });
    };
    return async () => {
      const start = now();
      await tally.wait(p.timeoutMs, "in-process watch", () => watcher.close(), send);
      return { start, end: tally.last, count: tally.handled };
    };
  },
};

async function setUp(line: string): Promise<Run> {
  const params: Params = { ...DEFAULTS, ...JSON.parse(line) };
  return await pick(OPS, params.op, "unknown op")(params);
}

function print(value: unknown): void {
  const bytes = new TextEncoder().encode(JSON.stringify(value) + "\n");
  for (let written = 0; written < bytes.length;) written += Deno.stdout.writeSync(bytes.subarray(written));
}

async function main(): Promise<void> {
  const once = Deno.args.indexOf("--once");
  if (once >= 0) return print({ result: await (await setUp(Deno.args[once + 1]))() });
  const input = readLines(Deno.stdin.readable);
  for (let command = await input.next(); !command.done; command = await input.next()) {
    const run = await setUp(command.value);
    print({ ready: true });
    if ((await input.next()).done) return;
    print({ result: await run() });
  }
}

if (import.meta.main) await main();

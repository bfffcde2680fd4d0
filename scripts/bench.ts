/**
 * The benchmarks behind `deno task bench` and `deno task bench:quick`.
 *
 *     deno task bench                                # full run: several minutes
 *     deno task bench:quick                          # under a minute, smaller sizes
 *     deno task bench --from docs/benchmarks.json    # regenerate docs/benchmarks.md
 *     deno task bench --only dispatch,drain --runs 3 # some workloads
 *     deno task bench --profile prof                 # workers write .cpuprofile files to prof/
 *
 * Workloads (docs/benchmarks.md explains each): dispatch, drain, trigger
 * latency, burst, memory and a Deno KV queue as a peer, on /dev/shm and on the
 * working disk, durable mode off and on, each contender next to its floor
 * (scripts/_bench_floors.ts). Each workload is a matrix of configurations
 * (file system × durability × ...) and one trial function; `runMatrix()`
 * walks the matrix. Every trial runs in a worker process
 * (scripts/_bench_worker.ts); contenders are interleaved round by round.
 * This file measures; scripts/_bench_report.ts turns the results into text.
 *
 * It prints a Markdown table per configuration, then the targets met or
 * missed. It writes the raw results to `bench-results/<time>.json`; a full
 * run also writes docs/benchmarks.json and docs/benchmarks.md. Needs `-A`
 * (Deno asks for all permissions to touch /dev/shm).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { encodeTask, formatDelivery } from "../mod.ts";
import {
  BenchWorker,
  countEntries,
  DISPATCH_BATCH,
  type Fs,
  interleave,
  machineInfo,
  makeListeners,
  type Round,
  runAll,
  Scratch,
  syncDisks,
  withWorkers,
  WORKER,
  WORKER_FLAGS,
  type WorkerResult,
} from "./_bench_harness.ts";
import {
  type BenchResults,
  checkTargets,
  LABELS,
  renderReport,
  renderSyscalls,
  renderTable,
  renderTargets,
  type ResultTable,
  type Series,
  type SyscallCount,
  syscallLabel,
  tableTitle,
  type WorkloadName,
  WORKLOADS,
} from "./_bench_report.ts";
import { parseStraceSummary, perSecond } from "./_bench_stats.ts";

const PROJECT = dirname(dirname(fileURLToPath(import.meta.url)));
const EVENT_TYPE = "bench";

/** Sizes and counts of a run. */
interface Plan {
  /** Measured rounds per configuration. */
  runs: number;
  fileSystems: Fs[];
  dispatch: {
    /** Deliveries per trial (all listeners and processes together), by `<fs>/<durable>`. */
    deliveries: Record<string, number>;
    listeners: number[];
    processes: number[];
  };
  drain: {
    backlogs: number[];
    /** Largest backlog drained with durable on (hurah's SUCCESS path issues the same calls either way). */
    durableMaxBacklog: number;
    /** Largest backlog drained on the working disk. */
    diskMaxBacklog: number;
    /** Rounds for backlogs of 100k and more. */
    largeRuns: number;
  };
  latency: { events: number; intervalMs: number; runs: number; fileSystems: Fs[] };
  burst: { events: number; runs: number; fileSystems: Fs[] };
  memory: { backlogs: number[]; runs: number };
  /** Messages per trial, by file system. */
  peer: { messages: Record<string, number>; runs: number; fileSystems: Fs[] };
  syscalls: boolean;
}

const FULL: Plan = {
  runs: 5,
  fileSystems: ["shm", "disk"],
  dispatch: {
    deliveries: { "shm/off": 4000, "shm/on": 1500, "disk/off": 2000, "disk/on": 600 },
    listeners: [1, 10],
    processes: [1, 4],
  },
  drain: { backlogs: [1000, 10_000, 100_000], durableMaxBacklog: 10_000, diskMaxBacklog: 100_000, largeRuns: 3 },
  latency: { events: 300, intervalMs: 5, runs: 5, fileSystems: ["shm", "disk"] },
  burst: { events: 1000, runs: 5, fileSystems: ["shm", "disk"] },
  memory: { backlogs: [10_000, 100_000], runs: 3 },
  peer: { messages: { shm: 2000, disk: 1000 }, runs: 5, fileSystems: ["shm", "disk"] },
  syscalls: true,
};

const QUICK: Plan = {
  runs: 2,
  fileSystems: ["shm", "disk"],
  dispatch: {
    deliveries: { "shm/off": 600, "shm/on": 300, "disk/off": 300, "disk/on": 60 },
    listeners: [1, 10],
    processes: [1, 4],
  },
  drain: { backlogs: [1000, 10_000], durableMaxBacklog: 1000, diskMaxBacklog: 1000, largeRuns: 1 },
  latency: { events: 100, intervalMs: 5, runs: 2, fileSystems: ["shm"] },
  burst: { events: 1000, runs: 2, fileSystems: ["shm"] },
  memory: { backlogs: [1000, 10_000], runs: 1 },
  peer: { messages: { shm: 500 }, runs: 2, fileSystems: ["shm"] },
  syscalls: false,
};

/** What every workload gets. */
interface Context {
  plan: Plan;
  scratch: Scratch;
  /** Extra flags for every worker (profiling). */
  flags: string[];
  tables: ResultTable[];
  syscalls: SyscallCount[];
  notes: string[];
  /** Backlogs written once and reused (by `<fs>/<size>`). */
  backlogs: Map<string, Backlog>;
}

const DURABILITY = [false, true];
const onOff = (durable: boolean) => durable ? "on" : "off";

function log(text: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}`);
}

function expectCount(what: string, found: number, expected: number): void {
  if (found !== expected) throw new Error(`${what}: expected ${expected}, found ${found}`);
}

/** Every combination of the axes' values, the first axis outermost. */
function matrix<A extends Record<string, readonly unknown[]>>(axes: A): { [K in keyof A]: A[K][number] }[] {
  let cells: Record<string, unknown>[] = [{}];
  for (const [axis, values] of Object.entries(axes)) {
    cells = cells.flatMap((cell) => values.map((value) => ({ ...cell, [axis]: value })));
  }
  return cells as { [K in keyof A]: A[K][number] }[];
}

/** What one trial measured: the table's value, and figures kept beside it (`p99`, `dispatchMs`, ...). */
interface Sample {
  value: number;
  extra?: Record<string, number>;
}

/** Runs every contender `runs` times, interleaved (after a warm-up round if asked), and labels the series. */
async function measure(
  workload: WorkloadName,
  contenders: readonly string[],
  options: { runs: number; warmup: boolean },
  trial: (contender: string, round: Round) => Promise<number | Sample>,
): Promise<Series[]> {
  const samples = await interleave(contenders, options, async (contender, round) => {
    const sample = await trial(contender, round);
    return typeof sample === "number" ? { value: sample } : sample;
  });
  return [...samples].map(([id, runs]) => {
    const series: Series = { id, label: LABELS[workload][id], values: runs.map((run) => run.value) };
    if (runs[0]?.extra) {
      series.extra = Object.fromEntries(Object.keys(runs[0].extra).map((key) => [key, runs.map((r) => r.extra![key])]));
    }
    return series;
  });
}

/** Adds a table to the results and prints it. */
function publish(context: Context, table: Omit<ResultTable, "title">): void {
  const { workload, id, params, ...rest } = table;
  const titled: ResultTable = { workload, id, title: tableTitle(workload, params), params, ...rest };
  context.tables.push(titled);
  console.log(renderTable(titled));
}

/** A configuration of a workload: one cell of its matrix, one table. */
type Cell = { fs: Fs; durable: boolean };

/** A workload as a matrix of configurations and the trial that measures one contender in one of them. */
interface Workload<C extends Cell> {
  name: WorkloadName;
  unit: string;
  higherIsBetter: boolean;
  floor: string;
  /** The configurations, in the order of the report. */
  cells(plan: Plan): C[];
  /** The axes whose equal values share worker processes: the first cell of each group gets a warm-up round. */
  group: (keyof C)[];
  workers(cell: C): string[];
  contenders(cell: C): string[];
  runs(cell: C, plan: Plan): number;
  /** The table's id and configuration (the report writes its title from them). */
  table(cell: C): Pick<ResultTable, "id" | "params">;
  trial(contender: string, cell: C, round: Round, workers: BenchWorker[], context: Context): Promise<number | Sample>;
}

/** Measures every cell of a workload's matrix and publishes one table per cell. */
async function runMatrix<C extends Cell>(context: Context, w: Workload<C>): Promise<void> {
  const groups = Map.groupBy(w.cells(context.plan), (cell) => JSON.stringify(w.group.map((axis) => cell[axis])));
  for (const cells of groups.values()) {
    await withWorkers(w.workers(cells[0]), context.flags, async (workers) => {
      for (const [index, cell] of cells.entries()) {
        const options = { runs: w.runs(cell, context.plan), warmup: index === 0 };
        const series = await measure(
          w.name,
          w.contenders(cell),
          options,
          (contender, round) => w.trial(contender, cell, round, workers, context),
        );
        const { name: workload, unit, higherIsBetter, floor } = w;
        publish(context, { workload, ...w.table(cell), unit, higherIsBetter, floor, series });
      }
    });
  }
}

/** Runs `body` on a fresh event root with `listeners` listener directories, then removes it and flushes the disks. */
async function withRoot<T>(
  context: Context,
  fs: Fs,
  listeners: number,
  body: (root: string, dirs: string[]) => Promise<T>,
): Promise<T> {
  const root = context.scratch.fresh(fs);
  try {
    return await body(root, makeListeners(root, EVENT_TYPE, listeners).dirs);
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
    await syncDisks();
  }
}

const numbers = (r: WorkerResult, ...keys: string[]) => Object.fromEntries(keys.map((key) => [key, Number(r[key])]));

// ---------------------------------------------------------------- dispatch

/** Deliveries per second, 1 and 10 listeners, from one process and from four started together. */
const dispatch: Workload<Cell & { processes: number; listeners: number; events: number }> = {
  name: "dispatch",
  unit: "deliveries/s",
  higherIsBetter: true,
  floor: "floor",
  cells: (plan) =>
    matrix({
      fs: plan.fileSystems,
      durable: DURABILITY,
      processes: plan.dispatch.processes,
      listeners: plan.dispatch.listeners,
    }).map((cell) => {
      const deliveries = plan.dispatch.deliveries[`${cell.fs}/${onOff(cell.durable)}`];
      return { ...cell, events: Math.max(1, Math.round(deliveries / cell.listeners / cell.processes)) };
    }),
  group: ["fs", "durable", "processes"],
  workers: ({ processes }) => Array.from({ length: processes }, (_, k) => `dispatch-${k}`),
  // The async protocol floor is only counted, in the syscall table: it is slow.
  contenders: () => ["hurah", "hurah-concurrent", "hurah-batch", "floor", "floor-async", "protocol"],
  runs: (_, plan) => plan.runs,
  table: ({ fs, durable, listeners, processes, events }) => ({
    id: `dispatch/${fs}/${onOff(durable)}/l${listeners}/p${processes}`,
    params: { fs, durable, listeners, processes, deliveries: events * listeners * processes },
  }),
  trial: (contender, { fs, durable, listeners, events }, round, workers, context) =>
    withRoot(context, fs, listeners, async (root, dirs) => {
      const perProcess = round.warmup ? Math.max(1, Math.ceil(events / 4)) : events;
      const results = await runAll(workers.map((worker, k) => [
        worker,
        { op: "dispatch", contender, root, dirs, events: perProcess, durable, writer: `w${k}` },
      ]));
      const count = results.reduce((sum, r) => sum + Number(r.count), 0);
      const expected = perProcess * workers.length * listeners;
      expectCount(`dispatch ${contender}: deliveries`, count, expected);
      const files = dirs.reduce((sum, dir) => sum + countEntries(join(dir, "inbox")), 0);
      expectCount(`dispatch ${contender}: files in the inboxes`, files, expected);
      const start = Math.min(...results.map((r) => Number(r.start)));
      return perSecond(count, Math.max(...results.map((r) => Number(r.end))) - start);
    }),
};

// ---------------------------------------------------------------- drain

/** A listener with `size` tasks, reused by every drain trial (put back by renaming archive/ to inbox/). */
interface Backlog {
  root: string;
  dir: string;
  size: number;
}

/** Writes a backlog of `size` tasks in hurah's exact format (encodeTask), and tracking.json. */
function writeBacklog(root: string, size: number): Backlog {
  const [dir] = makeListeners(root, EVENT_TYPE, 1).dirs;
  const delivery = formatDelivery(new Date());
  const eventId = crypto.randomUUID();
  for (let sequence = 1; sequence <= size; sequence++) {
    const text = encodeTask({
      payload: { product_id: sequence },
      sequence,
      count: sequence,
      delivery,
      event_type: EVENT_TYPE,
      event_id: eventId,
      task_id: crypto.randomUUID(),
    });
    Deno.writeTextFileSync(join(dir, "inbox", `${sequence}.json`), text);
  }
  const tracking = { sequence: size, count: size, first: delivery, last: delivery };
  Deno.writeTextFileSync(join(dir, "tracking.json"), JSON.stringify(tracking));
  return { root, dir, size };
}

/** The backlog of `size` tasks on `fs`, written on first use, and put back as it was: archive/ becomes inbox/. */
async function backlog(context: Context, fs: Fs, size: number): Promise<Backlog> {
  const key = `${fs}/${size}`;
  let b = context.backlogs.get(key);
  if (b === undefined) {
    const started = performance.now();
    b = writeBacklog(context.scratch.fresh(fs, `backlog-${size}`), size);
    log(`wrote a backlog of ${size} tasks on ${fs} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    context.backlogs.set(key, b);
  }
  const [inbox, archive] = [join(b.dir, "inbox"), join(b.dir, "archive")];
  const pending = countEntries(inbox);
  if (pending !== b.size) { // hurah leaves SUCCESS tasks unchanged: the archive is the backlog again
    const archived = countEntries(archive);
    if (pending !== 0 || archived !== b.size) {
      throw new Error(`backlog ${b.dir}: ${pending} tasks in inbox/ and ${archived} in archive/, expected ${b.size}`);
    }
    const swap = join(b.dir, "inbox.swap");
    Deno.renameSync(inbox, swap);
    Deno.renameSync(archive, inbox);
    Deno.renameSync(swap, archive);
  }
  await syncDisks();
  return b;
}

/** Tasks per second draining backlogs of growing size with a no-op handler. */
const drain: Workload<Cell & { backlog: number }> = {
  name: "drain",
  unit: "tasks/s",
  higherIsBetter: true,
  floor: "floor",
  cells: (plan) =>
    matrix({ fs: plan.fileSystems, durable: DURABILITY, backlog: plan.drain.backlogs }).filter((cell) =>
      cell.backlog <= (cell.durable ? plan.drain.durableMaxBacklog : Infinity) &&
      (cell.fs !== "disk" || cell.backlog <= plan.drain.diskMaxBacklog)
    ),
  group: ["fs", "durable"],
  workers: () => ["drain"],
  // The sequential async floor takes 5–10 s per 100k trial and says nothing new there.
  contenders: ({ durable, backlog }) =>
    Object.keys(LABELS.drain).filter((id) =>
      (durable || id !== "floor-fsync") && (backlog < 100_000 || id !== "floor-async")
    ),
  runs: ({ backlog }, plan) => backlog >= 100_000 ? plan.drain.largeRuns : plan.runs,
  table: ({ fs, durable, backlog }) => ({
    id: `drain/${fs}/${onOff(durable)}/${backlog}`,
    params: { fs, durable, backlog },
  }),
  trial: async (contender, { fs, durable, backlog: size }, _round, [worker], context) => {
    const b = await backlog(context, fs, size);
    const r = await worker.run({ op: "drain", contender, root: b.root, dirs: [b.dir], durable, concurrency: 4 });
    expectCount(`drain ${contender}: tasks`, Number(r.count), size);
    return perSecond(Number(r.count), Number(r.end) - Number(r.start));
  },
};

// ---------------------------------------------------------------- latency

/** The time from just before `dispatch()` to the handler's entry, one event every few ms. */
const latency: Workload<Cell & { events: number; intervalMs: number }> = {
  name: "latency",
  unit: "ms",
  higherIsBetter: false,
  floor: "floor",
  cells: ({ latency: { fileSystems, events, intervalMs } }) =>
    matrix({ fs: fileSystems, durable: DURABILITY }).map((cell) => ({ ...cell, events, intervalMs })),
  group: [],
  workers: () => ["watcher", "dispatcher"],
  contenders: () => Object.keys(LABELS.latency),
  runs: (_, plan) => plan.latency.runs,
  table: ({ fs, durable, events, intervalMs }) => ({
    id: `latency/${fs}/${onOff(durable)}`,
    params: { fs, durable, events, intervalMs },
  }),
  trial: (contender, { fs, durable, events, intervalMs }, round, [watcher, dispatcher], context) =>
    withRoot(context, fs, 1, async (root, dirs) => {
      const count = round.warmup ? 20 : events;
      const kind = contender === "floor" ? "floor" : "hurah";
      const concurrency = contender === "hurah-parallel" ? 4 : 1;
      const [w] = await runAll([
        [watcher, {
          op: "watch",
          contender: kind,
          root,
          dirs,
          events: count,
          durable,
          concurrency,
          timeoutMs: count * intervalMs + 60_000,
        }],
        [dispatcher, { op: "paced", contender: kind, root, dirs, events: count, intervalMs, durable }],
      ]);
      expectCount(`latency ${contender}: handled`, Number(w.count), count);
      return { value: Number(w.p50), extra: numbers(w, "p90", "p99", "max", "mean") };
    }),
};

// ---------------------------------------------------------------- burst

/** 1,000 events dispatched at once while a watcher runs: the time until all are handled. */
const burst: Workload<Cell & { events: number }> = {
  name: "burst",
  unit: "ms",
  higherIsBetter: false,
  floor: "alone",
  cells: ({ burst: { fileSystems, events } }) =>
    matrix({ fs: fileSystems, durable: DURABILITY }).map((cell) => ({ ...cell, events })),
  group: [],
  workers: () => ["watcher", "dispatcher"],
  contenders: () => Object.keys(LABELS.burst),
  runs: (_, plan) => plan.burst.runs,
  table: ({ fs, durable, events }) => ({ id: `burst/${fs}/${onOff(durable)}`, params: { fs, durable, events } }),
  trial: (contender, { fs, durable, events }, round, [watcher, dispatcher], context) =>
    withRoot(context, fs, 1, async (root, dirs) => {
      const count = round.warmup ? 100 : events;
      const dispatch = { op: "dispatch", contender: "hurah", root, dirs, events: count, durable };
      if (contender === "alone") {
        const d = await dispatcher.run(dispatch);
        const time = Number(d.end) - Number(d.start);
        return { value: time, extra: { dispatchMs: time } };
      }
      const concurrency = contender === "watch" ? 1 : 4;
      const [w, d] = await runAll([
        [watcher, { op: "watch", root, dirs, events: count, durable, concurrency }],
        [dispatcher, dispatch],
      ]);
      expectCount(`burst ${contender}: handled`, Number(w.count), count);
      return { value: Number(w.last) - Number(d.start), extra: { dispatchMs: Number(d.end) - Number(d.start) } };
    }),
};

// ---------------------------------------------------------------- memory

/** Peak RSS above idle of a fresh process draining a backlog: one table, a series per process kind and backlog. */
async function memoryWorkload(context: Context): Promise<void> {
  const { plan } = context;
  const all: Series[] = [];
  for (const size of plan.memory.backlogs) {
    const kinds = Object.keys(LABELS.memory);
    const series = await measure("memory", kinds, { runs: plan.memory.runs, warmup: false }, async (kind) => {
      const b = await backlog(context, "shm", size);
      const worker = BenchWorker.spawn(`memory-${kind}`, context.flags);
      let r: WorkerResult;
      try {
        r = await worker.run({
          op: "memory",
          contender: kind,
          root: b.root,
          dirs: [b.dir],
          events: size,
          concurrency: 4,
        });
      } finally {
        await worker.close();
      }
      expectCount(`memory ${kind}: tasks`, Number(r.count), size);
      const [idle, peak] = [Number(r.idleKiB) / 1024, Number(r.peakKiB) / 1024];
      return { value: peak - idle, extra: { idleMiB: idle, peakMiB: peak, backlog: size } };
    });
    all.push(...series.map((s) => ({ ...s, id: `${s.id}@${size}` })));
  }
  const kindOf = (s: Series) => Object.keys(LABELS.memory).indexOf(s.id.split("@")[0]);
  all.sort((a, b) => kindOf(a) - kindOf(b) || a.extra!.backlog[0] - b.extra!.backlog[0]);
  const params = { fs: "shm", durable: false };
  publish(context, { workload: "memory", id: "memory/shm", params, unit: "MiB", higherIsBetter: false, series: all });
}

// ---------------------------------------------------------------- peer

/** A Deno KV queue next to hurah: enqueue and end-to-end throughput for the same number of messages. */
const peer: Workload<Cell & { messages: number }> = {
  name: "peer",
  unit: "messages/s",
  higherIsBetter: true,
  floor: "kv-e2e",
  cells: ({ peer: { fileSystems, messages } }) =>
    fileSystems.map((fs) => ({ fs, durable: false, messages: messages[fs] })),
  group: [],
  workers: () => ["watcher", "producer"],
  contenders: () => Object.keys(LABELS.peer),
  runs: (_, plan) => plan.peer.runs,
  table: ({ fs, messages }) => ({ id: `peer/${fs}`, params: { fs, messages } }),
  trial: (contender, { fs, messages }, round, [watcher, producer], context) =>
    withRoot(context, fs, 1, async (root, dirs) => {
      const events = round.warmup ? 100 : messages;
      const durable = contender.endsWith("-durable");
      const path = join(root, "kv.sqlite");
      let r: Record<string, number>;
      if (contender === "kv-enqueue") {
        r = numbers(await producer.run({ op: "kv-enqueue", path, events }), "start", "end", "count");
      } else if (contender === "kv-e2e" || contender === "kv-e2e-batch") {
        const batch = contender === "kv-e2e-batch" ? DISPATCH_BATCH : 1;
        r = numbers(await producer.run({ op: "kv-e2e", path, events, batch }), "start", "end", "count");
      } else if (contender.startsWith("hurah-dispatch")) {
        const command = { op: "dispatch", contender: "hurah", root, dirs, events, durable };
        r = numbers(await producer.run(command), "start", "end", "count");
      } else if (contender === "hurah-e2e-in-process") {
        r = numbers(await producer.run({ op: "in-process", root, events, durable }), "start", "end", "count");
      } else {
        const sender = contender.startsWith("hurah-e2e-batch") ? "hurah-batch" : "hurah";
        const [w, d] = await runAll([
          [watcher, { op: "watch", root, dirs, events, durable, concurrency: 1 }],
          [producer, { op: "dispatch", contender: sender, root, dirs, events, durable }],
        ]);
        r = { start: Number(d.start), end: Number(w.last), count: Number(w.count) };
      }
      expectCount(`peer ${contender}: messages`, r.count, events);
      return perSecond(r.count, r.end - r.start);
    }),
};

// ---------------------------------------------------------------- syscalls

/** Runs one worker command under `strace -f -c` and returns its calls by name. */
async function strace(scratch: Scratch, command: Record<string, unknown>): Promise<Map<string, number>> {
  const out = join(scratch.base("shm"), `strace-${crypto.randomUUID()}.txt`);
  const { code, stderr } = await new Deno.Command("strace", {
    args: ["-f", "-c", "-o", out, Deno.execPath(), ...WORKER_FLAGS, WORKER, "--once", JSON.stringify(command)],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`strace failed (${code}): ${new TextDecoder().decode(stderr)}`);
  const calls = parseStraceSummary(Deno.readTextFileSync(out));
  Deno.removeSync(out);
  return calls;
}

/** Syscalls per delivery and per drained task, by the difference of two runs of different sizes. */
async function syscallsWorkload(context: Context): Promise<void> {
  const { scratch } = context;
  const [small, large] = [200, 1200];
  const cases = [
    ...matrix({ op: ["dispatch"] as const, durable: DURABILITY, contender: Object.keys(LABELS.dispatch) }),
    ...matrix({
      op: ["drain"] as const,
      contender: ["hurah", "hurah-parallel", "floor", "floor-async"],
      durable: DURABILITY,
    })
      .filter(({ contender, durable }) => contender.startsWith("hurah") || !durable),
  ];
  for (const { op, durable, contender } of cases) {
    const counts: Map<string, number>[] = [];
    for (const n of [small, large]) {
      const root = scratch.fresh("shm");
      const command = op === "dispatch"
        ? { op, contender, root, dirs: makeListeners(root, EVENT_TYPE, 1).dirs, events: n, durable }
        : { op, contender, root, dirs: [writeBacklog(root, n).dir], durable, concurrency: 4 };
      try {
        counts.push(await strace(scratch, command));
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    }
    const calls: Record<string, number> = {};
    let total = 0;
    for (const name of new Set([...counts[0].keys(), ...counts[1].keys()])) {
      const perOp = ((counts[1].get(name) ?? 0) - (counts[0].get(name) ?? 0)) / (large - small);
      if (perOp >= 0.05) calls[name] = Math.round(perOp * 100) / 100;
      total += perOp;
    }
    const label = syscallLabel(op, contender, durable);
    const per = op === "dispatch" ? "delivery" : "task";
    const count: SyscallCount = {
      id: `${op}/${contender}/${onOff(durable)}`,
      label,
      per,
      total: Math.round(total * 10) / 10,
      calls,
    };
    context.syscalls.push(count);
    log(`syscalls ${label}: ${count.total} per ${per}`);
  }
  console.log("#### System calls per operation (strace -f -c, /dev/shm)\n\n" + renderSyscalls(context.syscalls));
}

// ---------------------------------------------------------------- main

const WORKLOAD_FUNCTIONS: Record<string, (context: Context) => Promise<void>> = {
  dispatch: (context) => runMatrix(context, dispatch),
  drain: async (context) => {
    await runMatrix(context, drain);
    const { backlogs, durableMaxBacklog } = context.plan.drain;
    if (backlogs.some((size) => size > durableMaxBacklog)) {
      context.notes.push(
        `Drain with durable on stops at ${durableMaxBacklog.toLocaleString("en-US")} tasks, to keep the run short: ` +
          "hurah's SUCCESS path makes the same system calls in both modes (a rename; see the syscall table).",
      );
    }
  },
  latency: (context) => runMatrix(context, latency),
  burst: (context) => runMatrix(context, burst),
  memory: memoryWorkload,
  peer: (context) => runMatrix(context, peer),
  syscalls: syscallsWorkload,
};

async function hasStrace(): Promise<boolean> {
  try {
    return (await new Deno.Command("strace", { args: ["-V"], stdout: "null", stderr: "null" }).output()).success;
  } catch {
    return false;
  }
}

/** Writes JSON with arrays of numbers on one line (as `deno fmt` keeps them). */
function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /\[\s+(-?[\d.e+-]+(?:,\s+-?[\d.e+-]+)*)\s+\]/g,
    (_, items: string) => `[${items.split(/,\s+/).join(", ")}]`,
  ) + "\n";
}

/** Writes docs/benchmarks.md from results, keeping the marked blocks of the current one. */
async function writeDocs(results: BenchResults, withJson: boolean): Promise<void> {
  const markdown = join(PROJECT, "docs", "benchmarks.md");
  let previous = "";
  try {
    previous = Deno.readTextFileSync(markdown);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  Deno.writeTextFileSync(markdown, renderReport(results, previous));
  const written = [markdown];
  if (withJson) {
    const json = join(PROJECT, "docs", "benchmarks.json");
    Deno.writeTextFileSync(json, toJson(results));
    written.push(json);
  }
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", ...written], cwd: PROJECT }).output();
  log(`wrote ${written.map((path) => path.slice(PROJECT.length + 1)).join(" and ")}`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      from: { type: "string" },
      only: { type: "string" },
      runs: { type: "string" },
      profile: { type: "string" },
      "no-docs": { type: "boolean", default: false },
    },
  });
  if (values.from !== undefined) {
    const results: BenchResults = JSON.parse(Deno.readTextFileSync(values.from));
    for (const table of results.tables) console.log(renderTable(table));
    console.log(renderTargets(checkTargets(results)));
    await writeDocs(results, false);
    return 0;
  }
  const plan: Plan = structuredClone(values.quick ? QUICK : FULL);
  if (values.runs !== undefined) plan.runs = Number(values.runs);
  const selected = values.only?.split(",") ?? [...WORKLOADS, ...(plan.syscalls ? ["syscalls"] : [])];
  for (const name of selected) if (!WORKLOAD_FUNCTIONS[name]) throw new Error(`unknown workload ${name}`);
  const notes: string[] = [];
  if (selected.includes("syscalls") && !await hasStrace()) {
    selected.splice(selected.indexOf("syscalls"), 1);
    notes.push("System calls were not counted: `strace` is not installed (`apt-get install -y strace`).");
  }
  const flags = values.profile ? ["--cpu-prof", `--cpu-prof-dir=${values.profile}`] : [];
  const scratch = new Scratch();
  const started = new Date();
  const context: Context = { plan, scratch, flags, tables: [], syscalls: [], notes, backlogs: new Map() };
  const machine = await machineInfo(PROJECT, plan.fileSystems);
  let failed = false;
  try {
    for (const name of selected) {
      const begun = performance.now();
      log(`${name}...`);
      try {
        await WORKLOAD_FUNCTIONS[name](context);
      } catch (error) {
        failed = true;
        const message = error instanceof Error ? error.message : String(error);
        notes.push(`The ${name} workload failed: ${message}`);
        log(`${name} failed: ${error instanceof Error ? error.stack : message}`);
      }
      log(`${name} took ${((performance.now() - begun) / 1000).toFixed(1)} s`);
    }
  } finally {
    await scratch.removeAll();
  }
  const finished = new Date();
  const results: BenchResults = {
    version: 1,
    quick: values.quick,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationS: Math.round((finished.getTime() - started.getTime()) / 100) / 10,
    command: ["deno", "task", "bench", ...Deno.args].join(" "),
    machine,
    plan: plan as unknown as Record<string, unknown>,
    tables: context.tables,
    syscalls: context.syscalls,
    notes,
  };
  console.log("### Targets\n\n" + renderTargets(checkTargets(results)));
  const dir = join(PROJECT, "bench-results");
  Deno.mkdirSync(dir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, "-").slice(0, 19);
  const file = join(dir, `${stamp}${values.quick ? "-quick" : ""}.json`);
  Deno.writeTextFileSync(file, toJson(results));
  log(`wrote ${file.slice(PROJECT.length + 1)} (${results.durationS} s in all)`);
  if (!values.quick && values.only === undefined && !values["no-docs"] && !failed) await writeDocs(results, true);
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main());

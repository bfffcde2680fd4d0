/**
 * The benchmarks behind `deno task bench` (a full run: several minutes; writes docs/benchmarks.{json,md}) and `deno
 * task bench:quick` (under a minute, smaller sizes); `--from docs/benchmarks.json` regenerates docs/benchmarks.md,
 * `--only dispatch,drain --runs 3` runs some workloads, `--profile prof` has the workers write .cpuprofile files to
 * prof/. Needs `-A` (Deno asks for all permissions to touch /dev/shm).
 *
 * Each workload (docs/benchmarks.md explains them) is a matrix of configurations (file system × durability × ...)
 * and one trial function that measures a contender, hurah's or a floor (scripts/_bench_floors.ts), in a worker
 * process (scripts/_bench_worker.ts); `runMatrix()` walks the matrix, interleaving the contenders round by round.
 * This file measures and prints a Markdown table per configuration, then the targets; scripts/_bench_report.ts
 * turns the results into text. The raw results go to `bench-results/<time>.json`.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { encodeTask, formatDelivery } from "../mod.ts";
import * as harness from "./_bench_harness.ts";
import {
  BenchWorker,
  type Fs,
  makeListeners,
  type Round,
  runAll,
  Scratch,
  type WorkerResult,
} from "./_bench_harness.ts";
import * as report from "./_bench_report.ts";
import { LABELS, type ResultTable, type Series, type WorkloadName } from "./_bench_report.ts";
import { perSecond } from "./_bench_stats.ts";
import { phpDispatch, phpDrain, phpMissing } from "./_bench_php.ts";
import { benchNats } from "./_bench_nats.ts";

const PROJECT = dirname(dirname(fileURLToPath(import.meta.url)));
const EVENT_TYPE = "bench";

const BOTH: Fs[] = ["shm", "disk"];

/** Sizes and counts of a full run: `runs` measured rounds per configuration unless a workload says otherwise. */
const FULL = {
  runs: 5,
  fileSystems: BOTH,
  dispatch: {
    /** Deliveries per trial (all listeners and processes together), by `<fs>/<durable>`. */
    deliveries: { "shm/off": 4000, "shm/on": 1500, "disk/off": 2000, "disk/on": 600 } as Record<string, number>,
    listeners: [1, 10],
    processes: [1, 4],
  },
  /** Backlogs drained; the largest with durable on (its SUCCESS path makes the same calls) and on disk; rounds from 100k. */
  drain: { backlogs: [1000, 10_000, 100_000], durableMaxBacklog: 10_000, diskMaxBacklog: 100_000, largeRuns: 3 },
  latency: { events: 300, intervalMs: 5, runs: 5, fileSystems: BOTH },
  burst: { events: 1000, runs: 5, fileSystems: BOTH },
  memory: { backlogs: [10_000, 100_000], runs: 3 },
  /** Messages per trial, by file system. */
  peer: { messages: { shm: 2000, disk: 1000 } as Record<string, number>, runs: 5, fileSystems: BOTH },
  // 7 rounds: with 3, the drains' ratios moved by ±0.2× from one run to the next.
  nats: { replicas: [1, 3], messages: { one: 1000, pipelined: 10_000, drain: 1000, parallel: 10_000 }, runs: 7 },
  syscalls: true,
};

/** Sizes and counts of a run. */
type Plan = typeof FULL;

const QUICK: Plan = {
  ...FULL,
  runs: 2,
  dispatch: { ...FULL.dispatch, deliveries: { "shm/off": 600, "shm/on": 300, "disk/off": 300, "disk/on": 60 } },
  drain: { backlogs: [1000, 10_000], durableMaxBacklog: 1000, diskMaxBacklog: 1000, largeRuns: 1 },
  latency: { events: 100, intervalMs: 5, runs: 2, fileSystems: ["shm"] },
  burst: { events: 1000, runs: 2, fileSystems: ["shm"] },
  memory: { backlogs: [1000, 10_000], runs: 1 },
  peer: { messages: { shm: 500 }, runs: 2, fileSystems: ["shm"] },
  nats: { replicas: [1], messages: { one: 200, pipelined: 2000, drain: 200, parallel: 2000 }, runs: 2 },
  syscalls: false,
};

/** What every workload gets; `backlogs` are written once and reused (by `<fs>/<size>`), `flags` go to every worker. */
interface Context {
  plan: Plan;
  scratch: Scratch;
  flags: string[];
  tables: ResultTable[];
  syscalls: report.SyscallCount[];
  notes: string[];
  backlogs: Map<string, Backlog>;
  /** Why the PHP original cannot run here, or `undefined`: then it is a contender where PHP does the same work. */
  phpMissing: string | undefined;
}

const DURABILITY = [false, true];
const onOff = (durable: unknown) => durable ? "on" : "off";

function log(text: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}`);
}

function expectCount(what: string, found: number, expected: number): void {
  if (found !== expected) throw new Error(`${what}: expected ${expected}, found ${found}`);
}

/** The named figures of a worker's result. */
const pick = (r: WorkerResult, ...keys: string[]) => Object.fromEntries(keys.map((key) => [key, r[key]]));

/** Every combination of the axes' values, the first axis outermost. */
function matrix<A extends Record<string, readonly unknown[]>>(axes: A): { [K in keyof A]: A[K][number] }[] {
  let cells: Record<string, unknown>[] = [{}];
  for (const [axis, values] of Object.entries(axes)) {
    cells = cells.flatMap((cell) => values.map((value) => ({ ...cell, [axis]: value })));
  }
  return cells as { [K in keyof A]: A[K][number] }[];
}

/** What one trial measured: the table's value, and figures kept beside it (`p99`, `dispatchMs`, ...). */
type Sample = number | { value: number; extra: Record<string, number> };

/** Runs every contender `runs` times, interleaved (after a warm-up round if asked), and labels the series. */
async function measure(
  workload: WorkloadName,
  contenders: readonly string[],
  options: { runs: number; warmup: boolean },
  trial: (contender: string, round: Round) => Promise<Sample>,
): Promise<Series[]> {
  const samples = await harness.interleave(contenders, options, trial);
  return [...samples].map(([id, runs]) => {
    const values = runs.map((r) => typeof r === "number" ? r : r.value);
    const series: Series = { id, label: LABELS[workload][id], values };
    const extras = runs.map((r) => typeof r === "number" ? undefined : r.extra);
    if (extras[0]) series.extra = Object.fromEntries(Object.keys(extras[0]).map((k) => [k, extras.map((e) => e![k])]));
    return series;
  });
}

/** Adds a table to the results, with the title, unit and floor the report gives its workload, and prints it. */
function publish(context: Context, workload: WorkloadName, id: string, params: Cell, series: Series[]): void {
  const table = {
    workload,
    id,
    title: report.tableTitle(workload, params),
    params,
    ...report.tableKind(workload),
    series,
  };
  context.tables.push(table);
  console.log(report.renderTable(table));
}

/** A configuration of a workload, one cell of its matrix: its keys are the table's params. */
type Cell = { fs: Fs; durable?: boolean } & ResultTable["params"];

/** What a trial gets: the contender, the configuration, the round, the workers and a fresh event root with its listener directories. */
interface Trial<C extends Cell> {
  contender: string;
  cell: C;
  round: Round;
  workers: BenchWorker[];
  context: Context;
  root: string;
  dirs: string[];
}

/** A workload as a matrix of configurations and the trial that measures one contender in one of them. */
interface Workload<C extends Cell> {
  name: WorkloadName;
  cells(plan: Plan): C[];
  /** The table's id. @default `<name>/<fs>/<durable>` */
  id?(cell: C): string;
  /** The axes whose equal values share worker processes: the first cell of each group gets a warm-up round. */
  group?: (keyof C)[];
  workers(cell: C): string[];
  /** @default every contender the report labels */
  contenders?(cell: C): string[];
  /** @default the workload's runs in the plan, or the plan's */
  runs?(cell: C, plan: Plan): number;
  /** Listener directories made on each trial's fresh root (removed after it, and the disks flushed); none: no root. */
  listeners?: (cell: C) => number;
  trial(t: Trial<C>): Promise<Sample>;
}

/** Measures every cell of a workload's matrix and publishes one table per cell. */
async function runMatrix<C extends Cell>(context: Context, w: Workload<C>): Promise<void> {
  const { plan, scratch, flags } = context;
  const groups = Map.groupBy(w.cells(plan), (cell) => JSON.stringify((w.group ?? []).map((axis) => cell[axis])));
  for (const cells of groups.values()) {
    await harness.withWorkers(w.workers(cells[0]), flags, async (workers) => {
      for (const [index, cell] of cells.entries()) {
        const runs = w.runs?.(cell, plan) ?? (plan[w.name as keyof Plan] as { runs?: number }).runs ?? plan.runs;
        const contenders = (w.contenders?.(cell) ?? Object.keys(LABELS[w.name]))
          .filter((id) => !id.startsWith("php") || context.phpMissing === undefined);
        const series = await measure(w.name, contenders, { runs, warmup: index === 0 }, async (contender, round) => {
          if (w.listeners === undefined) {
            return await w.trial({ contender, cell, round, workers, context, root: "", dirs: [] });
          }
          const root = scratch.fresh(cell.fs);
          try {
            const { dirs } = makeListeners(root, EVENT_TYPE, w.listeners(cell));
            return await w.trial({ contender, cell, round, workers, context, root, dirs });
          } finally {
            await Deno.remove(root, { recursive: true }).catch(() => {});
            await harness.syncDisks();
          }
        });
        const id = w.id?.(cell) ?? `${w.name}/${cell.fs}${cell.durable === undefined ? "" : `/${onOff(cell.durable)}`}`;
        publish(context, w.name, id, cell, series);
      }
    });
  }
}

/** Deliveries per second, 1 and 10 listeners, from one process and from four started together. */
const dispatch: Workload<{ fs: Fs; durable: boolean; listeners: number; processes: number; deliveries: number }> = {
  name: "dispatch",
  cells: ({ fileSystems, dispatch: { deliveries, processes, listeners } }) =>
    matrix({ fs: fileSystems, durable: DURABILITY, processes, listeners }).map(
      ({ fs, durable, listeners, processes }) => {
        const events = Math.max(1, Math.round(deliveries[`${fs}/${onOff(durable)}`] / listeners / processes));
        return { fs, durable, listeners, processes, deliveries: events * listeners * processes };
      },
    ),
  id: ({ fs, durable, listeners, processes }) => `dispatch/${fs}/${onOff(durable)}/l${listeners}/p${processes}`,
  group: ["fs", "durable", "processes"],
  workers: ({ processes }) => Array.from({ length: processes }, (_, k) => `dispatch-${k}`),
  // The async protocol floor is only counted, in the syscall table: it is slow.
  // PHP does not fsync: it runs beside durable off only.
  contenders: ({ durable }) => [
    "hurah",
    "hurah-concurrent",
    "hurah-batch",
    "floor",
    "floor-async",
    "protocol",
    "protocol-checked",
    ...(durable ? [] : ["php"]),
  ],
  listeners: ({ listeners }) => listeners,
  trial: async (
    { contender, cell: { durable, deliveries, listeners, processes }, round, workers, root, dirs },
  ) => {
    const events = deliveries / listeners / processes;
    const perProcess = round.warmup ? Math.max(1, Math.ceil(events / 4)) : events;
    if (contender === "php") {
      // Counted by the task files found: PHP's dispatchers die on a half-written tracking.json (4 processes).
      const r = await phpDispatch(root, EVENT_TYPE, dirs, perProcess, processes);
      return { value: perSecond(r.delivered, r.end - r.start), extra: { lostShare: 1 - r.delivered / r.asked } };
    }
    const command = { op: "dispatch", contender, root, dirs, events: perProcess, durable };
    const results = await runAll(workers.map((worker, k) => [worker, { ...command, writer: `w${k}` }]));
    const count = results.reduce((sum, r) => sum + r.count, 0);
    expectCount(`dispatch ${contender}: deliveries`, count, perProcess * processes * listeners);
    const files = dirs.reduce((sum, dir) => sum + harness.countEntries(join(dir, "inbox")), 0);
    expectCount(`dispatch ${contender}: files in the inboxes`, files, perProcess * processes * listeners);
    return perSecond(count, Math.max(...results.map((r) => r.end)) - Math.min(...results.map((r) => r.start)));
  },
};

/** A listener with `size` tasks, reused by every drain trial (put back by renaming archive/ to inbox/). */
type Backlog = { root: string; dir: string; size: number };

/** Writes a backlog of `size` tasks in hurah's exact format (encodeTask), and tracking.json. */
function writeBacklog(root: string, size: number): Backlog {
  const [dir] = makeListeners(root, EVENT_TYPE, 1).dirs;
  const [delivery, eventId] = [formatDelivery(new Date()), crypto.randomUUID()];
  for (let sequence = 1; sequence <= size; sequence++) {
    const task = { payload: { product_id: sequence }, sequence, count: sequence, delivery, event_type: EVENT_TYPE };
    const text = encodeTask({ ...task, event_id: eventId, task_id: crypto.randomUUID() });
    Deno.writeTextFileSync(join(dir, "inbox", `${sequence}.json`), text);
  }
  const tracking = { sequence: size, count: size, first: delivery, last: delivery };
  Deno.writeTextFileSync(join(dir, "tracking.json"), JSON.stringify(tracking));
  return { root, dir, size };
}

/** The backlog of `size` tasks on `fs`, written on first use, and put back as it was: archive/ becomes inbox/. */
async function backlog(context: Context, fs: Fs, size: number): Promise<Backlog> {
  let b = context.backlogs.get(`${fs}/${size}`);
  if (b === undefined) {
    const started = performance.now();
    b = writeBacklog(context.scratch.fresh(fs, `backlog-${size}`), size);
    log(`wrote a backlog of ${size} tasks on ${fs} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    context.backlogs.set(`${fs}/${size}`, b);
  }
  const [inbox, archive] = [join(b.dir, "inbox"), join(b.dir, "archive")];
  const [pending, archived] = [harness.countEntries(inbox), harness.countEntries(archive)];
  if (pending !== b.size) { // hurah leaves SUCCESS tasks unchanged: the archive is the backlog again
    if (pending !== 0 || archived !== b.size) {
      throw new Error(`backlog ${b.dir}: ${pending} tasks in inbox/ and ${archived} in archive/, expected ${b.size}`);
    }
    Deno.renameSync(inbox, join(b.dir, "inbox.swap"));
    Deno.renameSync(archive, inbox);
    Deno.renameSync(join(b.dir, "inbox.swap"), archive);
  }
  await harness.syncDisks();
  return b;
}

/** `hurah run` (cli.ts in a process of its own) on listener l00 of a backlog, its handler answering SUCCESS. */
async function cliDrain(root: string, durable: boolean): Promise<{ start: number; end: number }> {
  const handler = join(PROJECT, "scripts", "_bench_noop_handler.ts");
  const args = ["run", "-A", "--quiet", join(PROJECT, "cli.ts"), "run", "l00", EVENT_TYPE, handler, root];
  if (!durable) args.push("--no-fsync");
  const start = performance.now();
  const { success, stderr } = await new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "piped" })
    .output();
  const end = performance.now();
  if (!success) throw new Error(`hurah run failed: ${new TextDecoder().decode(stderr).slice(0, 500)}`);
  return { start, end };
}

/** Tasks per second draining backlogs of growing size with a no-op handler. */
const drain: Workload<{ fs: Fs; durable: boolean; backlog: number }> = {
  name: "drain",
  cells: ({ fileSystems, drain: { backlogs, durableMaxBacklog, diskMaxBacklog } }) =>
    matrix({ fs: fileSystems, durable: DURABILITY, backlog: backlogs }).filter(({ fs, durable, backlog }) =>
      backlog <= (durable ? durableMaxBacklog : Infinity) && (fs !== "disk" || backlog <= diskMaxBacklog)
    ),
  id: ({ fs, durable, backlog }) => `drain/${fs}/${onOff(durable)}/${backlog}`,
  group: ["fs", "durable"],
  workers: () => ["drain"],
  // The sequential async floor takes 5–10 s per 100k trial and says nothing new there.
  // PHP's runner does not fsync: it runs beside durable off only.
  contenders: ({ durable, backlog }) =>
    Object.keys(LABELS.drain).filter((id) =>
      (durable || id !== "floor-fsync") && (backlog < 100_000 || id !== "floor-async") && (!durable || id !== "php")
    ),
  runs: ({ backlog }, plan) => backlog >= 100_000 ? plan.drain.largeRuns : plan.runs,
  trial: async ({ contender, cell: { fs, durable, backlog: size }, workers: [worker], context }) => {
    const { root, dir } = await backlog(context, fs, size);
    if (contender === "cli" || contender === "php") {
      // A process of its own, startup included, as cron or a user starts it.
      const r = contender === "php" ? await phpDrain(root, "l00", EVENT_TYPE) : await cliDrain(root, durable);
      expectCount(`drain ${contender}: tasks archived`, harness.countEntries(join(dir, "archive")), size);
      return perSecond(size, r.end - r.start);
    }
    const r = await worker.run({ op: "drain", contender, root, dirs: [dir], durable, concurrency: 4 });
    expectCount(`drain ${contender}: tasks`, r.count, size);
    return perSecond(r.count, r.end - r.start);
  },
};

/** The time from just before `dispatch()` to the handler's entry, one event every few ms. */
const latency: Workload<{ fs: Fs; durable: boolean; events: number; intervalMs: number }> = {
  name: "latency",
  cells: ({ latency: { fileSystems, events, intervalMs } }) =>
    matrix({ fs: fileSystems, durable: DURABILITY }).map((cell) => ({ ...cell, events, intervalMs })),
  workers: () => ["watcher", "dispatcher"],
  listeners: () => 1,
  trial: async (
    { contender, cell: { durable, events, intervalMs }, round, workers: [watcher, sender], root, dirs },
  ) => {
    const count = round.warmup ? 20 : events;
    const [kind, concurrency] = [contender === "floor" ? "floor" : "hurah", contender === "hurah-parallel" ? 4 : 1];
    const common = { contender: kind, root, dirs, events: count, durable };
    const [w] = await runAll([
      [watcher, { ...common, op: "watch", concurrency, timeoutMs: count * intervalMs + 60_000 }],
      [sender, { ...common, op: "paced", intervalMs }],
    ]);
    expectCount(`latency ${contender}: handled`, w.count, count);
    return { value: w.p50, extra: pick(w, "p90", "p99", "max", "mean") };
  },
};

/** 1,000 events dispatched at once while a watcher runs: the time until all are handled. */
const burst: Workload<{ fs: Fs; durable: boolean; events: number }> = {
  name: "burst",
  cells: ({ burst: { fileSystems, events } }) =>
    matrix({ fs: fileSystems, durable: DURABILITY }).map((cell) => ({ ...cell, events })),
  workers: () => ["watcher", "dispatcher"],
  listeners: () => 1,
  trial: async ({ contender, cell: { durable, events }, round, workers: [watcher, dispatcher], root, dirs }) => {
    const count = round.warmup ? 100 : events;
    const dispatch = { op: "dispatch", contender: "hurah", root, dirs, events: count, durable };
    if (contender === "alone") {
      const d = await dispatcher.run(dispatch);
      return { value: d.end - d.start, extra: { dispatchMs: d.end - d.start } };
    }
    const concurrency = contender === "watch" ? 1 : 4;
    const [w, d] = await runAll([[watcher, { ...dispatch, op: "watch", concurrency }], [dispatcher, dispatch]]);
    expectCount(`burst ${contender}: handled`, w.count, count);
    return { value: w.last - d.start, extra: { dispatchMs: d.end - d.start } };
  },
};

/** A Deno KV queue next to hurah: enqueue and end-to-end throughput for the same number of messages. */
const peer: Workload<{ fs: Fs; messages: number }> = {
  name: "peer",
  cells: ({ peer: { fileSystems, messages } }) => fileSystems.map((fs) => ({ fs, messages: messages[fs] })),
  workers: () => ["watcher", "producer"],
  listeners: () => 1,
  trial: async ({ contender, cell: { messages }, round, workers: [watcher, producer], root, dirs }) => {
    const events = round.warmup ? 100 : messages;
    const [durable, path] = [contender.endsWith("-durable"), join(root, "kv.sqlite")];
    const alone: Record<string, Record<string, unknown>> = {
      "kv-enqueue": { op: "kv-enqueue", path, events },
      "kv-e2e": { op: "kv-e2e", path, events, batch: 1 },
      "kv-e2e-batch": { op: "kv-e2e", path, events, batch: harness.DISPATCH_BATCH },
      "hurah-dispatch": { op: "dispatch", contender: "hurah", root, dirs, events, durable },
      "hurah-dispatch-durable": { op: "dispatch", contender: "hurah", root, dirs, events, durable },
      "hurah-e2e-in-process": { op: "in-process", root, events, durable },
    };
    let r: WorkerResult;
    if (alone[contender]) {
      r = await producer.run(alone[contender]);
    } else {
      const sender = contender.startsWith("hurah-e2e-batch") ? "hurah-batch" : "hurah";
      const [w, d] = await runAll([
        [watcher, { op: "watch", root, dirs, events, durable, concurrency: 1 }],
        [producer, { op: "dispatch", contender: sender, root, dirs, events, durable }],
      ]);
      r = { start: d.start, end: w.last, count: w.count };
    }
    expectCount(`peer ${contender}: messages`, r.count, events);
    return perSecond(r.count, r.end - r.start);
  },
};

/** Peak RSS above idle of a fresh process draining a backlog: one table, a series per process kind and backlog. */
async function memoryWorkload(context: Context): Promise<void> {
  const kinds = Object.keys(LABELS.memory);
  const all: Series[] = [];
  for (const size of context.plan.memory.backlogs) {
    const series = await measure("memory", kinds, { runs: context.plan.memory.runs, warmup: false }, async (kind) => {
      const { root, dir } = await backlog(context, "shm", size);
      const worker = BenchWorker.spawn(`memory-${kind}`, context.flags);
      let r: WorkerResult;
      try {
        r = await worker.run({ op: "memory", contender: kind, root, dirs: [dir], events: size, concurrency: 4 });
      } finally {
        await worker.close();
      }
      expectCount(`memory ${kind}: tasks`, r.count, size);
      const [idle, peak] = [r.idleKiB / 1024, r.peakKiB / 1024];
      return { value: peak - idle, extra: { idleMiB: idle, peakMiB: peak, backlog: size } };
    });
    all.push(...series.map((s) => ({ ...s, id: `${s.id}@${size}` })));
  }
  const kindOf = (s: Series) => kinds.indexOf(s.id.split("@")[0]);
  all.sort((a, b) => kindOf(a) - kindOf(b) || a.extra!.backlog[0] - b.extra!.backlog[0]);
  publish(context, "memory", "memory/shm", { fs: "shm", durable: false }, all);
}

/** Syscalls per delivery and per drained task, by the difference of two runs of different sizes. */
async function syscallsWorkload(context: Context): Promise<void> {
  const [small, large] = [200, 1200];
  const drains = ["hurah", "hurah-parallel", "floor", "floor-checked", "floor-async"];
  const cases = [
    ...matrix({
      op: ["dispatch"] as const,
      durable: DURABILITY,
      contender: Object.keys(LABELS.dispatch).filter((id) => !id.startsWith("php")),
    }),
    ...matrix({ op: ["drain"] as const, contender: drains, durable: DURABILITY })
      .filter(({ contender, durable }) => contender.startsWith("hurah") || !durable),
  ];
  for (const { op, durable, contender } of cases) {
    const counts: Map<string, number>[] = [];
    for (const n of [small, large]) {
      const root = context.scratch.fresh("shm");
      const command = op === "dispatch"
        ? { op, contender, root, dirs: makeListeners(root, EVENT_TYPE, 1).dirs, events: n, durable }
        : { op, contender, root, dirs: [writeBacklog(root, n).dir], durable, concurrency: 4 };
      try {
        counts.push(await harness.strace(context.scratch.base("shm"), command));
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
    const [label, per] = [report.syscallLabel(op, contender, durable), op === "dispatch" ? "delivery" : "task"];
    context.syscalls.push({
      id: `${op}/${contender}/${onOff(durable)}`,
      label,
      per,
      total: Math.round(total * 10) / 10,
      calls,
    });
    log(`syscalls ${label}: ${context.syscalls.at(-1)!.total} per ${per}`);
  }
  console.log("#### System calls per operation (strace -f -c, /dev/shm)\n\n" + report.renderSyscalls(context.syscalls));
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
  nats: async (context) => {
    for (const table of await benchNats(context.plan.nats, log, context.notes)) {
      context.tables.push(table);
      console.log(report.renderTable(table));
    }
  },
  syscalls: syscallsWorkload,
};

/** Writes JSON with arrays of numbers on one line (as `deno fmt` keeps them). */
function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /\[\s+(-?[\d.e+-]+(?:,\s+-?[\d.e+-]+)*)\s+\]/g,
    (_, items: string) => `[${items.split(/,\s+/).join(", ")}]`,
  ) + "\n";
}

/** Writes docs/benchmarks.md from results, keeping the marked blocks of the current one. */
async function writeDocs(results: report.BenchResults, withJson: boolean): Promise<void> {
  const markdown = join(PROJECT, "docs", "benchmarks.md");
  let previous = "";
  try {
    previous = Deno.readTextFileSync(markdown);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  Deno.writeTextFileSync(markdown, report.renderReport(results, previous));
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
    const results: report.BenchResults = JSON.parse(Deno.readTextFileSync(values.from));
    for (const table of results.tables) console.log(report.renderTable(table));
    console.log(report.renderTargets(report.checkTargets(results)));
    await writeDocs(results, false);
    return 0;
  }
  const plan: Plan = structuredClone(values.quick ? QUICK : FULL);
  if (values.runs !== undefined) {
    // Every workload's measured rounds, also those that have their own count.
    const runs = Number(values.runs);
    if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number of at least 1`);
    plan.runs = runs;
    for (const part of [plan.latency, plan.burst, plan.memory, plan.peer, plan.nats]) part.runs = runs;
  }
  const selected = values.only?.split(",") ?? [...report.WORKLOADS, ...(plan.syscalls ? ["syscalls"] : [])];
  for (const name of selected) if (!WORKLOAD_FUNCTIONS[name]) throw new Error(`unknown workload ${name}`);
  const notes: string[] = [];
  if (selected.includes("syscalls") && await harness.commandOutput("strace", ["-V"]) === undefined) {
    selected.splice(selected.indexOf("syscalls"), 1);
    notes.push("System calls were not counted: `strace` is not installed (`apt-get install -y strace`).");
  }
  const flags = values.profile ? ["--cpu-prof", `--cpu-prof-dir=${values.profile}`] : [];
  const scratch = new Scratch();
  const started = new Date();
  const missing = await phpMissing("harness/dispatch.php");
  if (missing !== undefined) notes.push(`The PHP original was not measured: ${missing}.`);
  const context: Context = {
    plan,
    scratch,
    flags,
    tables: [],
    syscalls: [],
    notes,
    backlogs: new Map(),
    phpMissing: missing,
  };
  const machine = await harness.machineInfo(PROJECT, plan.fileSystems);
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
  const results: report.BenchResults = {
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
  console.log("### Targets\n\n" + report.renderTargets(report.checkTargets(results)));
  console.log("### Issue 14 acceptance\n\n" + report.renderAcceptance(results));
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

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
 * (scripts/_bench_floors.ts). Every trial runs in a worker process
 * (scripts/_bench_worker.ts); contenders are interleaved round by round.
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
  type Fs,
  interleave,
  machineInfo,
  makeListeners,
  type Round,
  Scratch,
  syncDisks,
  withWorkers,
  WORKER,
  WORKER_FLAGS,
} from "./_bench_harness.ts";
import {
  type BenchResults,
  checkTargets,
  fsLabel,
  renderReport,
  renderSyscalls,
  renderTable,
  renderTargets,
  type ResultTable,
  type Series,
  type SyscallCount,
  WORKLOADS,
} from "./_bench_report.ts";
import { parseStraceSummary, perSecond } from "./_bench_stats.ts";
import { DISPATCH_BATCH, type WorkerResult } from "./_bench_worker.ts";

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

function log(text: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}`);
}

/** Adds a table to the results and prints it. */
function publish(context: Context, table: ResultTable): void {
  context.tables.push(table);
  console.log(renderTable(table));
}

function series(
  labels: Record<string, string>,
  samples: Map<string, number[]>,
  extra?: Map<string, Record<string, number[]>>,
): Series[] {
  return [...samples].map(([id, values]) => ({
    id,
    label: labels[id],
    values,
    ...(extra?.get(id) ? { extra: extra.get(id) } : {}),
  }));
}

/** Removes a trial's root and flushes the disks, so the next trial starts clean. */
async function cleanUp(root: string): Promise<void> {
  await Deno.remove(root, { recursive: true }).catch(() => {});
  await syncDisks();
}

function expectCount(what: string, found: number, expected: number): void {
  if (found !== expected) throw new Error(`${what}: expected ${expected}, found ${found}`);
}

// ---------------------------------------------------------------- dispatch

const DISPATCH_LABELS: Record<string, string> = {
  hurah: "hurah `Dispatcher.dispatch()`",
  "hurah-batch": `hurah \`Dispatcher.dispatchMany()\`, ${DISPATCH_BATCH} events a call`,
  "hurah-concurrent": `hurah \`Dispatcher.dispatch()\`, ${DISPATCH_BATCH} calls at once`,
  floor: "floor: create + write + rename (sync calls)",
  "floor-async": "floor, async calls",
  protocol: "protocol floor: locked PHP-compatible delivery (sync calls)",
  "protocol-async": "protocol floor, async calls",
};

/** The dispatch contenders timed (the async protocol floor is only counted, in the syscall table: it is slow). */
const DISPATCH_TIMED = ["hurah", "hurah-concurrent", "hurah-batch", "floor", "floor-async", "protocol"];

/** Deliveries per second, 1 and 10 listeners, from one process and from four started together. */
async function dispatchWorkload(context: Context): Promise<void> {
  const { plan, scratch } = context;
  for (const fs of plan.fileSystems) {
    for (const durable of DURABILITY) {
      for (const processes of plan.dispatch.processes) {
        const labels = Array.from({ length: processes }, (_, k) => `dispatch-${k}`);
        await withWorkers(labels, context.flags, async (workers) => {
          for (const [index, listeners] of plan.dispatch.listeners.entries()) {
            const deliveries = plan.dispatch.deliveries[`${fs}/${durable ? "on" : "off"}`];
            const events = Math.max(1, Math.round(deliveries / listeners / processes));
            const trial = async (contender: string, round: Round) => {
              const root = scratch.fresh(fs);
              const { dirs } = makeListeners(root, EVENT_TYPE, listeners);
              try {
                const perProcess = round.warmup ? Math.max(1, Math.ceil(events / 4)) : events;
                await Promise.all(workers.map((worker, k) =>
                  worker.prepare({
                    op: "dispatch",
                    contender,
                    root,
                    dirs,
                    events: perProcess,
                    durable,
                    writer: `w${k}`,
                  })
                ));
                await Promise.all(workers.map((worker) => worker.go()));
                const results = await Promise.all(workers.map((worker) => worker.result()));
                const count = results.reduce((sum, r) => sum + Number(r.count), 0);
                const expected = perProcess * processes * listeners;
                expectCount(`dispatch ${contender}: deliveries`, count, expected);
                const files = dirs.reduce((sum, dir) => sum + countEntries(join(dir, "inbox")), 0);
                expectCount(`dispatch ${contender}: files in the inboxes`, files, expected);
                const start = Math.min(...results.map((r) => Number(r.start)));
                const end = Math.max(...results.map((r) => Number(r.end)));
                return perSecond(count, end - start);
              } finally {
                await cleanUp(root);
              }
            };
            const samples = await interleave(
              DISPATCH_TIMED,
              { runs: plan.runs, warmup: index === 0 },
              trial,
            );
            publish(context, {
              workload: "dispatch",
              id: `dispatch/${fs}/${durable ? "on" : "off"}/l${listeners}/p${processes}`,
              title: `Dispatch · ${fsLabel(fs)} · durable ${durable ? "on" : "off"} · ${listeners} listener${
                listeners > 1 ? "s" : ""
              } · ${processes} process${processes > 1 ? "es" : ""} · ${
                (events * listeners * processes).toLocaleString("en-US")
              } deliveries`,
              params: { fs, durable, listeners, processes, deliveries: events * listeners * processes },
              unit: "deliveries/s",
              higherIsBetter: true,
              floor: "floor",
              series: series(DISPATCH_LABELS, samples),
            });
          }
        });
      }
    }
  }
}

// ---------------------------------------------------------------- drain

/** A listener with `size` tasks, reused by every drain trial (put back by renaming archive/ to inbox/). */
interface Backlog {
  root: string;
  dir: string;
  size: number;
}

/** Writes a backlog of `size` tasks in hurah's exact format (encodeTask), and tracking.json. */
function writeBacklog(root: string, size: number): Backlog {
  const { dirs } = makeListeners(root, EVENT_TYPE, 1);
  const dir = dirs[0];
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
  Deno.writeTextFileSync(
    join(dir, "tracking.json"),
    JSON.stringify({ sequence: size, count: size, first: delivery, last: delivery }),
  );
  return { root, dir, size };
}

/** The backlog of `size` tasks on `fs`, written on first use. */
async function backlog(context: Context, fs: Fs, size: number): Promise<Backlog> {
  const key = `${fs}/${size}`;
  let found = context.backlogs.get(key);
  if (found === undefined) {
    const started = performance.now();
    found = writeBacklog(context.scratch.fresh(fs, `backlog-${size}`), size);
    await syncDisks();
    log(`wrote a backlog of ${size} tasks on ${fs} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    context.backlogs.set(key, found);
  }
  return found;
}

/** Puts a drained backlog back: archive/ becomes inbox/ (hurah leaves SUCCESS tasks unchanged). */
async function resetBacklog(b: Backlog): Promise<void> {
  const inbox = join(b.dir, "inbox");
  const archive = join(b.dir, "archive");
  const pending = countEntries(inbox);
  if (pending !== b.size) {
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
}

const DRAIN_LABELS: Record<string, string> = {
  hurah: "hurah `runOnce` (ordered)",
  "hurah-parallel": "hurah `runOnce`, `concurrency: 4`",
  floor: "floor: read + parse + rename (sync calls)",
  "floor-stream": "floor, inbox listed as a stream (numbers only)",
  "floor-async": "floor, async calls",
  "floor-async-parallel": "floor, async calls, 4 loops",
  "floor-claim": "parallel-mode floor: + claim rename into inflight/ (sync calls)",
  "floor-fsync": "fsync floor: + fsync file and archive/ (sync calls)",
};

/** Tasks per second draining backlogs of growing size with a no-op handler. */
async function drainWorkload(context: Context): Promise<void> {
  const { plan } = context;
  for (const fs of plan.fileSystems) {
    for (const durable of DURABILITY) {
      await withWorkers(["drain"], context.flags, async ([worker]) => {
        const sizes = plan.drain.backlogs.filter((size) =>
          size <= (durable ? plan.drain.durableMaxBacklog : Infinity) &&
          (fs !== "disk" || size <= plan.drain.diskMaxBacklog)
        );
        for (const [index, size] of sizes.entries()) {
          const b = await backlog(context, fs, size);
          // The sequential async floor takes 5–10 s per 100k trial and says nothing new there.
          const contenders = Object.keys(DRAIN_LABELS).filter((id) =>
            (durable || id !== "floor-fsync") && (size < 100_000 || id !== "floor-async")
          );
          const trial = async (contender: string) => {
            await resetBacklog(b);
            const r = await worker.run({
              op: "drain",
              contender,
              root: b.root,
              dirs: [b.dir],
              durable,
              concurrency: 4,
            });
            expectCount(`drain ${contender}: tasks`, Number(r.count), size);
            return perSecond(Number(r.count), Number(r.end) - Number(r.start));
          };
          const runs = size >= 100_000 ? plan.drain.largeRuns : plan.runs;
          const samples = await interleave(contenders, { runs, warmup: index === 0 }, trial);
          publish(context, {
            workload: "drain",
            id: `drain/${fs}/${durable ? "on" : "off"}/${size}`,
            title: `Drain · ${fsLabel(fs)} · durable ${durable ? "on" : "off"} · backlog ${
              size.toLocaleString("en-US")
            }`,
            params: { fs, durable, backlog: size },
            unit: "tasks/s",
            higherIsBetter: true,
            floor: "floor",
            series: series(DRAIN_LABELS, samples),
          });
        }
      });
    }
  }
  const skipped = plan.drain.backlogs.filter((size) => size > plan.drain.durableMaxBacklog);
  if (skipped.length) {
    context.notes.push(
      `Drain with durable on stops at ${
        plan.drain.durableMaxBacklog.toLocaleString("en-US")
      } tasks, to keep the run short: ` +
        "hurah's SUCCESS path makes the same system calls in both modes (a rename; see the syscall table).",
    );
  }
}

// ---------------------------------------------------------------- latency

const LATENCY_LABELS: Record<string, string> = {
  hurah: "hurah `watch()`",
  "hurah-parallel": "hurah `watch()`, `concurrency: 4`",
  floor: "floor: `Deno.watchFs` + list + read + rename",
};

/** The time from just before `dispatch()` to the handler's entry, one event every few ms. */
async function latencyWorkload(context: Context): Promise<void> {
  const { plan, scratch } = context;
  const { events, intervalMs } = plan.latency;
  await withWorkers(["watcher", "dispatcher"], context.flags, async ([watcher, dispatcher]) => {
    let warm = true;
    for (const fs of plan.latency.fileSystems) {
      for (const durable of DURABILITY) {
        const extra = new Map<string, Record<string, number[]>>();
        const trial = async (contender: string, round: Round) => {
          const root = scratch.fresh(fs);
          const { dirs } = makeListeners(root, EVENT_TYPE, 1);
          const count = round.warmup ? 20 : events;
          try {
            const kind = contender === "floor" ? "floor" : "hurah";
            await watcher.prepare({
              op: "watch",
              contender: kind,
              root,
              dirs,
              events: count,
              durable,
              concurrency: contender === "hurah-parallel" ? 4 : 1,
              timeoutMs: count * intervalMs + 60_000,
            });
            await dispatcher.prepare({ op: "paced", contender: kind, root, dirs, events: count, intervalMs, durable });
            await watcher.go();
            await dispatcher.go();
            const [w] = await Promise.all([watcher.result(), dispatcher.result()]);
            expectCount(`latency ${contender}: handled`, Number(w.count), count);
            if (!round.warmup) {
              const record = extra.get(contender) ?? { p90: [], p99: [], max: [], mean: [] };
              for (const key of Object.keys(record)) record[key].push(Number(w[key]));
              extra.set(contender, record);
            }
            return Number(w.p50);
          } finally {
            await cleanUp(root);
          }
        };
        const samples = await interleave(Object.keys(LATENCY_LABELS), { runs: plan.latency.runs, warmup: warm }, trial);
        warm = false;
        publish(context, {
          workload: "latency",
          id: `latency/${fs}/${durable ? "on" : "off"}`,
          title: `Trigger latency · ${fsLabel(fs)} · durable ${
            durable ? "on" : "off"
          } · ${events} events, one every ${intervalMs} ms`,
          params: { fs, durable, events, intervalMs },
          unit: "ms",
          higherIsBetter: false,
          floor: "floor",
          series: series(LATENCY_LABELS, samples, extra),
        });
      }
    }
  });
}

// ---------------------------------------------------------------- burst

const BURST_LABELS: Record<string, string> = {
  alone: "dispatch alone, no watcher",
  watch: "dispatch + hurah `watch()`",
  "watch-parallel": "dispatch + hurah `watch()`, `concurrency: 4`",
};

/** 1,000 events dispatched at once while a watcher runs: the time until all are handled. */
async function burstWorkload(context: Context): Promise<void> {
  const { plan, scratch } = context;
  const { events } = plan.burst;
  await withWorkers(["watcher", "dispatcher"], context.flags, async ([watcher, dispatcher]) => {
    let warm = true;
    for (const fs of plan.burst.fileSystems) {
      for (const durable of DURABILITY) {
        const dispatchMs = new Map<string, Record<string, number[]>>();
        const trial = async (contender: string, round: Round) => {
          const root = scratch.fresh(fs);
          const { dirs } = makeListeners(root, EVENT_TYPE, 1);
          const count = round.warmup ? 100 : events;
          const dispatch = { op: "dispatch", contender: "hurah", root, dirs, events: count, durable };
          try {
            let time: number;
            let during: number;
            if (contender === "alone") {
              const d = await dispatcher.run(dispatch);
              time = during = Number(d.end) - Number(d.start);
            } else {
              await watcher.prepare({
                op: "watch",
                root,
                dirs,
                events: count,
                durable,
                concurrency: contender === "watch" ? 1 : 4,
              });
              await dispatcher.prepare(dispatch);
              await watcher.go();
              await dispatcher.go();
              const [w, d] = await Promise.all([watcher.result(), dispatcher.result()]);
              expectCount(`burst ${contender}: handled`, Number(w.count), count);
              time = Number(w.last) - Number(d.start);
              during = Number(d.end) - Number(d.start);
            }
            if (!round.warmup) {
              const record = dispatchMs.get(contender) ?? { dispatchMs: [] };
              record.dispatchMs.push(during);
              dispatchMs.set(contender, record);
            }
            return time;
          } finally {
            await cleanUp(root);
          }
        };
        const samples = await interleave(Object.keys(BURST_LABELS), { runs: plan.burst.runs, warmup: warm }, trial);
        warm = false;
        publish(context, {
          workload: "burst",
          id: `burst/${fs}/${durable ? "on" : "off"}`,
          title: `Burst · ${fsLabel(fs)} · durable ${durable ? "on" : "off"} · ${
            events.toLocaleString("en-US")
          } events`,
          params: { fs, durable, events },
          unit: "ms",
          higherIsBetter: false,
          floor: "alone",
          series: series(BURST_LABELS, samples, dispatchMs),
        });
      }
    }
  });
}

// ---------------------------------------------------------------- memory

const MEMORY_LABELS: Record<string, string> = {
  floor: "floor: streamed list + read + parse + rename",
  run: "`runOnce` (ordered), as `hurah run`",
  "run-parallel": "`runOnce`, `concurrency: 4`",
  watch: "`watch()`, as `hurah watch`",
};

/** Peak RSS above idle of a fresh process draining a backlog. */
async function memoryWorkload(context: Context): Promise<void> {
  const { plan } = context;
  const all: Series[] = [];
  for (const size of plan.memory.backlogs) {
    const b = await backlog(context, "shm", size);
    const extra = new Map<string, Record<string, number[]>>();
    const trial = async (kind: string) => {
      await resetBacklog(b);
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
      const record = extra.get(kind) ?? { idleMiB: [], peakMiB: [], backlog: [] };
      record.idleMiB.push(Number(r.idleKiB) / 1024);
      record.peakMiB.push(Number(r.peakKiB) / 1024);
      record.backlog.push(size);
      extra.set(kind, record);
      return (Number(r.peakKiB) - Number(r.idleKiB)) / 1024;
    };
    const samples = await interleave(Object.keys(MEMORY_LABELS), { runs: plan.memory.runs, warmup: false }, trial);
    for (const s of series(MEMORY_LABELS, samples, extra)) all.push({ ...s, id: `${s.id}@${size}` });
  }
  const order = Object.keys(MEMORY_LABELS);
  const kindOf = (s: Series) => order.indexOf(s.id.split("@")[0]);
  all.sort((a, b) => kindOf(a) - kindOf(b) || a.extra!.backlog[0] - b.extra!.backlog[0]);
  publish(context, {
    workload: "memory",
    id: "memory/shm",
    title: "Memory · /dev/shm · durable off · RSS of a fresh process draining a backlog",
    params: { fs: "shm", durable: false },
    unit: "MiB",
    higherIsBetter: false,
    series: all,
  });
}

// ---------------------------------------------------------------- peer

const PEER_LABELS: Record<string, string> = {
  "kv-enqueue": "Deno KV `enqueue()`",
  "kv-e2e": "Deno KV end to end (one process)",
  "kv-e2e-batch": `Deno KV end to end, ${DISPATCH_BATCH} \`enqueue()\`s per \`atomic()\` commit (one process)`,
  "hurah-dispatch": "hurah dispatch, durable off",
  "hurah-e2e": "hurah end to end, durable off (two processes)",
  "hurah-e2e-in-process": "hurah end to end, durable off (one process)",
  "hurah-e2e-batch": `hurah end to end, \`dispatchMany()\` of ${DISPATCH_BATCH}, durable off (two processes)`,
  "hurah-dispatch-durable": "hurah dispatch, durable on",
  "hurah-e2e-durable": "hurah end to end, durable on (two processes)",
  "hurah-e2e-batch-durable": `hurah end to end, \`dispatchMany()\` of ${DISPATCH_BATCH}, durable on (two processes)`,
};

/** A Deno KV queue next to hurah: enqueue and end-to-end throughput for the same number of messages. */
async function peerWorkload(context: Context): Promise<void> {
  const { plan, scratch } = context;
  await withWorkers(["watcher", "producer"], context.flags, async ([watcher, producer]) => {
    let warm = true;
    for (const fs of plan.peer.fileSystems) {
      const messages = plan.peer.messages[fs];
      const trial = async (contender: string, round: Round) => {
        const root = scratch.fresh(fs);
        const { dirs } = makeListeners(root, EVENT_TYPE, 1);
        const count = round.warmup ? 100 : messages;
        const durable = contender.endsWith("-durable");
        const path = join(root, "kv.sqlite");
        try {
          let r: { start: number; end: number; count: number };
          const numbers = (x: WorkerResult) => ({ start: Number(x.start), end: Number(x.end), count: Number(x.count) });
          if (contender === "kv-enqueue") {
            r = numbers(await producer.run({ op: "kv-enqueue", path, events: count }));
          } else if (contender === "kv-e2e" || contender === "kv-e2e-batch") {
            const batch = contender === "kv-e2e-batch" ? DISPATCH_BATCH : 1;
            r = numbers(await producer.run({ op: "kv-e2e", path, events: count, batch }));
          } else if (contender.startsWith("hurah-dispatch")) {
            r = numbers(await producer.run({ op: "dispatch", contender: "hurah", root, dirs, events: count, durable }));
          } else if (contender === "hurah-e2e-in-process") {
            r = numbers(await producer.run({ op: "in-process", root, events: count, durable }));
          } else {
            await watcher.prepare({ op: "watch", root, dirs, events: count, durable, concurrency: 1 });
            const sender = contender.startsWith("hurah-e2e-batch") ? "hurah-batch" : "hurah";
            await producer.prepare({ op: "dispatch", contender: sender, root, dirs, events: count, durable });
            await watcher.go();
            await producer.go();
            const [w, d] = await Promise.all([watcher.result(), producer.result()]);
            r = { start: Number(d.start), end: Number(w.last), count: Number(w.count) };
          }
          expectCount(`peer ${contender}: messages`, r.count, count);
          return perSecond(r.count, r.end - r.start);
        } finally {
          await cleanUp(root);
        }
      };
      const samples = await interleave(Object.keys(PEER_LABELS), { runs: plan.peer.runs, warmup: warm }, trial);
      warm = false;
      publish(context, {
        workload: "peer",
        id: `peer/${fs}`,
        title: `Peer · ${fsLabel(fs)} · ${messages.toLocaleString("en-US")} messages`,
        params: { fs, messages },
        unit: "messages/s",
        higherIsBetter: true,
        floor: "kv-e2e",
        series: series(PEER_LABELS, samples),
      });
    }
  });
}

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
  const measure = async (
    id: string,
    label: string,
    per: string,
    command: (n: number) => Promise<{ command: Record<string, unknown>; root: string }>,
  ) => {
    const counts: Map<string, number>[] = [];
    for (const n of [small, large]) {
      const { command: c, root } = await command(n);
      try {
        counts.push(await strace(scratch, c));
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
    const count: SyscallCount = { id, label, per, total: Math.round(total * 10) / 10, calls };
    context.syscalls.push(count);
    log(`syscalls ${label}: ${count.total} per ${per}`);
  };
  for (const durable of DURABILITY) {
    for (const contender of Object.keys(DISPATCH_LABELS)) {
      await measure(
        `dispatch/${contender}/${durable ? "on" : "off"}`,
        `${DISPATCH_LABELS[contender]}, durable ${durable ? "on" : "off"}`,
        "delivery",
        (n) => {
          const root = scratch.fresh("shm");
          const { dirs } = makeListeners(root, EVENT_TYPE, 1);
          return Promise.resolve({ root, command: { op: "dispatch", contender, root, dirs, events: n, durable } });
        },
      );
    }
  }
  for (const contender of ["hurah", "hurah-parallel", "floor", "floor-async"]) {
    for (const durable of contender.startsWith("hurah") ? DURABILITY : [false]) {
      await measure(
        `drain/${contender}/${durable ? "on" : "off"}`,
        `${DRAIN_LABELS[contender]}${contender.startsWith("hurah") ? `, durable ${durable ? "on" : "off"}` : ""}`,
        "task",
        (n) => {
          const root = scratch.fresh("shm");
          const b = writeBacklog(root, n);
          return Promise.resolve({
            root,
            command: { op: "drain", contender, root, dirs: [b.dir], durable, concurrency: 4 },
          });
        },
      );
    }
  }
  console.log("#### System calls per operation (strace -f -c, /dev/shm)\n\n" + renderSyscalls(context.syscalls));
}

// ---------------------------------------------------------------- main

const WORKLOAD_FUNCTIONS: Record<string, (context: Context) => Promise<void>> = {
  dispatch: dispatchWorkload,
  drain: drainWorkload,
  latency: latencyWorkload,
  burst: burstWorkload,
  memory: memoryWorkload,
  peer: peerWorkload,
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

async function formatFiles(paths: string[]): Promise<void> {
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", ...paths], cwd: PROJECT }).output();
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
  await formatFiles(written);
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

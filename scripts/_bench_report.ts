/**
 * The benchmark's words: the results as stored (bench-results/*.json, docs/benchmarks.json) and the text made of
 * them: the contenders' labels, one Markdown table per configuration, the targets met or missed, and
 * docs/benchmarks.md. Pure: the same results always give the same text, so the docs can be regenerated from the JSON
 * (`deno task bench --from docs/benchmarks.json`). scripts/bench.ts measures; it writes no text of its own.
 *
 * @module
 */
import { DISPATCH_BATCH, type MachineInfo } from "./_bench_harness.ts";
import {
  type Align,
  formatNumber,
  formatRatio,
  formatSummary,
  markdownTable,
  median,
  summarize,
} from "./_bench_stats.ts";

/** The workloads, in the order of the report. */
export const WORKLOADS = ["dispatch", "drain", "latency", "burst", "memory", "peer"] as const;
/** One of the workloads. */
export type WorkloadName = typeof WORKLOADS[number];

/** One contender's runs in one table: its stable id (`hurah`, `floor`), label, main value and other values per run. */
export type Series = { id: string; label: string; values: number[]; extra?: Record<string, number[]> };

/**
 * One table: the contenders of one workload in one configuration (`params`: `fs`, `durable`, `listeners`, ...), with
 * a unique id (`dispatch/shm/off/l10/p4`), the main value's unit, which way is better and the series the ratios are
 * taken to.
 */
export interface ResultTable extends TableKind {
  workload: WorkloadName;
  id: string;
  title: string;
  params: Record<string, string | number | boolean>;
  series: Series[];
}

/** What a workload's tables measure: the unit, whether rates (better high) or times and sizes, and the floor. */
export type TableKind = { unit: string; higherIsBetter: boolean; floor?: string };

/** Syscalls per operation (`per`: `delivery`, `task`) of one contender, counted by `strace -c -f`: the total and the calls of at least 0.05 by name. */
export type SyscallCount = { id: string; label: string; per: string; total: number; calls: Record<string, number> };

/** Everything one run of the bench measured, how it was started (`command`), its sizes and counts (`plan`) and notes. */
export interface BenchResults {
  version: 1;
  quick: boolean;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  command: string;
  machine: MachineInfo;
  plan: Record<string, unknown>;
  tables: ResultTable[];
  syscalls: SyscallCount[];
  notes: string[];
}

const count = (n: unknown) => Number(n).toLocaleString("en-US");
const plural = (n: unknown, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
const onOff = (durable: unknown) => `durable ${durable ? "on" : "off"}`;

/** A workload's section (heading, intro), its kind of table, its table titles and its contenders' labels by id. */
type Workload = TableKind & {
  section: string;
  intro: string;
  /** The table title, given the file system and durability (`head`). */
  title: (p: ResultTable["params"], head: string) => string;
  labels: Record<string, string>;
};

/** Every workload's words; the labels in the order of the syscall table (most workloads measure in this order). */
const WORKLOAD: Record<WorkloadName, Workload> = {
  dispatch: {
    section: "Dispatch",
    intro:
      "Deliveries per second: one dispatcher process, or four started together (all deliveries ÷ wall time from the first start to the last end). With 10 listeners every event is delivered 10 times.",
    unit: "deliveries/s",
    higherIsBetter: true,
    floor: "floor",
    title: (p, head) =>
      `Dispatch · ${head} · ${plural(p.listeners, "listener", "listeners")} · ${
        plural(p.processes, "process", "processes")
      } · ${count(p.deliveries)} deliveries`,
    labels: {
      hurah: "hurah `Dispatcher.dispatch()`",
      "hurah-batch": `hurah \`Dispatcher.dispatchMany()\`, ${DISPATCH_BATCH} events a call`,
      "hurah-concurrent": `hurah \`Dispatcher.dispatch()\`, ${DISPATCH_BATCH} calls at once`,
      floor: "floor: create + write + rename (sync calls)",
      "floor-async": "floor, async calls",
      protocol: "protocol floor: locked PHP-compatible delivery (sync calls)",
      "protocol-async": "protocol floor, async calls",
    },
  },
  drain: {
    section: "Drain",
    intro:
      "A no-op handler (returns SUCCESS) over a backlog: `runOnce` ordered, and `runOnce` with `concurrency: 4` (parallel mode) in one process. The backlog is written directly in hurah's format before the first trial.",
    unit: "tasks/s",
    higherIsBetter: true,
    floor: "floor",
    title: (p, head) => `Drain · ${head} · backlog ${count(p.backlog)}`,
    labels: {
      hurah: "hurah `runOnce` (ordered)",
      "hurah-parallel": "hurah `runOnce`, `concurrency: 4`",
      floor: "floor: read + parse + rename (sync calls)",
      "floor-stream": "floor, inbox listed as a stream (numbers only)",
      "floor-async": "floor, async calls",
      "floor-async-parallel": "floor, async calls, 4 loops",
      "floor-claim": "parallel-mode floor: + claim rename into inflight/ (sync calls)",
      "floor-fsync": "fsync floor: + fsync file and archive/ (sync calls)",
    },
  },
  latency: {
    section: "Trigger latency",
    intro:
      "A watcher runs while another process dispatches one event every few milliseconds on a fixed schedule. The payload carries `performance.timeOrigin + performance.now()` taken just before `dispatch()`; the handler takes the same clock on entry. Percentiles are per run (nearest rank); the table shows their median over the runs, and the largest latency seen.",
    unit: "ms",
    higherIsBetter: false,
    floor: "floor",
    title: (p, head) => `Trigger latency · ${head} · ${p.events} events, one every ${p.intervalMs} ms`,
    labels: {
      hurah: "hurah `watch()`",
      "hurah-parallel": "hurah `watch()`, `concurrency: 4`",
      floor: "floor: `Deno.watchFs` + list + read + rename",
    },
  },
  burst: {
    section: "Burst",
    intro:
      "1,000 events dispatched at once by one process (as fast as it can) while a watcher runs: the time from the first dispatch until the watcher has handled all of them. The floor is the same 1,000 dispatches with no watcher running.",
    unit: "ms",
    higherIsBetter: false,
    floor: "alone",
    title: (p, head) => `Burst · ${head} · ${count(p.events)} events`,
    labels: {
      alone: "dispatch alone, no watcher",
      watch: "dispatch + hurah `watch()`",
      "watch-parallel": "dispatch + hurah `watch()`, `concurrency: 4`",
    },
  },
  memory: {
    section: "Memory",
    intro:
      "Peak RSS (`VmHWM`, reset through `/proc/self/clear_refs` just before) of a fresh process draining a backlog, against its RSS just before the drain (after loading, a pass in the same mode over an empty listener, and a garbage collection). A no-op handler, durable off, on /dev/shm.",
    unit: "MiB",
    higherIsBetter: false,
    title: (_, head) => `Memory · ${head} · RSS of a fresh process draining a backlog`,
    labels: {
      floor: "floor: streamed list + read + parse + rename",
      run: "`runOnce` (ordered), as `hurah run`",
      "run-parallel": "`runOnce`, `concurrency: 4`",
      watch: "`watch()`, as `hurah watch`",
    },
  },
  peer: {
    section: "Peer: Deno KV queue",
    intro:
      "Deno KV (`--unstable-kv`, a local SQLite file on the same file system), same machine, same run. Enqueue: sequential `enqueue()` calls. End to end: from the first `enqueue()` until `listenQueue()` has handled the last message; a local KV queue delivers only to the process that enqueued (a listener in another process on the same file received none of 1,000 messages in 30 s when this was written), so producer and consumer share one process. hurah end to end: dispatch → `watch()` handler, in two processes (as it is used) and in one.",
    unit: "messages/s",
    higherIsBetter: true,
    floor: "kv-e2e",
    title: (p, head) => `Peer · ${head} · ${count(p.messages)} messages`,
    labels: {
      "kv-enqueue": "Deno KV `enqueue()`",
      "kv-e2e": "Deno KV end to end (one process)",
      "kv-e2e-batch": `Deno KV end to end, ${DISPATCH_BATCH} \`enqueue()\`s per \`atomic()\` commit (one process)`,
      "hurah-dispatch": "hurah dispatch, durable off",
      "hurah-e2e": "hurah end to end, durable off (two processes)",
      "hurah-e2e-in-process": "hurah end to end, durable off (one process)",
      "hurah-e2e-batch": `hurah end to end, \`dispatchMany()\` of ${DISPATCH_BATCH}, durable off (two processes)`,
      "hurah-dispatch-durable": "hurah dispatch, durable on",
      "hurah-e2e-durable": "hurah end to end, durable on (two processes)",
      "hurah-e2e-batch-durable":
        `hurah end to end, \`dispatchMany()\` of ${DISPATCH_BATCH}, durable on (two processes)`,
    },
  },
};

/** What each contender is, by workload and id. */
export const LABELS = Object.fromEntries(WORKLOADS.map((w) => [w, WORKLOAD[w].labels])) as Record<
  WorkloadName,
  Record<string, string>
>;

/** Each workload's kind of table. */
export function tableKind(workload: WorkloadName): TableKind {
  const { unit, higherIsBetter, floor } = WORKLOAD[workload];
  return floor === undefined ? { unit, higherIsBetter } : { unit, higherIsBetter, floor };
}

/** The file system's name in titles. */
export function fsLabel(fs: string): string {
  return fs === "shm" ? "/dev/shm" : fs === "disk" ? "working disk (/tmp)" : fs;
}

/** A table's title, from its workload and configuration. */
export function tableTitle(workload: WorkloadName, p: ResultTable["params"]): string {
  const head = `${fsLabel(String(p.fs))}${p.durable === undefined ? "" : ` · ${onOff(p.durable)}`}`;
  return WORKLOAD[workload].title(p, head);
}

/** A syscall count's label: the contender and, where it matters, the durability. */
export function syscallLabel(workload: "dispatch" | "drain", contender: string, durable: boolean): string {
  const mode = workload === "dispatch" || contender.startsWith("hurah") ? `, ${onOff(durable)}` : "";
  return `${LABELS[workload][contender]}${mode}`;
}

const seriesOf = (table: ResultTable, id: string) => table.series.find((series) => series.id === id);

/** The median of a series' main value (NaN when the table has no such series). */
export function medianOf(table: ResultTable, id: string): number {
  return median(seriesOf(table, id)?.values ?? []);
}

/** A series' median divided by the floor's median (NaN without a floor). */
export function ratioToFloor(table: ResultTable, id: string): number {
  return table.floor === undefined ? NaN : medianOf(table, id) / medianOf(table, table.floor);
}

/** A column of a result table: its header and its cell for one series. */
type Column = [header: string, cell: (series: Series, table: ResultTable) => string];

const contender: Column = ["contender", (s, t) => s.id === t.floor ? `${s.label} (floor)` : s.label];
const runs: Column = ["runs", (s) => String(s.values.length)];
const range = (values: number[] | undefined) => formatSummary(summarize(values ?? []));
const vsFloor = (s: Series, t: ResultTable) => formatRatio(ratioToFloor(t, s.id));

/** The columns of each workload's tables; rates (dispatch, drain, peer) share theirs. */
function columns(table: ResultTable): Column[] {
  switch (table.workload) {
    case "latency":
      return [
        contender,
        ["p50 ms: median (min–max)", (s) => range(s.values)],
        ["p99 ms: median (min–max)", (s) => range(s.extra?.p99)],
        ["max ms", (s) => formatNumber(Math.max(...(s.extra?.max ?? [NaN])))],
        ["p50 vs floor", vsFloor],
        runs,
      ];
    case "burst":
      return [
        contender,
        ["all handled after ms: median (min–max)", (s) => range(s.values)],
        ["dispatch ms meanwhile", (s) => range(s.extra?.dispatchMs ?? s.values)],
        ["vs dispatch alone", vsFloor],
        runs,
      ];
    case "memory": {
      const floor = (s: Series) => table.series.find((f) => f.id === `floor@${s.extra?.backlog?.[0]}`);
      return [
        ["process", (s) => s.id.startsWith("floor@") ? `${s.label} (floor)` : s.label],
        ["backlog", (s) => s.extra?.backlog?.[0]?.toLocaleString("en-US") ?? ""],
        ["idle MiB", (s) => formatNumber(median(s.extra?.idleMiB ?? []))],
        ["peak MiB", (s) => formatNumber(median(s.extra?.peakMiB ?? []))],
        ["above idle MiB: median (min–max)", (s) => range(s.values)],
        ["vs floor", (s) => formatRatio(floor(s) ? median(s.values) / median(floor(s)!.values) : NaN)],
        runs,
      ];
    }
    default: {
      const per = table.unit.replace(/\/s$/, "").replace(/ies$/, "y").replace(/s$/, "");
      return [
        contender,
        [`${table.unit}: median (min–max)`, (s) => range(s.values)],
        [`µs per ${per}`, (s) => formatNumber(1e6 / median(s.values))],
        ["vs floor", vsFloor],
        runs,
      ];
    }
  }
}

/** A Markdown table whose first column is left-aligned and the others (figures) right-aligned. */
function figures(headers: string[], rows: string[][]): string {
  return markdownTable(headers, rows, headers.map((_, k): Align => k === 0 ? "left" : "right"));
}

/** A table as Markdown, with its title as a heading. */
export function renderTable(table: ResultTable): string {
  const cols = columns(table);
  const rows = table.series.map((series) => cols.map(([, cell]) => cell(series, table)));
  return `#### ${table.title}\n\n${figures(cols.map(([header]) => header), rows)}\n`;
}

/** The drain's cost per task by backlog, per file system and durability: does the total grow linearly? */
export function drainScaling(tables: readonly ResultTable[]): string[] {
  const groups = Map.groupBy(
    tables.filter((table) => table.workload === "drain"),
    (table) => `${table.params.fs}/${table.params.durable}`,
  );
  return [...groups.values()].map((group) => {
    group.sort((a, b) => Number(a.params.backlog) - Number(b.params.backlog));
    const backlogs = group.map((table) => count(table.params.backlog));
    const ids = [...new Set(group.flatMap((table) => table.series.map((series) => series.id)))];
    const rows = ids.map((id) => {
      const costs = group.map((table) => 1e6 / medianOf(table, id));
      const label = group.flatMap((table) => table.series).find((series) => series.id === id)!.label;
      const growth = costs.filter(Number.isFinite).length >= 2 ? formatRatio(costs.at(-1)! / costs[0]) : "–";
      return [label, ...costs.map(formatNumber), growth];
    });
    const headers = ["contender", ...backlogs.map((n) => `µs/task at ${n}`), `${backlogs.at(-1)} vs ${backlogs[0]}`];
    const { fs, durable } = group[0].params;
    return `#### Cost per task by backlog · ${fsLabel(String(fs))} · ${onOff(durable)}\n\n${figures(headers, rows)}\n`;
  });
}

/** One target checked in one case (the configuration): the value measured as text, and whether it is met (`undefined`: not judged). */
export type TargetCheck = { target: string; case: string; measured: string; met: boolean | undefined };

const TARGETS = {
  dispatch: "dispatch ≥ 0.7× its floor",
  drain: "drain ≥ 0.7× its floor",
  latency: "trigger latency p50 ≤ 1 ms and p99 ≤ 5 ms",
  burst: "burst of 1,000 handled within 3× its dispatch time",
  memory: "100k drain within 30 MiB RSS above idle",
  scaling: "cost per task at 100k ≤ 1.5× the cost at 1k",
  peer: "end-to-end throughput ≥ 10× Deno KV",
} as const;

function describe({ params: p }: ResultTable): string {
  const parts = [onOff(p.durable)];
  if (p.listeners !== undefined) parts.push(plural(p.listeners, "listener", "listeners"));
  if (p.processes !== undefined) parts.push(plural(p.processes, "process", "processes"));
  if (p.backlog !== undefined) parts.push(`backlog ${count(p.backlog)}`);
  return parts.join(", ");
}

/** The series checked against the floor, by workload, and how a case names them. */
const FLOOR_MODES = {
  dispatch: {
    hurah: "dispatch()",
    "hurah-concurrent": `dispatch() × ${DISPATCH_BATCH} at once`,
    "hurah-batch": "dispatchMany()",
  },
  drain: { hurah: "ordered", "hurah-parallel": "parallel" },
} as const;

/** Each hurah end-to-end rate against Deno KV sending the same way: one at a time, or in batches. */
const PEER_PAIRS = [
  ["hurah-e2e", "kv-e2e"],
  ["hurah-e2e-durable", "kv-e2e"],
  ["hurah-e2e-batch", "kv-e2e-batch"],
  ["hurah-e2e-batch-durable", "kv-e2e-batch"],
];

/** Checks the issue's targets on /dev/shm, case by case. */
export function checkTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const check = (target: string, what: string, measured: string, met: boolean | undefined) =>
    checks.push({ target, case: what, measured, met });
  const of = (workload: WorkloadName) =>
    results.tables.filter((table) => table.params.fs === "shm" && table.workload === workload);
  for (const workload of ["dispatch", "drain"] as const) {
    for (const table of of(workload)) {
      for (const [id, mode] of Object.entries(FLOOR_MODES[workload])) {
        if (!seriesOf(table, id)) continue;
        const ratio = ratioToFloor(table, id);
        check(TARGETS[workload], `${mode}, ${describe(table)}`, formatRatio(ratio), ratio >= 0.7);
      }
    }
  }
  for (const table of of("latency")) {
    for (const series of table.series.filter((s) => s.id.startsWith("hurah"))) {
      const [p50, p99] = [median(series.values), median(series.extra?.p99 ?? [])];
      const measured = `p50 ${formatNumber(p50)} ms, p99 ${formatNumber(p99)} ms`;
      check(TARGETS.latency, `${series.label}, ${describe(table)}`, measured, p50 <= 1 && p99 <= 5);
    }
  }
  for (const table of of("burst")) {
    for (const series of table.series.filter((s) => s.id !== table.floor)) {
      const ratio = ratioToFloor(table, series.id);
      const measured = `${formatRatio(ratio)} (${formatNumber(median(series.values))} ms)`;
      check(TARGETS.burst, `${series.label}, ${describe(table)}`, measured, ratio <= 3);
    }
  }
  for (const table of of("memory")) {
    const largest = Math.max(...table.series.map((s) => s.extra?.backlog?.[0] ?? 0));
    for (const series of table.series.filter((s) => s.extra?.backlog?.[0] === largest && !s.id.startsWith("floor"))) {
      const above = median(series.values);
      const measured = `${formatNumber(above)} MiB (max ${formatNumber(Math.max(...series.values))})`;
      check(
        TARGETS.memory,
        `${series.label}, backlog ${count(largest)}`,
        measured,
        largest >= 100_000 ? above <= 30 : undefined,
      );
    }
  }
  const drains = of("drain").filter((table) => !table.params.durable);
  if (drains.length >= 2) {
    drains.sort((a, b) => Number(a.params.backlog) - Number(b.params.backlog));
    const [small, large] = [drains[0], drains.at(-1)!];
    for (const [id, mode] of Object.entries(FLOOR_MODES.drain)) {
      const growth = medianOf(small, id) / medianOf(large, id); // cost ratio = inverse rate ratio
      const what = `${mode}, durable off, ${count(large.params.backlog)} vs ${count(small.params.backlog)}`;
      check(
        TARGETS.scaling,
        what,
        formatRatio(growth),
        Number(large.params.backlog) >= 100_000 ? growth <= 1.5 : undefined,
      );
    }
  }
  for (const table of of("peer")) {
    for (const [id, kv] of PEER_PAIRS) {
      const [hurah, peer] = [seriesOf(table, id), seriesOf(table, kv)];
      if (!hurah || !peer) continue;
      const ratio = medianOf(table, id) / medianOf(table, kv);
      check(
        TARGETS.peer,
        `${hurah.label} vs ${peer.label}, ${count(table.params.messages)} messages`,
        formatRatio(ratio),
        ratio >= 10,
      );
    }
  }
  return checks;
}

const verdict = (met: boolean | undefined) =>
  met === undefined ? "not judged (smaller sizes)" : met ? "met" : "**missed**";

/** The targets in two tables: one line per target (worst case), then every case. */
export function renderTargets(checks: readonly TargetCheck[]): string {
  const summary = Object.values(TARGETS).map((target) => {
    const cases = checks.filter((check) => check.target === target);
    const measured = cases.filter((check) => check.met !== undefined);
    const missed = measured.filter((check) => !check.met);
    const worst = missed[0] ?? cases[0];
    return [
      target,
      measured.length === 0 ? "–" : `${measured.length - missed.length} of ${measured.length}`,
      worst ? `${worst.case}: ${worst.measured}` : "–",
      cases.length === 0
        ? "not measured in this run"
        : verdict(measured.length === 0 ? undefined : missed.length === 0),
    ];
  });
  const all = checks.map((check) => [check.target, check.case, check.measured, verdict(check.met)]);
  return markdownTable(["target (on /dev/shm)", "cases met", "first missed case (or first case)", "verdict"], summary) +
    "\n\n<details><summary>Every case</summary>\n\n" +
    markdownTable(["target", "case", "measured", "verdict"], all) + "\n\n</details>\n";
}

/** The syscall counts as a table: one row per contender, the total and the main calls. */
export function renderSyscalls(counts: readonly SyscallCount[]): string {
  if (counts.length === 0) return "_Not measured in this run (needs `strace`; full run only)._\n";
  const rows = counts.map((count) => {
    const main = Object.entries(count.calls).filter(([, n]) => n >= 0.5).sort((a, b) => b[1] - a[1])
      .map(([name, n]) => `${name} ${formatNumber(n)}`).join(", ");
    return [count.label, count.per, formatNumber(count.total), main];
  });
  const headers = ["contender", "per", "syscalls", "main calls (≥ 0.5 per operation)"];
  return markdownTable(headers, rows, ["left", "left", "right", "left"]) + "\n";
}

/** Every table of one workload, in order. */
export function renderWorkload(results: BenchResults, workload: WorkloadName): string {
  const tables = results.tables.filter((table) => table.workload === workload).map(renderTable);
  if (workload === "drain") tables.push(...drainScaling(results.tables));
  return tables.length === 0 ? "_Not measured in this run._\n" : tables.join("\n");
}

/** The text of every `<!-- keep:NAME -->` block in an earlier docs/benchmarks.md. */
export function keptBlocks(markdown: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const match of markdown.matchAll(/<!-- keep:([\w-]+) -->\n([\s\S]*?)<!-- \/keep:\1 -->/g)) {
    blocks.set(match[1], match[2]);
  }
  return blocks;
}

const TODO = "_To be written: what limits these numbers (profile, syscalls) and what would move them._";

function machineSection({ machine: m }: BenchResults): string {
  const dirty = m.git.dirty.length
    ? `, with uncommitted changes in ${m.git.dirty.map((d) => `\`${d}\``).join(", ")}`
    : "";
  return [
    `- CPU: ${m.cpuModel}, \`nproc\` ${m.nproc}`,
    `- Memory: ${m.memTotalGiB} GiB`,
    `- Kernel: Linux ${m.kernel}`,
    `- Deno ${m.deno} (V8 ${m.v8}, TypeScript ${m.typescript})`,
    ...m.fileSystems.map((fs) =>
      `- ${fsLabel(fs.fs)}: \`${fs.type}\` on \`${fs.device}\` mounted at \`${fs.mount}\` (\`${fs.options}\`)`
    ),
    `- Load average at the start: ${m.loadAverage.map((x) => x.toFixed(2)).join(", ")}`,
    `- Commit measured: \`${m.git.commit.slice(0, 12)}\`${dirty}`,
  ].join("\n") + "\n";
}

function methodSection(results: BenchResults): string {
  const plan = Object.entries(results.plan).map(([key, value]) => `  - ${key}: \`${JSON.stringify(value)}\``);
  return `- Every contender runs in the same kind of process: \`deno run -A --unstable-kv --v8-flags=--expose-gc,--max-semi-space-size=1 scripts/_bench_worker.ts\`,
  started once per configuration and kept for its rounds (garbage is collected before each trial). Start-up is never timed.
- Each configuration runs every contender several times, **interleaved**: round _r_ runs all contenders, starting one
  further each round (A B C, B C A, C A B, ...), so drift of the machine hits all alike. A warm-up round comes first and
  is thrown away. Each trial gets a fresh event root (drain: the same backlog, put back by renaming \`archive/\` to
  \`inbox/\`), and \`sync(1)\` runs between trials so one trial's writeback does not land in the next.
- Tables give the **median** and the range (min–max) over the rounds. "vs floor" is the contender's median divided by
  the floor's: for rates, 1.00× is as fast as the floor and less is slower; for times (latency, burst), more is slower.
- **Floors** are bare loops of the system calls hurah cannot avoid, in the same process kind
  (\`scripts/_bench_floors.ts\`). _Sync_ floors use Deno's synchronous calls: the cost of the system calls themselves.
  _Async_ floors use Deno's asynchronous calls, which hand each call to a thread pool.
  - dispatch floor: create + write + rename (tmp file → inbox) per delivery; durable: fsync the file before the rename
    and the inbox after it. The **protocol floor** adds what a PHP-compatible locked delivery needs at the least:
    flock (lock file kept open), read \`tracking.json\`, write task and tracking files, rename both, unlock; durable:
    four fsyncs (both files, the inbox, the listener directory), as hurah's durable mode.
  - drain floor: list the inbox once (\`Deno.readDirSync\`, the fastest listing), then read + \`JSON.parse\` + rename
    (inbox → archive) per task. The _streamed_ variant lists with \`Deno.readDir\` and keeps only the numbers: slower,
    but the leanest listing, so it is the floor of the memory workload. hurah does not
    fsync a SUCCESS move in either mode (docs/protocol.md §9), so the floor of a durable drain is the same loop; the
    _fsync_ floor (fsync each file before its rename and \`archive/\` after it) is shown for what durable moves would
    cost.
  - watcher floor (latency): \`Deno.watchFs\` on the inbox; on each event list, read, parse and rename every task.
  - parallel-mode floor: the drain floor plus the claim (rename into \`inflight/\` before reading), as parallel mode
    needs.
- Sizes and counts of this run (\`runs\` rounds per configuration unless a workload says otherwise):
${plan.join("\n")}
`;
}

/** docs/benchmarks.md from the results, keeping the text of marked blocks of the earlier file. */
export function renderReport(results: BenchResults, previous = ""): string {
  const blocks = keptBlocks(previous);
  const keep = (name: string, placeholder = TODO) =>
    `<!-- keep:${name} -->\n${blocks.get(name) ?? `${placeholder}\n`}<!-- /keep:${name} -->\n`;
  const kind = results.quick ? "quick run (`deno task bench:quick`)" : "full run (`deno task bench`)";
  const notes = results.notes.length ? "\n" + results.notes.map((note) => `- ${note}`).join("\n") + "\n" : "";
  const sections = WORKLOADS.map((w) =>
    `## ${WORKLOAD[w].section}\n\n${WORKLOAD[w].intro}\n\n${renderWorkload(results, w)}\n${keep(w)}`
  );
  return `# Benchmarks

<!-- Generated by scripts/bench.ts from docs/benchmarks.json: do not edit outside the keep blocks.
     Regenerate with \`deno task bench --from docs/benchmarks.json\`; the text between keep markers is kept. -->

Results of a ${kind} on ${results.startedAt.slice(0, 10)}, ${Math.round(results.durationS)} s. The raw results are in
[benchmarks.json](benchmarks.json). Numbers are from one machine, in one run: compare the ratios, not the absolute
values, with other machines.
${notes}
## Targets

${renderTargets(checkTargets(results))}
${keep("summary", "_To be written: a summary of what limits hurah and what would move it._")}
## Machine

${machineSection(results)}
## Method

${methodSection(results)}
${sections.join("\n")}
## System calls per operation

Counted with \`strace -f -c\` on a worker running the contender twice with different counts, on /dev/shm; the difference
divided by the difference of the counts, so start-up cancels out. Deno's asynchronous calls show up as \`futex\`,
\`epoll_wait\` and \`write\` to an eventfd: the hand-off to and from the thread pool.

${renderSyscalls(results.syscalls)}
${keep("syscalls")}
## Profiles

${keep("profiles", "_To be written: top self-time functions of the missed targets (`scripts/profile_summary.ts`)._")}
## What would move the numbers

${keep("opportunities", "_To be written: measured optimization opportunities._")}
## Reproducing

\`\`\`sh
deno task bench:quick                              # under a minute: smaller sizes, fewer rounds; writes bench-results/ only
deno task bench                                    # the full run: bench-results/<time>.json, docs/benchmarks.{json,md}
deno task bench --from docs/benchmarks.json        # regenerate this file from stored results
deno task bench --only dispatch,drain --runs 3     # some workloads (writes bench-results/ only)
deno run -A --cpu-prof --cpu-prof-dir=prof scripts/_bench_worker.ts --once '{"op":"drain","root":"...","dirs":["..."]}'
deno run -A scripts/profile_summary.ts prof/*.cpuprofile
\`\`\`
`;
}

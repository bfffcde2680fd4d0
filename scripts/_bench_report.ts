/**
 * The benchmark's results as stored (bench-results/*.json,
 * docs/benchmarks.json) and what is made of them: one Markdown table per
 * workload, the targets met or missed, and docs/benchmarks.md. Pure: the
 * same results always give the same text, so the docs can be regenerated
 * from the JSON (`deno task bench --from docs/benchmarks.json`).
 *
 * @module
 */
import type { MachineInfo } from "./_bench_harness.ts";
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

/** One contender's runs in one table. */
export interface Series {
  /** Stable id, as `hurah` or `floor`. */
  id: string;
  /** What the table shows. */
  label: string;
  /** The table's main value, one per run. */
  values: number[];
  /** Other values per run (`p99`, `idleMiB`, ...). */
  extra?: Record<string, number[]>;
}

/** One table: the contenders of one workload in one configuration. */
export interface ResultTable {
  workload: WorkloadName;
  /** Unique, as `dispatch/shm/off/l10/p4`. */
  id: string;
  title: string;
  /** The configuration: `fs`, `durable`, `listeners`, `processes`, `backlog`, ... */
  params: Record<string, string | number | boolean>;
  /** The main value's unit, as `deliveries/s` or `ms`. */
  unit: string;
  /** Rates are better high, times and sizes low. */
  higherIsBetter: boolean;
  /** The series the ratios are taken to. */
  floor?: string;
  series: Series[];
}

/** Syscalls per operation of one contender, counted by `strace -c -f`. */
export interface SyscallCount {
  id: string;
  label: string;
  /** What one operation is: `delivery`, `task`. */
  per: string;
  /** Every syscall per operation. */
  total: number;
  /** Calls per operation by syscall name (those of at least 0.05 per operation). */
  calls: Record<string, number>;
}

/** Everything one run of the bench measured. */
export interface BenchResults {
  version: 1;
  quick: boolean;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  /** How the bench was started. */
  command: string;
  machine: MachineInfo;
  /** The sizes and counts used. */
  plan: Record<string, unknown>;
  tables: ResultTable[];
  syscalls: SyscallCount[];
  /** Things skipped or worth knowing, for the report. */
  notes: string[];
}

function seriesOf(table: ResultTable, id: string): Series | undefined {
  return table.series.find((series) => series.id === id);
}

/** The median of a series' main value, or of one of its extras. */
export function medianOf(table: ResultTable, id: string, extra?: string): number {
  const series = seriesOf(table, id);
  if (series === undefined) return NaN;
  return median(extra === undefined ? series.values : series.extra?.[extra] ?? []);
}

/** A series' median divided by the floor's median (NaN without a floor). */
export function ratioToFloor(table: ResultTable, id: string, extra?: string): number {
  if (table.floor === undefined) return NaN;
  return medianOf(table, id, extra) / medianOf(table, table.floor, extra);
}

const RIGHT: Align = "right";

/** A rate table (dispatch, drain, peer): median and range, the cost per operation, the ratio to the floor. */
function rateTable(table: ResultTable): string {
  const per = table.unit.replace(/\/s$/, "").replace(/ies$/, "y").replace(/s$/, "");
  const headers = ["contender", `${table.unit}: median (min–max)`, `µs per ${per}`, "vs floor", "runs"];
  const rows = table.series.map((series) => [
    series.id === table.floor ? `${series.label} (floor)` : series.label,
    formatSummary(summarize(series.values)),
    formatNumber(1e6 / median(series.values)),
    formatRatio(ratioToFloor(table, series.id)),
    String(series.values.length),
  ]);
  return markdownTable(headers, rows, ["left", RIGHT, RIGHT, RIGHT, RIGHT]);
}

/** Trigger latency: p50, p99 and max per contender. */
function latencyTable(table: ResultTable): string {
  const headers = [
    "contender",
    "p50 ms: median (min–max)",
    "p99 ms: median (min–max)",
    "max ms",
    "p50 vs floor",
    "runs",
  ];
  const rows = table.series.map((series) => [
    series.id === table.floor ? `${series.label} (floor)` : series.label,
    formatSummary(summarize(series.values)),
    formatSummary(summarize(series.extra?.p99 ?? [])),
    formatNumber(Math.max(...(series.extra?.max ?? [NaN]))),
    formatRatio(ratioToFloor(table, series.id)),
    String(series.values.length),
  ]);
  return markdownTable(headers, rows, ["left", RIGHT, RIGHT, RIGHT, RIGHT, RIGHT]);
}

/** Burst: the time until all were handled, and the dispatch time meanwhile. */
function burstTable(table: ResultTable): string {
  const headers = [
    "contender",
    "all handled after ms: median (min–max)",
    "dispatch ms meanwhile",
    "vs dispatch alone",
    "runs",
  ];
  const rows = table.series.map((series) => [
    series.id === table.floor ? `${series.label} (floor)` : series.label,
    formatSummary(summarize(series.values)),
    formatSummary(summarize(series.extra?.dispatchMs ?? series.values)),
    formatRatio(ratioToFloor(table, series.id)),
    String(series.values.length),
  ]);
  return markdownTable(headers, rows, ["left", RIGHT, RIGHT, RIGHT, RIGHT]);
}

/** Memory: RSS idle, at its peak, and the difference, per process kind and backlog. */
function memoryTable(table: ResultTable): string {
  const headers = [
    "process",
    "backlog",
    "idle MiB",
    "peak MiB",
    "above idle MiB: median (min–max)",
    "vs floor",
    "runs",
  ];
  const rows = table.series.map((series) => {
    const backlog = series.extra?.backlog?.[0];
    const floor = table.series.find((s) => s.id === `floor@${backlog}`);
    return [
      series.id.startsWith("floor@") ? `${series.label} (floor)` : series.label,
      backlog?.toLocaleString("en-US") ?? "",
      formatNumber(median(series.extra?.idleMiB ?? [])),
      formatNumber(median(series.extra?.peakMiB ?? [])),
      formatSummary(summarize(series.values)),
      formatRatio(floor ? median(series.values) / median(floor.values) : NaN),
      String(series.values.length),
    ];
  });
  return markdownTable(headers, rows, ["left", RIGHT, RIGHT, RIGHT, RIGHT, RIGHT, RIGHT]);
}

/** A table as Markdown, with its title as a heading. */
export function renderTable(table: ResultTable): string {
  const body = table.workload === "latency"
    ? latencyTable(table)
    : table.workload === "burst"
    ? burstTable(table)
    : table.workload === "memory"
    ? memoryTable(table)
    : rateTable(table);
  return `#### ${table.title}\n\n${body}\n`;
}

/**
 * The drain's cost per task by backlog, per file system and durability: does
 * the total grow linearly (a flat cost per task)?
 */
export function drainScaling(tables: readonly ResultTable[]): string[] {
  const drains = tables.filter((table) => table.workload === "drain");
  const groups = new Map<string, ResultTable[]>();
  for (const table of drains) {
    const key = `${table.params.fs}/${table.params.durable}`;
    groups.set(key, [...groups.get(key) ?? [], table]);
  }
  const out: string[] = [];
  for (const group of groups.values()) {
    group.sort((a, b) => Number(a.params.backlog) - Number(b.params.backlog));
    const backlogs = group.map((table) => Number(table.params.backlog));
    const ids = [...new Set(group.flatMap((table) => table.series.map((series) => series.id)))];
    const rows = ids.map((id) => {
      const costs = group.map((table) => 1e6 / medianOf(table, id));
      const label = group.flatMap((table) => table.series).find((series) => series.id === id)!.label;
      const known = costs.filter(Number.isFinite);
      return [
        label,
        ...costs.map(formatNumber),
        known.length >= 2 ? formatRatio(costs[costs.length - 1] / costs[0]) : "–",
      ];
    });
    const headers = [
      "contender",
      ...backlogs.map((n) => `µs/task at ${n.toLocaleString("en-US")}`),
      `${backlogs.at(-1)!.toLocaleString("en-US")} vs ${backlogs[0].toLocaleString("en-US")}`,
    ];
    const { fs, durable } = group[0].params;
    out.push(
      `#### Cost per task by backlog · ${fsLabel(String(fs))} · durable ${durable ? "on" : "off"}\n\n` +
        markdownTable(headers, rows, ["left", ...backlogs.map(() => RIGHT), RIGHT]) + "\n",
    );
  }
  return out;
}

/** The file system's name in titles. */
export function fsLabel(fs: string): string {
  return fs === "shm" ? "/dev/shm" : fs === "disk" ? "working disk (/tmp)" : fs;
}

/** One target checked in one case. */
export interface TargetCheck {
  /** The target, as `dispatch ≥ 0.7× floor`. */
  target: string;
  /** The configuration. */
  case: string;
  /** The measured value as text. */
  measured: string;
  /** Whether it is met; `undefined` when it was not measured. */
  met: boolean | undefined;
}

const TARGETS = {
  dispatch: "dispatch ≥ 0.7× its floor",
  drain: "drain ≥ 0.7× its floor",
  latency: "trigger latency p50 ≤ 1 ms and p99 ≤ 5 ms",
  burst: "burst of 1,000 handled within 3× its dispatch time",
  memory: "100k drain within 30 MiB RSS above idle",
  scaling: "cost per task at 100k ≤ 1.5× the cost at 1k",
  peer: "end-to-end throughput ≥ 10× Deno KV",
} as const;

function describe(table: ResultTable): string {
  const p = table.params;
  const parts = [`durable ${p.durable ? "on" : "off"}`];
  if (p.listeners !== undefined) parts.push(`${p.listeners} listener${p.listeners === 1 ? "" : "s"}`);
  if (p.processes !== undefined) parts.push(`${p.processes} process${p.processes === 1 ? "" : "es"}`);
  if (p.backlog !== undefined) parts.push(`backlog ${Number(p.backlog).toLocaleString("en-US")}`);
  return parts.join(", ");
}

/** Checks the issue's targets on /dev/shm, case by case. */
export function checkTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const shm = results.tables.filter((table) => table.params.fs === "shm");
  const of = (workload: WorkloadName) => shm.filter((table) => table.workload === workload);
  for (const table of of("dispatch")) {
    const modes: Record<string, string> = {
      hurah: "dispatch()",
      "hurah-concurrent": "dispatch() × 100 at once",
      "hurah-batch": "dispatchMany()",
    };
    for (const [id, mode] of Object.entries(modes)) {
      if (!seriesOf(table, id)) continue;
      const ratio = ratioToFloor(table, id);
      checks.push({
        target: TARGETS.dispatch,
        case: `${mode}, ${describe(table)}`,
        measured: formatRatio(ratio),
        met: ratio >= 0.7,
      });
    }
  }
  for (const table of of("drain")) {
    for (const id of ["hurah", "hurah-parallel"]) {
      if (!seriesOf(table, id)) continue;
      const ratio = ratioToFloor(table, id);
      const mode = id === "hurah" ? "ordered" : "parallel";
      checks.push({
        target: TARGETS.drain,
        case: `${mode}, ${describe(table)}`,
        measured: formatRatio(ratio),
        met: ratio >= 0.7,
      });
    }
  }
  for (const table of of("latency")) {
    for (const series of table.series.filter((s) => s.id.startsWith("hurah"))) {
      const p50 = median(series.values);
      const p99 = median(series.extra?.p99 ?? []);
      checks.push({
        target: TARGETS.latency,
        case: `${series.label}, ${describe(table)}`,
        measured: `p50 ${formatNumber(p50)} ms, p99 ${formatNumber(p99)} ms`,
        met: p50 <= 1 && p99 <= 5,
      });
    }
  }
  for (const table of of("burst")) {
    for (const series of table.series.filter((s) => s.id !== table.floor)) {
      const ratio = ratioToFloor(table, series.id);
      checks.push({
        target: TARGETS.burst,
        case: `${series.label}, ${describe(table)}`,
        measured: `${formatRatio(ratio)} (${formatNumber(median(series.values))} ms)`,
        met: ratio <= 3,
      });
    }
  }
  for (const table of of("memory")) {
    const largest = Math.max(...table.series.map((s) => s.extra?.backlog?.[0] ?? 0));
    for (const series of table.series.filter((s) => s.extra?.backlog?.[0] === largest && !s.id.startsWith("floor"))) {
      const above = median(series.values);
      checks.push({
        target: TARGETS.memory,
        case: `${series.label}, backlog ${largest.toLocaleString("en-US")}`,
        measured: `${formatNumber(above)} MiB (max ${formatNumber(Math.max(...series.values))})`,
        met: largest >= 100_000 ? above <= 30 : undefined,
      });
    }
  }
  const drains = of("drain").filter((table) => !table.params.durable);
  if (drains.length >= 2) {
    drains.sort((a, b) => Number(a.params.backlog) - Number(b.params.backlog));
    const [small, large] = [drains[0], drains.at(-1)!];
    for (const id of ["hurah", "hurah-parallel"]) {
      const growth = medianOf(small, id) / medianOf(large, id); // cost ratio = inverse rate ratio
      const mode = id === "hurah" ? "ordered" : "parallel";
      checks.push({
        target: TARGETS.scaling,
        case: `${mode}, durable off, ${Number(large.params.backlog).toLocaleString("en-US")} vs ${
          Number(small.params.backlog).toLocaleString("en-US")
        }`,
        measured: formatRatio(growth),
        met: Number(large.params.backlog) >= 100_000 ? growth <= 1.5 : undefined,
      });
    }
  }
  for (const table of of("peer")) {
    // Each hurah end-to-end rate against Deno KV sending the same way: one at a time, or in batches.
    const pairs = [
      ["hurah-e2e", "kv-e2e"],
      ["hurah-e2e-durable", "kv-e2e"],
      ["hurah-e2e-batch", "kv-e2e-batch"],
      ["hurah-e2e-batch-durable", "kv-e2e-batch"],
    ];
    for (const [id, kv] of pairs) {
      if (!seriesOf(table, id) || !seriesOf(table, kv)) continue;
      const ratio = medianOf(table, id) / medianOf(table, kv);
      checks.push({
        target: TARGETS.peer,
        case: `${seriesOf(table, id)!.label} vs ${seriesOf(table, kv)!.label}, ${
          Number(table.params.messages).toLocaleString("en-US")
        } messages`,
        measured: formatRatio(ratio),
        met: ratio >= 10,
      });
    }
  }
  return checks;
}

function verdict(met: boolean | undefined): string {
  return met === undefined ? "not judged (smaller sizes)" : met ? "met" : "**missed**";
}

/** The targets in two tables: one line per target (worst case), then every case. */
export function renderTargets(checks: readonly TargetCheck[]): string {
  const summary = Object.values(TARGETS).map((target) => {
    const cases = checks.filter((check) => check.target === target);
    const measured = cases.filter((check) => check.met !== undefined);
    const met = measured.filter((check) => check.met).length;
    const missed = measured.filter((check) => !check.met);
    const worst = missed[0] ?? cases[0];
    const overall = measured.length === 0 ? undefined : missed.length === 0;
    return [
      target,
      measured.length === 0 ? "–" : `${met} of ${measured.length}`,
      worst ? `${worst.case}: ${worst.measured}` : "–",
      cases.length === 0 ? "not measured in this run" : verdict(overall),
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
  return markdownTable(["contender", "per", "syscalls", "main calls (≥ 0.5 per operation)"], rows, [
    "left",
    "left",
    RIGHT,
    "left",
  ]) + "\n";
}

/** Every table of one workload, in order. */
export function renderWorkload(results: BenchResults, workload: WorkloadName): string {
  const tables = results.tables.filter((table) => table.workload === workload).map(renderTable);
  if (workload === "drain") tables.push(...drainScaling(results.tables));
  return tables.length === 0 ? "_Not measured in this run._\n" : tables.join("\n");
}

/** A marked block whose text survives regeneration. */
function keep(name: string, blocks: Map<string, string>, placeholder: string): string {
  const text = blocks.get(name) ?? `${placeholder}\n`;
  return `<!-- keep:${name} -->\n${text}<!-- /keep:${name} -->\n`;
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

function machineSection(results: BenchResults): string {
  const m = results.machine;
  const lines = [
    `- CPU: ${m.cpuModel}, \`nproc\` ${m.nproc}`,
    `- Memory: ${m.memTotalGiB} GiB`,
    `- Kernel: Linux ${m.kernel}`,
    `- Deno ${m.deno} (V8 ${m.v8}, TypeScript ${m.typescript})`,
    ...m.fileSystems.map((fs) =>
      `- ${fsLabel(fs.fs)}: \`${fs.type}\` on \`${fs.device}\` mounted at \`${fs.mount}\` (\`${fs.options}\`)`
    ),
    `- Load average at the start: ${m.loadAverage.map((x) => x.toFixed(2)).join(", ")}`,
    `- Commit measured: \`${m.git.commit.slice(0, 12)}\`${
      m.git.dirty.length ? `, with uncommitted changes in ${m.git.dirty.map((d) => `\`${d}\``).join(", ")}` : ""
    }`,
  ];
  return lines.join("\n") + "\n";
}

function methodSection(results: BenchResults): string {
  const plan = Object.entries(results.plan).map(([key, value]) => `  - ${key}: \`${JSON.stringify(value)}\``).join(
    "\n",
  );
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
${plan}
`;
}

/** docs/benchmarks.md from the results, keeping the text of marked blocks of the earlier file. */
export function renderReport(results: BenchResults, previous = ""): string {
  const blocks = keptBlocks(previous);
  const kind = results.quick ? "quick run (`deno task bench:quick`)" : "full run (`deno task bench`)";
  const notes = results.notes.length ? "\n" + results.notes.map((note) => `- ${note}`).join("\n") + "\n" : "";
  const section = (workload: WorkloadName, title: string, intro: string) =>
    `## ${title}\n\n${intro}\n\n${renderWorkload(results, workload)}\n${keep(workload, blocks, TODO)}`;
  return `# Benchmarks

<!-- Generated by scripts/bench.ts from docs/benchmarks.json: do not edit outside the keep blocks.
     Regenerate with \`deno task bench --from docs/benchmarks.json\`; the text between keep markers is kept. -->

Results of a ${kind} on ${results.startedAt.slice(0, 10)}, ${Math.round(results.durationS)} s. The raw results are in
[benchmarks.json](benchmarks.json). Numbers are from one machine, in one run: compare the ratios, not the absolute
values, with other machines.
${notes}
## Targets

${renderTargets(checkTargets(results))}
${keep("summary", blocks, "_To be written: a summary of what limits hurah and what would move it._")}
## Machine

${machineSection(results)}
## Method

${methodSection(results)}
${
    section(
      "dispatch",
      "Dispatch",
      "Deliveries per second: one dispatcher process, or four started together (all deliveries ÷ wall time from the first start to the last end). With 10 listeners every event is delivered 10 times.",
    )
  }
${
    section(
      "drain",
      "Drain",
      "A no-op handler (returns SUCCESS) over a backlog: `runOnce` ordered, and `runOnce` with `concurrency: 4` (parallel mode) in one process. The backlog is written directly in hurah's format before the first trial.",
    )
  }
${
    section(
      "latency",
      "Trigger latency",
      "A watcher runs while another process dispatches one event every few milliseconds on a fixed schedule. The payload carries `performance.timeOrigin + performance.now()` taken just before `dispatch()`; the handler takes the same clock on entry. Percentiles are per run (nearest rank); the table shows their median over the runs, and the largest latency seen.",
    )
  }
${
    section(
      "burst",
      "Burst",
      "1,000 events dispatched at once by one process (as fast as it can) while a watcher runs: the time from the first dispatch until the watcher has handled all of them. The floor is the same 1,000 dispatches with no watcher running.",
    )
  }
${
    section(
      "memory",
      "Memory",
      "Peak RSS (`VmHWM`, reset through `/proc/self/clear_refs` just before) of a fresh process draining a backlog, against its RSS just before the drain (after loading, a pass in the same mode over an empty listener, and a garbage collection). A no-op handler, durable off, on /dev/shm.",
    )
  }
${
    section(
      "peer",
      "Peer: Deno KV queue",
      "Deno KV (`--unstable-kv`, a local SQLite file on the same file system), same machine, same run. Enqueue: sequential `enqueue()` calls. End to end: from the first `enqueue()` until `listenQueue()` has handled the last message; a local KV queue delivers only to the process that enqueued (a listener in another process on the same file received none of 1,000 messages in 30 s when this was written), so producer and consumer share one process. hurah end to end: dispatch → `watch()` handler, in two processes (as it is used) and in one.",
    )
  }
## System calls per operation

Counted with \`strace -f -c\` on a worker running the contender twice with different counts, on /dev/shm; the difference
divided by the difference of the counts, so start-up cancels out. Deno's asynchronous calls show up as \`futex\`,
\`epoll_wait\` and \`write\` to an eventfd: the hand-off to and from the thread pool.

${renderSyscalls(results.syscalls)}
${keep("syscalls", blocks, TODO)}
## Profiles

${
    keep(
      "profiles",
      blocks,
      "_To be written: top self-time functions of the missed targets (`scripts/profile_summary.ts`)._",
    )
  }
## What would move the numbers

${keep("opportunities", blocks, "_To be written: measured optimization opportunities._")}
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

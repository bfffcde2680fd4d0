/**
 * The benchmark's words: the results as stored (bench-results/*.json, docs/benchmarks.json) and the text made of
 * them: the contenders' labels, one Markdown table per configuration, the targets met or missed, and
 * docs/benchmarks.md, whose prose is the template scripts/_bench_report.md. The same results always give the same
 * text, so the docs can be regenerated from the JSON (`deno task bench --from docs/benchmarks.json`).
 * scripts/bench.ts measures; it writes no text of its own.
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
export const WORKLOADS = ["dispatch", "drain", "latency", "burst", "memory", "peer", "nats"] as const;
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

/** A workload's kind of table, its table titles and its contenders' labels by id (its section's text is in the template). */
type Workload = {
  kind: TableKind;
  /** The table title, given the file system and durability (`head`). */
  title: (p: ResultTable["params"], head: string) => string;
  labels: Record<string, string>;
};

/** Every workload's words; the labels in the order of the syscall table (most workloads measure in this order). */
const WORKLOAD: Record<WorkloadName, Workload> = {
  dispatch: {
    kind: { unit: "deliveries/s", higherIsBetter: true, floor: "floor" },
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
      "protocol-checked": "checked protocol floor: + the calls of hurah's checks beside PHP (sync calls)",
      php: "PHP original `Dispatcher::dispatch()` (../shared/php-original)",
    },
  },
  drain: {
    kind: { unit: "tasks/s", higherIsBetter: true, floor: "floor" },
    title: (p, head) => `Drain · ${head} · backlog ${count(p.backlog)}`,
    labels: {
      hurah: "hurah `runOnce` (ordered)",
      "hurah-parallel": "hurah `runOnce`, `concurrency: 4`",
      floor: "floor: read + parse + rename (sync calls)",
      "floor-stream": "floor, inbox listed as a stream (numbers only)",
      "floor-checked": "checked floor: + the calls of hurah's checks (pause, safe read, free target; sync calls)",
      "floor-async": "floor, async calls",
      "floor-async-parallel": "floor, async calls, 4 loops",
      "floor-claim": "parallel-mode floor: + claim rename into inflight/ (sync calls)",
      "floor-fsync": "fsync floor: + fsync file and archive/ (sync calls)",
      cli: "`hurah run` (cli.ts, a process of its own, startup included)",
      php: "PHP original's runner (`worker:runner`, startup included)",
    },
  },
  latency: {
    kind: { unit: "ms", higherIsBetter: false, floor: "floor" },
    title: (p, head) => `Trigger latency · ${head} · ${p.events} events, one every ${p.intervalMs} ms`,
    labels: {
      hurah: "hurah `watch()`",
      "hurah-parallel": "hurah `watch()`, `concurrency: 4`",
      floor: "floor: `Deno.watchFs` + list + read + rename",
    },
  },
  burst: {
    kind: { unit: "ms", higherIsBetter: false, floor: "alone" },
    title: (p, head) => `Burst · ${head} · ${count(p.events)} events`,
    labels: {
      alone: "dispatch alone, no watcher",
      watch: "dispatch + hurah `watch()`",
      "watch-parallel": "dispatch + hurah `watch()`, `concurrency: 4`",
    },
  },
  memory: {
    kind: { unit: "MiB", higherIsBetter: false },
    title: (_, head) => `Memory · ${head} · RSS of a fresh process draining a backlog`,
    labels: {
      floor: "floor: streamed list + read + parse + rename",
      run: "`runOnce` (ordered), as `hurah run`",
      "run-parallel": "`runOnce`, `concurrency: 4`",
      watch: "`watch()`, as `hurah watch`",
    },
  },
  peer: {
    kind: { unit: "messages/s", higherIsBetter: true, floor: "kv-e2e" },
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
  nats: {
    kind: { unit: "messages/s", higherIsBetter: true },
    title: (p) =>
      `NATS JetStream · ${p.replicas === 1 ? "1 node, R1" : `${p.replicas} nodes, R${p.replicas}`} · ${
        NATS_MODES[String(p.mode)]
      } · ${count(p.messages)} messages`,
    labels: {
      "hurah-dispatch": "hurah `Dispatcher.dispatch()`, awaited one at a time",
      "raw-publish": "raw client `js.publish()` (with `Nats-Msg-Id`), awaited one at a time",
      "hurah-dispatch-many": "hurah `Dispatcher.dispatchMany()` (up to 1,000 in flight)",
      "raw-publish-pipelined": "raw client, 1,000 `js.publish()` in flight",
      "hurah-drain": "hurah `runOnce()` (ordered: `max_ack_pending` 1)",
      "raw-fetch-one": "raw client: fetch 1, `ackAck()`, one at a time",
      "hurah-drain-parallel": "hurah `runOnce()`, `concurrency: 16`",
      "raw-fetch-batch": "raw client: fetch up to 16, `ackAck()` each, batch after batch",
    },
  },
};

/** The NATS tables' modes, as titles name them. */
const NATS_MODES: Record<string, string> = {
  one: "dispatch one at a time",
  pipelined: "pipelined dispatch",
  drain: "drain, one at a time",
  parallel: "drain, 16 at a time",
};

/** What each contender is, by workload and id. */
export const LABELS: Record<WorkloadName, Record<string, string>> = Object.fromEntries(
  WORKLOADS.map((w) => [w, WORKLOAD[w].labels]),
) as Record<WorkloadName, Record<string, string>>;

/** Each workload's kind of table. */
export function tableKind(workload: WorkloadName): TableKind {
  return WORKLOAD[workload].kind;
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
  nats: "hurah over NATS ≥ 0.8× the raw client doing the same work",
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
const PEER_PAIRS = ["e2e", "e2e-batch"].flatMap((way) =>
  ["", "-durable"].map((d) => [`hurah-${way}${d}`, `kv-${way}`])
);

/** Checks the issue's targets on /dev/shm, case by case. */
export function checkTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const check = (target: keyof typeof TARGETS, what: string, measured: string, met: boolean | undefined) =>
    checks.push({ target: TARGETS[target], case: what, measured, met });
  const of = (workload: WorkloadName) =>
    results.tables.filter((table) => table.params.fs === "shm" && table.workload === workload);
  for (const workload of ["dispatch", "drain"] as const) {
    for (const table of of(workload)) {
      for (const [id, mode] of Object.entries(FLOOR_MODES[workload])) {
        if (!seriesOf(table, id)) continue;
        const ratio = ratioToFloor(table, id);
        check(workload, `${mode}, ${describe(table)}`, formatRatio(ratio), ratio >= 0.7);
      }
    }
  }
  for (const table of of("latency")) {
    for (const series of table.series.filter((s) => s.id.startsWith("hurah"))) {
      const [p50, p99] = [median(series.values), median(series.extra?.p99 ?? [])];
      const measured = `p50 ${formatNumber(p50)} ms, p99 ${formatNumber(p99)} ms`;
      check("latency", `${series.label}, ${describe(table)}`, measured, p50 <= 1 && p99 <= 5);
    }
  }
  for (const table of of("burst")) {
    for (const series of table.series.filter((s) => s.id !== table.floor)) {
      const ratio = ratioToFloor(table, series.id);
      const measured = `${formatRatio(ratio)} (${formatNumber(median(series.values))} ms)`;
      check("burst", `${series.label}, ${describe(table)}`, measured, ratio <= 3);
    }
  }
  for (const table of of("memory")) {
    const largest = Math.max(...table.series.map((s) => s.extra?.backlog?.[0] ?? 0));
    for (const series of table.series.filter((s) => s.extra?.backlog?.[0] === largest && !s.id.startsWith("floor"))) {
      const above = median(series.values);
      const measured = `${formatNumber(above)} MiB (max ${formatNumber(Math.max(...series.values))})`;
      const met = largest >= 100_000 ? above <= 30 : undefined;
      check("memory", `${series.label}, backlog ${count(largest)}`, measured, met);
    }
  }
  const drains = of("drain").filter((table) => !table.params.durable);
  if (drains.length >= 2) {
    drains.sort((a, b) => Number(a.params.backlog) - Number(b.params.backlog));
    const [small, large] = [drains[0], drains.at(-1)!];
    for (const [id, mode] of Object.entries(FLOOR_MODES.drain)) {
      const growth = medianOf(small, id) / medianOf(large, id); // cost ratio = inverse rate ratio
      const what = `${mode}, durable off, ${count(large.params.backlog)} vs ${count(small.params.backlog)}`;
      check("scaling", what, formatRatio(growth), Number(large.params.backlog) >= 100_000 ? growth <= 1.5 : undefined);
    }
  }
  for (const table of of("peer")) {
    for (const [id, kv] of PEER_PAIRS) {
      const [hurah, peer] = [seriesOf(table, id), seriesOf(table, kv)];
      if (!hurah || !peer) continue;
      const ratio = medianOf(table, id) / medianOf(table, kv);
      check(
        "peer",
        `${hurah.label} vs ${peer.label}, ${count(table.params.messages)} messages`,
        formatRatio(ratio),
        ratio >= 10,
      );
    }
  }
  for (const table of results.tables.filter((each) => each.workload === "nats" && each.floor !== undefined)) {
    for (const series of table.series.filter((each) => each.id.startsWith("hurah"))) {
      const ratio = ratioToFloor(table, series.id);
      check(
        "nats",
        `${NATS_MODES[String(table.params.mode)]}, R${table.params.replicas}`,
        formatRatio(ratio),
        ratio >= 0.8,
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

/** A block whose text survives regeneration: its name and its text. */
const KEEP = /<!-- keep:([\w-]+) -->\n([\s\S]*?)<!-- \/keep:\1 -->/g;

/** The text of every `<!-- keep:NAME -->` block in an earlier docs/benchmarks.md. */
export function keptBlocks(markdown: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const match of markdown.matchAll(KEEP)) {
    blocks.set(match[1], match[2]);
  }
  return blocks;
}

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

/**
 * docs/benchmarks.md from the results: the template scripts/_bench_report.md with its `{{slots}}` filled in (a slot
 * alone on its line takes the line), and the text of the earlier file's keep blocks kept.
 */
export function renderReport(results: BenchResults, previous = ""): string {
  const blocks = keptBlocks(previous);
  const slots: Record<string, (arg: string) => string> = {
    kind: () => results.quick ? "quick run (`deno task bench:quick`)" : "full run (`deno task bench`)",
    date: () => results.startedAt.slice(0, 10),
    seconds: () => String(Math.round(results.durationS)),
    notes: () => results.notes.length ? "\n" + results.notes.map((note) => `- ${note}`).join("\n") + "\n" : "",
    targets: () => renderTargets(checkTargets(results)),
    machine: () => machineSection(results),
    plan: () =>
      Object.entries(results.plan).map(([key, value]) => `  - ${key}: \`${JSON.stringify(value)}\`\n`).join(""),
    tables: (workload) => renderWorkload(results, workload as WorkloadName),
    syscalls: () => renderSyscalls(results.syscalls),
  };
  const template = Deno.readTextFileSync(new URL("./_bench_report.md", import.meta.url)).replace(
    /^(?:<!--.*-->\n)+/,
    "",
  );
  return template.replace(/\{\{(\w+)(?::(\w+))?\}\}\n?/g, (_, slot: string, arg = "") => slots[slot](arg))
    .replace(
      KEEP,
      (_, name: string, text: string) => `<!-- keep:${name} -->\n${blocks.get(name) ?? text}<!-- /keep:${name} -->`,
    );
}

/** One acceptance ratio of issue 14: the numerator and denominator series, by table id, and the target. */
type Acceptance = { what: string; num: [string, string]; den: [string, string]; target: number };

/** Issue 14's acceptance ratios on one file system (`shm` or `disk`), from the tables of one run. */
function acceptanceOn(fs: string): Acceptance[] {
  const [one, four] = [`dispatch/${fs}/off/l1/p1`, `dispatch/${fs}/off/l1/p4`];
  const [drain, peer] = [`drain/${fs}/off/10000`, `peer/${fs}`];
  const ratio = (what: string, num: [string, string], den: [string, string], target = NaN): Acceptance => ({
    what,
    num,
    den,
    target,
  });
  const checked = "protocol-checked";
  return [
    ratio("dispatch(), 1 listener, durable off vs the protocol floor", [one, "hurah"], [one, "protocol"], 0.8),
    ratio("dispatch(), 1 listener, durable off vs the checked protocol floor", [one, "hurah"], [one, checked]),
    ratio("the checked protocol floor vs the protocol floor", [one, checked], [one, "protocol"]),
    ratio("dispatch(), 1 listener, durable off vs the PHP original", [one, "hurah"], [one, "php"], 2),
    ratio("the protocol floor vs the PHP original", [one, "protocol"], [one, "php"]),
    ratio("4 processes vs 1 process, dispatch(), 1 listener, durable off", [four, "hurah"], [one, "hurah"], 1),
    ratio("4 processes: dispatch() vs the protocol floor with 4 processes", [four, "hurah"], [four, "protocol"], 0.8),
    ratio("4 processes: dispatch() vs the checked protocol floor with 4 processes", [four, "hurah"], [four, checked]),
    ratio("4 processes: the checked protocol floor vs its 1 process", [four, checked], [one, checked]),
    ratio("4 processes: the protocol floor vs its 1 process", [four, "protocol"], [one, "protocol"]),
    ratio("4 processes: PHP vs its 1 process", [four, "php"], [one, "php"]),
    ratio(
      "durable end to end, one message at a time, vs Deno KV",
      [peer, "hurah-e2e-durable"],
      [peer, "kv-e2e"],
      fs === "shm" ? 1 : NaN,
    ),
    ratio("`runOnce` drain of 10,000, durable off, vs the floor", [drain, "hurah"], [drain, "floor"], 0.7),
    ratio("`runOnce` drain of 10,000, durable off, vs the checked floor", [drain, "hurah"], [drain, "floor-checked"]),
    ratio("the checked drain floor vs the floor", [drain, "floor-checked"], [drain, "floor"]),
    ratio("`hurah run` drain of 10,000, durable off, vs the floor", [drain, "cli"], [drain, "floor"], 0.7),
    ratio("`hurah run` drain of 10,000, durable off, vs the PHP runner", [drain, "cli"], [drain, "php"], 3),
  ];
}

/** Issue 14's acceptance table: each ratio on /dev/shm and on the working disk, with its target. */
export function renderAcceptance(results: BenchResults): string {
  const median = (table: string, id: string) => {
    const found = results.tables.find((t) => t.id === table);
    return found === undefined ? NaN : medianOf(found, id);
  };
  const rows = acceptanceOn("shm").map((row, k) => {
    const onDisk = acceptanceOn("disk")[k];
    const ratio = (a: Acceptance) => median(...a.num) / median(...a.den);
    const [shm, disk] = [ratio(row), ratio(onDisk)];
    const verdict = (r: number, target: number) =>
      Number.isNaN(target) || Number.isNaN(r) ? "–" : r >= target ? "met" : "**missed**";
    return [
      row.what,
      Number.isNaN(row.target) ? "–" : `≥ ${row.target}×`,
      formatRatio(shm),
      verdict(shm, row.target),
      formatRatio(disk),
      verdict(disk, onDisk.target),
    ];
  });
  return markdownTable(["ratio (issue 14)", "target", "/dev/shm", "", "working disk", ""], rows) + "\n";
}

/**
 * The benchmark's arithmetic and text (scripts/_bench_stats.ts,
 * scripts/_bench_report.ts): no timing is asserted anywhere. It also
 * type-checks every bench script, which `deno task check` leaves to it.
 */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  formatNumber,
  formatRatio,
  formatSummary,
  markdownTable,
  median,
  parseStraceSummary,
  percentile,
  perSecond,
  roundOrder,
  summarize,
} from "../../scripts/_bench_stats.ts";
import {
  type BenchResults,
  checkTargets,
  drainScaling,
  keptBlocks,
  LABELS,
  ratioToFloor,
  renderReport,
  renderTable,
  type ResultTable,
  syscallLabel,
  tableTitle,
} from "../../scripts/_bench_report.ts";
import { interleave, mountOf } from "../../scripts/_bench_harness.ts";

Deno.test("the bench scripts (scripts/bench.ts, scripts/_bench_*.ts) type-check", async () => {
  const dir = new URL("../../scripts/", import.meta.url);
  const scripts = [...Deno.readDirSync(dir)].map((entry) => entry.name)
    .filter((name) => name === "bench.ts" || (name.startsWith("_bench_") && name.endsWith(".ts"))).sort();
  ok(scripts.length >= 6, `found ${scripts}`);
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", ...scripts],
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).output();
  equal(code, 0, new TextDecoder().decode(stderr));
});

Deno.test("median() takes the middle value, or the mean of the middle two", () => {
  const cases: [number[], number][] = [
    [[3], 3],
    [[5, 1, 3], 3],
    [[4, 1, 3, 2], 2.5],
    [[10, 10, 1, 1000], 10],
  ];
  for (const [values, expected] of cases) equal(median(values), expected, `median(${values})`);
  ok(Number.isNaN(median([])));
});

Deno.test("median() does not reorder its input", () => {
  const values = [3, 1, 2];
  median(values);
  deepEqual(values, [3, 1, 2]);
});

Deno.test("percentile() uses the nearest rank", () => {
  const hundred = Array.from({ length: 100 }, (_, k) => 100 - k); // 100 … 1
  const cases: [number[], number, number][] = [
    [hundred, 50, 50],
    [hundred, 99, 99],
    [hundred, 100, 100],
    [hundred, 0, 1],
    [[7], 99, 7],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4], 51, 3],
    [Array.from({ length: 300 }, (_, k) => k + 1), 99, 297],
  ];
  for (const [values, p, expected] of cases) equal(percentile(values, p), expected, `p${p} of ${values.length}`);
  ok(Number.isNaN(percentile([], 50)));
  throws(() => percentile([1], 101), RangeError);
});

Deno.test("summarize() gives count, median and range", () => {
  deepEqual(summarize([4, 2, 9]), { n: 3, median: 4, min: 2, max: 9 });
  equal(summarize([]).n, 0);
});

Deno.test("perSecond() turns a count and milliseconds into a rate", () => {
  equal(perSecond(500, 250), 2000);
  ok(Number.isNaN(perSecond(1, 0)));
});

Deno.test("roundOrder() starts each round one contender further", () => {
  const contenders = ["a", "b", "c"];
  deepEqual(roundOrder(contenders, 0), ["a", "b", "c"]);
  deepEqual(roundOrder(contenders, 1), ["b", "c", "a"]);
  deepEqual(roundOrder(contenders, 2), ["c", "a", "b"]);
  deepEqual(roundOrder(contenders, 3), ["a", "b", "c"]);
  deepEqual(roundOrder([], 5), []);
});

Deno.test("interleave() runs a warm-up round, then every contender once per round", async () => {
  const calls: string[] = [];
  const samples = await interleave(["a", "b"], { runs: 3, warmup: true }, (contender, round) => {
    calls.push(`${round.warmup ? "w" : round.round}${contender}`);
    return Promise.resolve(contender === "a" ? 1 : 2);
  });
  deepEqual(calls, ["wa", "wb", "0a", "0b", "1b", "1a", "2a", "2b"]);
  deepEqual(samples.get("a"), [1, 1, 1]);
  deepEqual(samples.get("b"), [2, 2, 2]);
});

Deno.test("formatNumber() keeps three significant digits and separates thousands", () => {
  const cases: [number, string][] = [
    [123_456.7, "123,457"],
    [1234, "1,234"],
    [123.4, "123"],
    [12.34, "12.3"],
    [1.234, "1.23"],
    [0.1234, "0.12"],
    [0, "0"],
    [NaN, "–"],
    [Infinity, "–"],
  ];
  for (const [value, expected] of cases) equal(formatNumber(value), expected);
  equal(formatRatio(0.734), "0.73×");
  equal(formatRatio(12.34), "12.3×");
  equal(formatSummary(summarize([1000, 2000, 3000])), "2,000 (1,000–3,000)");
  equal(formatSummary(summarize([5])), "5.00");
});

Deno.test("markdownTable() pads and aligns columns as deno fmt does", () => {
  const table = markdownTable(["name", "n"], [["a|b", "1"], ["long name", "1,234"]], ["left", "right"]);
  equal(
    table,
    [
      "| name      |     n |",
      "| --------- | ----: |",
      "| a\\|b      |     1 |",
      "| long name | 1,234 |",
    ].join("\n"),
  );
});

Deno.test("parseStraceSummary() reads the calls column of strace -c", () => {
  const text = `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 40.00    0.000400          20        20           futex
 30.00    0.000300          10        30         5 openat
  0.00    0.000000           0         1           rename
------ ----------- ----------- --------- --------- ----------------
100.00    0.001000                    51         5 total
`;
  deepEqual(parseStraceSummary(text), new Map([["futex", 20], ["openat", 30], ["rename", 1]]));
});

Deno.test("mountOf() finds the longest mount point holding a path", () => {
  const mounts = "/dev/vda / ext4 rw,relatime 0 0\ntmpfs /dev/shm tmpfs rw,nosuid 0 0\ntmpfs /dev/shmx tmpfs rw 0 0\n";
  equal(mountOf("/dev/shm", mounts).type, "tmpfs");
  equal(mountOf("/tmp", mounts).type, "ext4");
  equal(mountOf("/dev/shm/a", mounts).mount, "/dev/shm");
});

function table(workload: ResultTable["workload"], params: ResultTable["params"], values: Record<string, number[]>) {
  return {
    workload,
    id: `${workload}/${JSON.stringify(params)}`,
    title: `${workload} ${JSON.stringify(params)}`,
    params,
    unit: "tasks/s",
    higherIsBetter: true,
    floor: "floor",
    series: Object.entries(values).map(([id, v]) => ({ id, label: id, values: v })),
  } satisfies ResultTable;
}

function results(tables: ResultTable[]): BenchResults {
  return {
    version: 1,
    quick: false,
    startedAt: "2026-11-29T05:00:00.000Z",
    finishedAt: "2026-11-29T05:10:00.000Z",
    durationS: 600,
    command: "deno task bench",
    machine: {
      nproc: 2,
      memTotalGiB: 24,
      cpuModel: "Test CPU",
      kernel: "6.0",
      deno: "2.9.6",
      v8: "15",
      typescript: "6",
      fileSystems: [],
      git: { commit: "0123456789abcdef", dirty: [] },
      loadAverage: [0, 0, 0],
    },
    plan: {},
    tables,
    syscalls: [],
    notes: [],
  };
}

Deno.test("ratioToFloor() divides medians; renderTable() marks the floor", () => {
  const t = table("dispatch", { fs: "shm", durable: false }, { hurah: [70, 80, 90], floor: [100, 100, 100] });
  equal(ratioToFloor(t, "hurah"), 0.8);
  const text = renderTable(t);
  ok(text.includes("| floor (floor)"), text);
  ok(text.includes("0.80×"), text);
});

Deno.test("checkTargets() judges the targets on /dev/shm only", () => {
  const checks = checkTargets(results([
    table("dispatch", { fs: "shm", durable: false }, { hurah: [80], floor: [100] }),
    table("dispatch", { fs: "disk", durable: false }, { hurah: [10], floor: [100] }),
    table("drain", { fs: "shm", durable: false, backlog: 1000 }, { hurah: [100], floor: [100] }),
    table("drain", { fs: "shm", durable: false, backlog: 100_000 }, { hurah: [50], floor: [100] }),
  ]));
  const dispatch = checks.filter((check) => check.target.startsWith("dispatch"));
  deepEqual(dispatch.map((check) => check.met), [true]);
  const scaling = checks.find((check) => check.target.startsWith("cost per task"));
  equal(scaling?.measured, "2.00×"); // half the rate: twice the cost per task
  equal(scaling?.met, false);
});

Deno.test("drainScaling() gives the cost per task by backlog", () => {
  const [text] = drainScaling([
    table("drain", { fs: "shm", durable: false, backlog: 1000 }, { hurah: [100_000], floor: [200_000] }),
    table("drain", { fs: "shm", durable: false, backlog: 10_000 }, { hurah: [50_000], floor: [200_000] }),
  ]);
  ok(text.includes("| hurah     |             10.0 |              20.0 |           2.00× |"), text);
});

Deno.test("renderReport() keeps the text of keep blocks", () => {
  const first = renderReport(results([]));
  ok(first.includes("<!-- keep:dispatch -->\n_To be written"));
  const edited = first.replace(
    /<!-- keep:dispatch -->\n[\s\S]*?<!-- \/keep:dispatch -->/,
    "<!-- keep:dispatch -->\nThe lock is the limit.\n<!-- /keep:dispatch -->",
  );
  equal(keptBlocks(edited).get("dispatch"), "The lock is the limit.\n");
  const second = renderReport(results([]), edited);
  ok(second.includes("<!-- keep:dispatch -->\nThe lock is the limit.\n<!-- /keep:dispatch -->"));
});

Deno.test("tableTitle(), LABELS and syscallLabel() give the titles and labels of the stored full run", () => {
  const stored: BenchResults = JSON.parse(
    Deno.readTextFileSync(new URL("../../docs/benchmarks.json", import.meta.url)),
  );
  for (const t of stored.tables) {
    equal(tableTitle(t.workload, t.params), t.title);
    for (const s of t.series) equal(LABELS[t.workload][s.id.split("@")[0]], s.label, `${t.id} ${s.id}`);
  }
  for (const count of stored.syscalls) {
    const [workload, contender, durable] = count.id.split("/");
    equal(syscallLabel(workload as "dispatch" | "drain", contender, durable === "on"), count.label);
  }
});

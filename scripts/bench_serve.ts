/**
 * The dashboard at scale, `deno task bench:serve`: builds event roots on
 * /dev/shm (500 listeners × 2,000 pending tasks, then one listener with
 * 1,000,000), and reports, as the median of a few runs:
 *
 * - scan: one `status` scan of the root by the dashboard's scanner (what runs
 *   once per interval, whatever the number of open pages), cold (a new
 *   dashboard lists every directory) and warm (the directories unchanged
 *   since the last scan are not listed again);
 * - overview: rendering the overview page from the last scan;
 * - `/metrics`: rendering the text format from the last scan;
 * - a page load: `GET /` and `GET /metrics` through the request handler
 *   (they answer from the last scan, and start the next one in the background
 *   when it is older than the interval), and the first `GET /metrics` of a
 *   dashboard that has not scanned yet (the scan included);
 * - the listener page (one listener's first pending tasks and errors).
 *
 * A benchmark, not a test: nothing fails on a slow machine. The trees are
 * removed at the end. Needs `-A`.
 *
 *     deno task bench:serve            # both trees, 5 runs each
 *     deno task bench:serve --quick    # 50 × 200 and 1 × 100,000
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeTask, formatDelivery, listenerPath, runOnce, Task } from "../mod.ts";
import { encodeTracking } from "../src/protocol/task_file.ts";
import { connect } from "../src/backend/connect.ts";
import { Dashboard } from "../src/serve/server.ts";
import { overviewPage } from "../src/serve/_pages.ts";
import { renderMetrics } from "../src/serve/metrics.ts";
import { SETTLED_MS } from "../src/backend/file/_listings.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { quick: { type: "boolean", default: false }, runs: { type: "string", default: "5" } },
});
const runs = Number(values.runs);

/** Makes `listeners` listeners of one task each of `tasks` pending tasks, writing the task files directly. */
async function buildTree(root: string, listeners: number, tasks: number): Promise<string[]> {
  const ids: string[] = [];
  const delivery = formatDelivery(new Date(Date.now() - 3_600_000));
  for (let k = 0; k < listeners; k++) {
    const eventType = `bench/type${String(k).padStart(3, "0")}`;
    await runOnce(root, { name: "worker", eventType, handler: () => Task.SUCCESS, durable: false });
    const dir = join(root, listenerPath("worker", eventType));
    for (let n = 1; n <= tasks; n++) {
      const record = { payload: { order: n, sku: `SKU-${n % 997}` }, sequence: n, count: n, delivery };
      Deno.writeTextFileSync(join(dir, "inbox", `${n}.json`), encodeTask(record));
    }
    Deno.writeTextFileSync(
      join(dir, "tracking.json"),
      encodeTracking({ sequence: tasks, count: tasks, first: delivery, last: delivery }),
    );
    ids.push(`${eventType}/worker`);
  }
  return ids;
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function time(fn: () => unknown): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/** Measures one tree; returns a Markdown table row per measure. */
async function measure(label: string, listeners: number, tasks: number): Promise<string[]> {
  const root = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "hurah_bench_serve_" });
  try {
    const building = performance.now();
    const ids = await buildTree(root, listeners, tasks);
    console.error(`${label}: built ${listeners * tasks} task files in ${Math.round(performance.now() - building)} ms`);
    const operations = connect({ root }).operations;
    const dashboard = new Dashboard({ operations, root, intervalMs: 60_000 });
    const frame = { root, readOnly: false, csrf: "x", session: false };
    // Until its directories have been unchanged for SETTLED_MS, a scan lists them again (see _listings.ts); the
    // first scan of the dashboard measured warm lists them all.
    await new Promise((resolve) => setTimeout(resolve, SETTLED_MS));
    console.error(`${label}: first scan ${Math.round(await time(() => dashboard.scanner.scan()))} ms`);
    const results: Record<string, number[]> = {
      "scan (cold: a new dashboard)": [],
      "scan (warm: nothing changed)": [],
      overview: [],
      metrics: [],
      "GET / (recent scan)": [],
      "GET /metrics (recent scan)": [],
      "GET /metrics (first, scan included)": [],
      "GET /listener/<first>": [],
    };
    for (let run = 0; run < runs; run++) {
      const cold = new Dashboard({ operations: connect({ root }).operations, root, intervalMs: 60_000 });
      results["scan (cold: a new dashboard)"].push(await time(() => cold.scanner.scan()));
      await cold.close();
      results["scan (warm: nothing changed)"].push(await time(() => dashboard.scanner.scan()));
      const snapshot = await dashboard.scanner.current();
      results.overview.push(await time(() => overviewPage(frame, snapshot)));
      results.metrics.push(await time(() => renderMetrics(snapshot)));
      results["GET / (recent scan)"].push(
        await time(async () => await (await dashboard.handle(new Request("http://127.0.0.1/"))).text()),
      );
      results["GET /metrics (recent scan)"].push(
        await time(async () => await (await dashboard.handle(new Request("http://127.0.0.1/metrics"))).text()),
      );
      // The first scrape of a dashboard that has not scanned yet: the handler scans first.
      const stale = new Dashboard({ operations: connect({ root }).operations, root, intervalMs: 60_000 });
      results["GET /metrics (first, scan included)"].push(
        await time(async () => await (await stale.handle(new Request("http://127.0.0.1/metrics"))).text()),
      );
      await stale.close();
      results["GET /listener/<first>"].push(
        await time(async () =>
          await (await dashboard.handle(new Request(`http://127.0.0.1/listener/${ids[0]}`))).text()
        ),
      );
    }
    await dashboard.close();
    return Object.entries(results).map(([name, samples]) =>
      `| ${label} | ${name} | ${median(samples).toFixed(1)} | ${Math.min(...samples).toFixed(1)} | ${
        Math.max(...samples).toFixed(1)
      } |`
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const trees: [string, number, number][] = values.quick
  ? [["50 × 200", 50, 200], ["1 × 100,000", 1, 100_000]]
  : [["500 × 2,000", 500, 2000], ["1 × 1,000,000", 1, 1_000_000]];
const rows: string[] = [];
for (const [label, listeners, tasks] of trees) rows.push(...await measure(label, listeners, tasks));
console.log(
  `hurah serve, ${runs} runs each, milliseconds (Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores)\n`,
);
console.log("| tree (listeners × pending tasks) | measure | median | min | max |");
console.log("| --- | --- | ---: | ---: | ---: |");
for (const row of rows) console.log(row);

/** `/metrics`: the text format 0.0.4 (a parser here, and `promtool check metrics` where installed), matching `hurah status`. */
import { deepEqual, equal, ok } from "node:assert/strict";
import { Dispatcher, runOnce, Task } from "../../mod.ts";
import { connect } from "../../src/backend/connect.ts";
import type { Operations } from "../../src/backend/operations.ts";
import type { ListenerStatus } from "../../src/protocol/listener_status.ts";
import { escapeLabel, renderMetrics } from "../../src/serve/metrics.ts";
import { Scanner } from "../../src/serve/scanner.ts";
import { buildOpsRoot } from "../_ops_root.ts";
import { runCli, tempRoot } from "../_helpers.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses the text format 0.0.4 strictly: `# HELP` and `# TYPE` once per family, before its samples; sample lines as
 * `name{label="value",...} number`, label values with only `\\`, `\"` and `\n` escapes; a histogram's buckets
 * cumulative, ending in `le="+Inf"` equal to its `_count`. Throws on anything else.
 */
function parseMetrics(text: string): { types: Map<string, string>; samples: Sample[] } {
  ok(text.endsWith("\n"), "the exposition ends with a line feed");
  const types = new Map<string, string>();
  const helped = new Set<string>();
  const samples: Sample[] = [];
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      ok(NAME.test(name), `metric name ${name}`);
      if (kind === "HELP") {
        ok(!helped.has(name), `one HELP for ${name}`);
        helped.add(name);
      } else {
        ok(!types.has(name), `one TYPE for ${name}`);
        ok(["counter", "gauge", "histogram", "summary", "untyped"].includes(rest), `type ${rest}`);
        ok(!samples.some((sample) => familyOf(sample.name, types) === name), `TYPE of ${name} before its samples`);
        types.set(name, rest);
      }
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    ok(match, `a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    let rest = match[2] ?? "";
    while (rest !== "") {
      const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
      ok(label, `labels of ${JSON.stringify(line)}`);
      labels[label[1]] = label[2].replace(/\\(.)/g, (_, char) => (char === "n" ? "\n" : char));
      rest = rest.slice(label[0].length);
    }
    ok(/^([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]Inf|NaN)$/.test(match[3]), `value ${match[3]}`);
    const value = match[3] === "+Inf" ? Infinity : match[3] === "-Inf" ? -Infinity : Number(match[3]);
    ok(familyOf(match[1], types) !== undefined, `a TYPE for ${match[1]}`);
    samples.push({ name: match[1], labels, value });
  }
  for (const [name, type] of types) {
    if (type !== "histogram") continue;
    const series = new Map<string, Sample[]>();
    for (const sample of samples.filter((s) => s.name === `${name}_bucket`)) {
      const { le: _, ...rest } = sample.labels;
      const key = JSON.stringify(rest);
      series.set(key, [...series.get(key) ?? [], sample]);
    }
    for (const [key, buckets] of series) {
      for (let k = 1; k < buckets.length; k++) ok(buckets[k].value >= buckets[k - 1].value, `${name} cumulative`);
      equal(buckets.at(-1)!.labels.le, "+Inf");
      const count = samples.find((s) => s.name === `${name}_count` && JSON.stringify(s.labels) === key);
      equal(count?.value, buckets.at(-1)!.value, `${name}_count equals the +Inf bucket`);
    }
  }
  return { types, samples };
}

function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return types.get(base) === "histogram" ? base : undefined;
}

function value(
  samples: Sample[],
  name: string,
  listener: string,
  extra: Record<string, string> = {},
): number | undefined {
  return samples.find((sample) =>
    sample.name === name && sample.labels.listener === listener &&
    Object.entries(extra).every(([key, wanted]) => sample.labels[key] === wanted)
  )?.value;
}

Deno.test("parseMetrics() refuses what the format does not allow", () => {
  for (const bad of ["x 1", '# TYPE x gauge\nx{a="b\\t"} 1\n', "# TYPE x gauge\nx 1 2 3\n", "# TYPE x nope\n"]) {
    let threw = false;
    try {
      parseMetrics(bad.endsWith("\n") ? bad : bad + "\n");
    } catch {
      threw = true;
    }
    ok(threw, JSON.stringify(bad));
  }
  equal(escapeLabel('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
});

Deno.test("renderMetrics() values match hurah status --json on the same root, in the text format 0.0.4", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  const scanner = new Scanner(connect({ root: root.path }).operations);
  const text = renderMetrics(await scanner.scan());
  const { types, samples } = parseMetrics(text);
  equal(types.get("hurah_task_latency_seconds"), "histogram");
  const result = await runCli(["status", "--json", "--root", root.path]);
  equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as { listeners: Record<string, unknown>[] };
  equal(report.listeners.length, 2);
  for (const listener of report.listeners) {
    const id = listener.listener as string;
    const eventType = samples.find((s) => s.labels.listener === id)?.labels.event_type;
    equal(eventType, listener.eventType);
    equal(value(samples, "hurah_pending_tasks", id), listener.pending, `${id} pending`);
    equal(value(samples, "hurah_in_flight_tasks", id), (listener.inFlight as unknown[]).length, `${id} in flight`);
    equal(value(samples, "hurah_error_tasks", id), listener.errors, `${id} errors`);
    equal(value(samples, "hurah_quarantined_files", id), listener.quarantined, `${id} quarantined`);
    equal(value(samples, "hurah_archived_tasks", id), listener.archived, `${id} archived`);
    equal(value(samples, "hurah_failing", id), listener.state === "failing" ? 1 : 0, `${id} failing`);
    equal(value(samples, "hurah_dispatches_total", id), listener.lastSequence, `${id} dispatches`);
    const age = value(samples, "hurah_oldest_pending_age_seconds", id)!;
    ok(Math.abs(age * 1000 - (listener.oldestPendingAgeMs as number)) < 5000, `${id} oldest age`);
  }
  await scanner.close();
});

Deno.test("Scanner counts the tasks handled between two scans and observes their latencies", async () => {
  await using root = await tempRoot();
  const listener = { name: "counter", eventType: "order/paid", durable: false, handler: () => Task.SUCCESS };
  await runOnce(root.path, listener);
  const dispatcher = new Dispatcher(root.path, { durable: false });
  await dispatcher.dispatch("order/paid", { n: 1 });
  const scanner = new Scanner(connect({ root: root.path }).operations, { intervalMs: 100 });
  await scanner.scan();
  for (let n = 2; n <= 4; n++) await dispatcher.dispatch("order/paid", { n });
  await runOnce(root.path, listener);
  await runOnce(root.path, { ...listener, handler: () => Task.INVALID }); // nothing left: no error
  await dispatcher.dispatch("order/paid", { n: 5 });
  await runOnce(root.path, { ...listener, handler: () => Task.INVALID });
  await scanner.scan();
  const snapshot = await scanner.scan(); // what two scans in a row agree on counts
  const counters = snapshot.counters.get("order/paid/counter")!;
  deepEqual(counters.handled, { success: 4, error: 1 });
  equal(counters.latencyCount, 4);
  equal(counters.buckets.reduce((a, b) => a + b, 0), 4);
  equal(snapshot.rates.get("order/paid/counter")?.length, 2);
  const { samples } = parseMetrics(renderMetrics(snapshot));
  equal(value(samples, "hurah_tasks_handled_total", "order/paid/counter", { result: "success" }), 4);
  equal(value(samples, "hurah_tasks_handled_total", "order/paid/counter", { result: "error" }), 1);
  equal(value(samples, "hurah_task_latency_seconds_count", "order/paid/counter"), 4);
  equal(value(samples, "hurah_task_latency_seconds_bucket", "order/paid/counter", { le: "+Inf" }), 4);
  await scanner.close();
});

Deno.test("renderMetrics() passes promtool check metrics", async (t) => {
  const promtool = await Deno.lstat("/usr/bin/promtool").then(() => "/usr/bin/promtool", () => undefined);
  if (promtool === undefined) {
    console.log("skipped: no promtool (apt-get install prometheus)");
    return;
  }
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  const scanner = new Scanner(connect({ root: root.path }).operations);
  const text = renderMetrics(await scanner.scan());
  await scanner.close();
  await t.step("promtool check metrics", async () => {
    const child = new Deno.Command(promtool, {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    })
      .spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
    const output = await child.output();
    const said = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    equal(output.code, 0, said);
  });
});

Deno.test("Scanner.current() answers from the last scan and starts the next one in the background when it is old", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  let clock = Date.now();
  const scanner = new Scanner(connect({ root: root.path }).operations, { intervalMs: 1000, now: () => clock });
  equal((await scanner.current()).generation, 1, "the first caller waits for the first scan");
  equal((await scanner.current()).generation, 1, "a recent scan is reused");
  clock += 5000;
  equal((await scanner.current()).generation, 1, "an old scan is answered at once...");
  equal((await scanner.scan()).generation, 2, "...while the next one runs (scan() joins it)");
  equal((await scanner.current()).generation, 2);
  await scanner.close();
});

Deno.test("Scanner counts each task that left the queue once, whatever the order a dispatch's files are seen in", async () => {
  // (last sequence, pending, errors) as successive scans see them: tracking.json ahead of the task file, then behind,
  // a requeue of 2 (pending up, errors down), and the requeued tasks handled again.
  const scans: [number, number, number][] = [
    [10, 10, 0],
    [11, 10, 0],
    [11, 11, 0],
    [11, 5, 1],
    [11, 7, 0],
    [11, 0, 1],
    [11, 0, 1],
  ];
  let scan = 0;
  const operations = {
    status: () => {
      const [lastSequence, pending, errors] = scans[scan++];
      const listener = {
        listener: "a/l",
        eventType: "a",
        pending,
        inFlight: [],
        errors,
        archived: 0,
        lastSequence,
        failingAt: null,
        state: "ok",
      } as unknown as ListenerStatus;
      return Promise.resolve({
        root: "/r",
        time: new Date(Date.now() + scan * 1000).toISOString(),
        listeners: [listener],
      });
    },
  } as unknown as Operations;
  const scanner = new Scanner(operations);
  let snapshot;
  for (let k = 0; k < scans.length; k++) snapshot = await scanner.scan();
  // 11 dispatched, 0 left: 11 handled once each; 2 errors seen grow error/ (the first, and the requeued one's again).
  deepEqual(snapshot!.counters.get("a/l")!.handled, { success: 9, error: 2 });
  await scanner.close();
});

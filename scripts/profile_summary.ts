/**
 * Summarizes V8 CPU profiles (`deno run --cpu-prof --cpu-prof-dir=DIR ...`):
 * the functions with the most self time, with their total (inclusive) time,
 * and the self time by area (hurah's src/, the bench scripts, Deno's runtime,
 * garbage collection, idle).
 *
 *     deno run --allow-read scripts/profile_summary.ts [--top N] [--match TEXT] prof/*.cpuprofile
 *
 * Several files are added together. `--match` keeps only the samples whose
 * stack holds a function whose name or file contains TEXT (as `runOnce`), so
 * that a profile of a worker that ran several things can be narrowed to one.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** A V8 CPU profile, as `--cpu-prof` writes it. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Self and total time of one function, in microseconds. */
export interface FunctionTime {
  key: string;
  name: string;
  location: string;
  area: string;
  selfUs: number;
  totalUs: number;
}

/** Where a function's code lives, for the summary by area. */
export function areaOf(name: string, url: string): string {
  if (name === "(garbage collector)") return "garbage collector";
  if (name === "(idle)") return "idle";
  if (name === "(program)" || name === "(root)") return "V8 / native (program)";
  if (name.startsWith("op_")) return "Deno ops (the system calls and their bindings)";
  if (url.includes("/src/")) return "hurah src/";
  if (url.includes("/scripts/")) return "bench scripts";
  if (url.startsWith("ext:") || url.startsWith("node:")) return "Deno runtime (ext:, node:)";
  if (url === "") return "V8 / native (builtins)";
  return "other";
}

function shortUrl(url: string): string {
  const at = url.search(/\/(src|scripts|tests)\//);
  return at >= 0 ? url.slice(at + 1) : url;
}

/** Self and total time per function over one or more profiles, most self time first. */
export function summarizeProfiles(
  profiles: CpuProfile[],
  match?: string,
): { functions: FunctionTime[]; totalUs: number } {
  const times = new Map<string, FunctionTime>();
  let totalUs = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const parent = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
    const keyOf = (id: number) => {
      const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
      const name = functionName || "(anonymous)";
      const location = url ? `${shortUrl(url)}:${lineNumber + 1}` : "";
      return { key: `${name} ${location}`, name, location, area: areaOf(name, url) };
    };
    for (let i = 0; i < profile.samples.length; i++) {
      const dt = profile.timeDeltas[i + 1] ?? 0;
      const stack: number[] = [];
      for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parent.get(id)) stack.push(id);
      const frames = stack.map(keyOf);
      if (match && !frames.some((frame) => frame.key.includes(match))) continue;
      totalUs += dt;
      const seen = new Set<string>();
      for (const [depth, frame] of frames.entries()) {
        let time = times.get(frame.key);
        if (time === undefined) {
          time = { ...frame, selfUs: 0, totalUs: 0 };
          times.set(frame.key, time);
        }
        if (depth === 0) time.selfUs += dt;
        if (!seen.has(frame.key)) time.totalUs += dt; // recursion counts once
        seen.add(frame.key);
      }
    }
  }
  const functions = [...times.values()].sort((a, b) => b.selfUs - a.selfUs);
  return { functions, totalUs };
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

/** The summary as text: top functions by self time, then self time by area. */
export function renderSummary(summary: { functions: FunctionTime[]; totalUs: number }, top: number): string {
  const { functions, totalUs } = summary;
  const ms = (us: number) => (us / 1000).toFixed(1);
  const pct = (us: number) => `${((us / totalUs) * 100).toFixed(1)}%`;
  const lines = [
    `sampled ${ms(totalUs)} ms`,
    "",
    `${pad("self ms", 9, true)} ${pad("self", 6, true)} ${pad("total ms", 9, true)}  function (location)`,
  ];
  for (const f of functions.filter((f) => f.selfUs > 0).slice(0, top)) {
    lines.push(
      `${pad(ms(f.selfUs), 9, true)} ${pad(pct(f.selfUs), 6, true)} ${pad(ms(f.totalUs), 9, true)}  ${f.name}${
        f.location ? ` (${f.location})` : ""
      }`,
    );
  }
  const areas = new Map<string, number>();
  for (const f of functions) areas.set(f.area, (areas.get(f.area) ?? 0) + f.selfUs);
  lines.push("", "self time by area:");
  for (const [area, us] of [...areas].sort((a, b) => b[1] - a[1])) {
    lines.push(`${pad(ms(us), 9, true)} ${pad(pct(us), 6, true)}  ${area}`);
  }
  const hurah = functions.filter((f) => f.area === "hurah src/").sort((a, b) => b.totalUs - a.totalUs).slice(0, 10);
  if (hurah.length) {
    lines.push("", "hurah functions by total time:");
    for (const f of hurah) {
      lines.push(`${pad(ms(f.totalUs), 9, true)} ${pad(pct(f.totalUs), 6, true)}  ${f.name} (${f.location})`);
    }
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { top: { type: "string", default: "25" }, match: { type: "string" } },
  });
  if (positionals.length === 0) {
    console.error("usage: profile_summary.ts [--top N] [--match TEXT] <file.cpuprofile>...");
    Deno.exit(2);
  }
  const profiles = positionals.map((path) => JSON.parse(Deno.readTextFileSync(path)) as CpuProfile);
  console.log(renderSummary(summarizeProfiles(profiles, values.match), Number(values.top)));
}

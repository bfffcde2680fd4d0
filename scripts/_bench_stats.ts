/**
 * The benchmark's arithmetic and text, free of I/O so that tests/scripts/bench_test.ts can check it: medians,
 * percentiles, the order of interleaved rounds, number formatting and Markdown tables.
 *
 * @module
 */

/** The median of `values` (the mean of the middle two for an even count); `NaN` when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * The `p`-th percentile of `values` by the nearest-rank method: the smallest value that at least `p` percent of the
 * values are less than or equal to. It is always one of the values. `NaN` when empty.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be between 0 and 100, found ${p}`);
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** Count, median and extremes of a series of runs. */
export type Summary = { n: number; median: number; min: number; max: number };

/** Summarizes a series of runs. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { n: 0, median: NaN, min: NaN, max: NaN };
  return { n: values.length, median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/**
 * The order in which round `round` runs its contenders: all of them, each round starting one further, so that over
 * the rounds every contender runs in every position (A B C, B C A, C A B, ...) and drift hits all alike.
 */
export function roundOrder<T>(contenders: readonly T[], round: number): T[] {
  const n = contenders.length;
  if (n === 0) return [];
  const shift = ((round % n) + n) % n;
  return [...contenders.slice(shift), ...contenders.slice(0, shift)];
}

/** Operations per second, from a count and a duration in milliseconds. */
export function perSecond(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : NaN;
}

/** A number for a table cell, three significant digits at most, thousands separated: `12,345`, `12.3`, `0.12`. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  if (abs === 0) return "0";
  return value.toPrecision(2);
}

/** A ratio, as `0.53×`. */
export function formatRatio(value: number): string {
  if (!Number.isFinite(value)) return "–";
  return `${value >= 10 ? value.toFixed(1) : value.toFixed(2)}×`;
}

/** A median with its range, as `12,345 (11,000–13,100)`. */
export function formatSummary(summary: Summary): string {
  if (summary.n === 0) return "–";
  if (summary.n === 1) return formatNumber(summary.median);
  return `${formatNumber(summary.median)} (${formatNumber(summary.min)}–${formatNumber(summary.max)})`;
}

/** How a table column is aligned. */
export type Align = "left" | "right";

/**
 * A Markdown table with padded columns (as `deno fmt` writes them), so it reads well on a terminal too. Columns are
 * left-aligned unless `align` says otherwise. Pipes in cells are escaped.
 */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly Align[] = [],
): string {
  const escape = (cell: string) => cell.replaceAll("|", "\\|");
  const all = [headers, ...rows].map((row) => headers.map((_, k) => escape(row[k] ?? "")));
  const widths = headers.map((_, k) => Math.max(3, ...all.map((row) => [...row[k]].length)));
  const pad = (cell: string, k: number) => {
    const gap = " ".repeat(widths[k] - [...cell].length);
    return align[k] === "right" ? gap + cell : cell + gap;
  };
  const line = (row: string[]) => `| ${row.map(pad).join(" | ")} |`;
  const rule = widths.map((width, k) => align[k] === "right" ? "-".repeat(width - 1) + ":" : "-".repeat(width));
  return [line(all[0]), `| ${rule.join(" | ")} |`, ...all.slice(1).map(line)].join("\n");
}

/** Calls by syscall name from the summary that `strace -c` writes. */
export function parseStraceSummary(text: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const line of text.split("\n")) {
    const tokens = line.trim().split(/\s+/);
    const name = tokens.at(-1);
    if (tokens.length < 5 || !/^[\d.]+$/.test(tokens[0]) || name === "total" || name === undefined) continue;
    calls.set(name, Number(tokens[3]));
  }
  return calls;
}

const UNITS: [string, number][] = [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]];

/**
 * A duration for people, in its two largest units: `850ms`, `45s`,
 * `3m 12s`, `2h 5m`, `4d 1h`. Negative durations (clock skew) read as `0s`.
 */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return "0s";
  if (ms < 1000) return `${Math.floor(ms)}ms`;
  const parts: string[] = [];
  let rest = Math.floor(ms / 1000) * 1000;
  for (const [unit, size] of UNITS) {
    if (parts.length === 0 && rest < size && unit !== "s") continue;
    parts.push(`${Math.floor(rest / size)}${unit}`);
    rest %= size;
    if (parts.length === 2) break;
  }
  return parts.filter((part, index) => index === 0 || !part.startsWith("0")).join(" ");
}

/** Durations as people write them, for the command line, config files and the dashboard's forms. */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration: `500ms`, `10s`, `5m`, `2h`, `7d`, or a plain number of
 * seconds. Returns milliseconds, or throws a message saying what is allowed
 * (a plain `Error`: a config file's reader words it its own way).
 */
export function parseDuration(text: string | number, what: string): number {
  if (typeof text === "number" && Number.isFinite(text) && text >= 0) return text * 1000;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(String(text).trim());
  if (!match) {
    throw new Error(`${what} must be a duration like 500ms, 10s, 5m, 2h or 7d, found ${JSON.stringify(text)}`);
  }
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2] ?? "s"]);
}

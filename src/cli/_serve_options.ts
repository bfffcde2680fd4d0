/**
 * The options of `hurah serve`, parsed and checked once: by `hurah serve`
 * itself, and by `hurah systemd --serve` so that a bad value is refused when
 * the unit is made, not when it starts.
 *
 * @module
 */
import type { StatusThresholds } from "../protocol/thresholds.ts";
import { countOption, duration, parseOptions } from "./_options.ts";
import { type CliIo, UsageError } from "./_io.ts";
import { resolveRoot } from "./_root.ts";
import { isLoopback } from "../serve/_auth.ts";

/** The `parseArgs` options of `hurah serve`. */
export const SERVE_OPTIONS = {
  root: { type: "string" },
  listen: { type: "string", default: "127.0.0.1:8377" },
  "read-only": { type: "boolean", default: false },
  token: { type: "string" },
  "scan-limit": { type: "string" },
  interval: { type: "string", default: "1s" },
  "max-pending": { type: "string" },
  "max-oldest": { type: "string" },
  "max-errors": { type: "string" },
  "max-in-flight-age": { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

/** `hurah serve`'s settings. */
export interface ServeSettings {
  root: string;
  hostname: string;
  port: number;
  readOnly: boolean;
  token: string | undefined;
  /** Where the token came from, for `hurah systemd`: the unit must not carry it on its command line. */
  tokenFrom: "option" | "environment" | "none";
  scanLimit: number | undefined;
  intervalMs: number;
  thresholds: StatusThresholds;
  help: boolean;
}

/** Parses `hurah serve`'s arguments; throws a {@linkcode UsageError} for a bad one. */
export function serveSettings(args: string[], io: CliIo): ServeSettings {
  const { values, positionals } = parseOptions(args, SERVE_OPTIONS);
  if (values.help) return { help: true } as ServeSettings;
  if (positionals.length > 1) throw new UsageError(`expected at most one event root, found ${positionals.length}`);
  const { hostname, port } = listenAddress(values.listen);
  const fromEnv = io.env("HURAH_TOKEN");
  const token = values.token ?? (fromEnv === "" ? undefined : fromEnv);
  if (token !== undefined && token.length < 16) {
    throw new UsageError("the token must be at least 16 characters long (try: openssl rand -hex 24)");
  }
  if (token === undefined && !isLoopback(hostname)) {
    throw new UsageError(
      `refusing to listen on ${hostname} without a token: anyone who reaches it could requeue and prune. ` +
        "Give --token or HURAH_TOKEN, or listen on 127.0.0.1",
    );
  }
  const intervalMs = duration(values.interval, "--interval");
  if (intervalMs < 100) throw new UsageError("--interval must be at least 100ms");
  const scanLimit = countOption(values["scan-limit"], "--scan-limit");
  return {
    root: resolveRoot(positionals[0], values.root, io),
    hostname,
    port,
    readOnly: values["read-only"],
    token,
    tokenFrom: values.token !== undefined ? "option" : token !== undefined ? "environment" : "none",
    scanLimit,
    intervalMs,
    thresholds: {
      maxPending: countOption(values["max-pending"], "--max-pending"),
      maxOldestMs: values["max-oldest"] === undefined ? undefined : duration(values["max-oldest"], "--max-oldest"),
      maxErrors: countOption(values["max-errors"], "--max-errors"),
      maxInFlightAgeMs: values["max-in-flight-age"] === undefined
        ? undefined
        : duration(values["max-in-flight-age"], "--max-in-flight-age"),
    },
    help: false,
  };
}

/** `--listen HOST:PORT` (`[::1]:8377` for IPv6); port 0 picks a free one. */
export function listenAddress(text: string): { hostname: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new UsageError(`--listen must be HOST:PORT, as 127.0.0.1:8377 or [::1]:8377, found ${JSON.stringify(text)}`);
  }
  return { hostname: match[1] ?? match[2], port };
}

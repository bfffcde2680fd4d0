/**
 * The one settings resolver of `runOnce` and `watch`: every default written
 * once, every setting checked once.
 */
import type { OpenOptions, WaitOptions } from "../backend/port.ts";
import { DEFAULT_MAX_TASK_SIZE } from "../protocol/task_file.ts";
import type { ArchivePolicy, RunEvent } from "./report.ts";
import type { PassSettings } from "./_task_runner.ts";
import { hostId, workerId } from "./_worker_id.ts";

/** The defaults of the options `runOnce` and `watch` share. */
export const DEFAULTS = {
  graceMs: 10_000,
  timeoutMs: 0,
  incompleteGraceMs: 10_000,
  maxLost: 3,
  leaseMs: 30_000,
  concurrency: 1,
  /** How often a watcher lists every inbox again, and takes back claims of workers that are gone. */
  rescanIntervalMs: 10_000,
} as const;

/** The options a listener is worked with, as `RunOptions` and `WatchOptions` (with a listener's own) give them. */
export interface SettingsInput {
  signal?: AbortSignal;
  graceMs?: number;
  timeoutMs?: number;
  retryDelay?: (attempt: number) => number;
  incompleteGraceMs?: number;
  maxTaskSize?: number;
  onEvent?: (event: RunEvent) => void;
  now?: () => Date;
  archive?: ArchivePolicy;
  concurrency?: number;
  maxLost?: number;
  hostId?: string;
  leaseMs?: number;
  /** Not a setting of the pass: the store's (accepted here so that one options object serves both). */
  durable?: boolean;
}

/** How parallel mode works a listener. */
export interface ParallelSettings {
  /** This host's id: leases of the same host are checked by their flock, others by expiry. */
  hostId: string;
  /** How long a lease lasts without renewal; renewed every third of it. */
  leaseMs: number;
  /** How often claims of workers that are gone are taken back, also in the middle of a long pass. */
  reapIntervalMs: number;
}

/** Everything a listener is worked with, defaulted and checked. */
export interface ListenerSettings {
  /** How each task is run. */
  pass: PassSettings;
  /** Tasks handled at once: 1 is ordered mode. */
  concurrency: number;
  /** Parallel mode's settings; `undefined` in ordered mode. */
  parallel: ParallelSettings | undefined;
  /** Delete archived tasks older than this (`archive: { keepMs }`). */
  keepArchiveMs: number | undefined;
}

/** What differs between `runOnce` and `watch`: the retry delay without a handler's own, and the reap interval. */
export interface SettingsDefaults {
  retryDelay: (attempt: number) => number;
  reapIntervalMs: number;
}

/**
 * Fills in the defaults and checks every setting.
 *
 * @throws {RangeError} When a setting is out of range.
 */
export function resolveSettings(input: SettingsInput, defaults: SettingsDefaults): ListenerSettings {
  const concurrency = checkConcurrency(input.concurrency ?? DEFAULTS.concurrency);
  const pass: PassSettings = {
    signal: input.signal ?? new AbortController().signal,
    graceMs: input.graceMs ?? DEFAULTS.graceMs,
    timeoutMs: input.timeoutMs ?? DEFAULTS.timeoutMs,
    retryDelay: input.retryDelay ?? defaults.retryDelay,
    incompleteGraceMs: input.incompleteGraceMs ?? DEFAULTS.incompleteGraceMs,
    maxTaskSize: checkMaxTaskSize(input.maxTaskSize),
    onEvent: input.onEvent ?? (() => {}),
    now: input.now ?? (() => new Date()),
    worker: workerId(input.hostId),
    archive: input.archive === "delete" ? "delete" : "keep",
    maxLost: checkMaxLost(input.maxLost ?? DEFAULTS.maxLost),
  };
  const keepArchiveMs = archiveKeepMs(input.archive);
  if (concurrency === 1) return { pass, concurrency, parallel: undefined, keepArchiveMs };
  const leaseMs = input.leaseMs ?? DEFAULTS.leaseMs;
  if (!(leaseMs > 0)) throw new RangeError(`leaseMs must be positive, found ${leaseMs}`);
  const parallel = { hostId: input.hostId ?? hostId(), leaseMs, reapIntervalMs: defaults.reapIntervalMs };
  return { pass, concurrency, parallel, keepArchiveMs };
}

/** How a listener's queue is opened for these settings, waiting for other workers as `wait` says. */
export function openOptions(settings: ListenerSettings, wait: WaitOptions): OpenOptions {
  const { pass, parallel } = settings;
  return { worker: pass.worker, maxTaskSize: pass.maxTaskSize, archive: pass.archive, now: pass.now, parallel, wait };
}

/** The retention of `{ keepMs }`, checked; `undefined` for the other policies. */
export function archiveKeepMs(policy: ArchivePolicy | undefined): number | undefined {
  if (policy === undefined || policy === "keep" || policy === "delete") return undefined;
  if (typeof policy !== "object" || !(policy.keepMs >= 0)) {
    throw new RangeError(`archive must be "keep", "delete" or { keepMs: <milliseconds> }, found ${String(policy)}`);
  }
  return policy.keepMs;
}

/** Checks a task size limit, or gives the default. */
export function checkMaxTaskSize(maxTaskSize: number | undefined): number {
  if (maxTaskSize === undefined) return DEFAULT_MAX_TASK_SIZE;
  if (!Number.isSafeInteger(maxTaskSize) || maxTaskSize < 1) {
    throw new RangeError(`maxTaskSize must be a whole number of bytes, at least 1, found ${maxTaskSize}`);
  }
  return maxTaskSize;
}

/** Checks a concurrency setting. */
export function checkConcurrency(concurrency: number): number {
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a whole number of at least 1, found ${concurrency}`);
  }
  return concurrency;
}

/** Checks a `maxLost` setting. */
export function checkMaxLost(maxLost: number): number {
  if (!Number.isSafeInteger(maxLost) || maxLost < 0) {
    throw new RangeError(`maxLost must be a whole number of at least 0, found ${maxLost}`);
  }
  return maxLost;
}

/** The settings of one task pass alone, with `runOnce`'s defaults (for tests of the runner). */
export function passSettings(input: SettingsInput): PassSettings {
  return resolveSettings(input, { retryDelay: () => 0, reapIntervalMs: DEFAULTS.rescanIntervalMs }).pass;
}

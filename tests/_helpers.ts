/** Shared test helpers: temporary roots, the real CLI in a subprocess, the PHP fixtures, polling and the disk. */
import { ok } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The project's root directory. */
export const PROJECT = join(dirname(fileURLToPath(import.meta.url)), "..");
/** `cli.ts`, the `hurah` command. */
export const CLI = join(PROJECT, "cli.ts");
/**
 * The PHP library's fixture trees (read-only): a copy of the trees that
 * hurah/events wrote (`../shared/fixtures/php-hurah-events` in the workplace),
 * kept in the repository so that a clone tests on its own.
 */
export const FIXTURES = join(PROJECT, "tests", "fixtures", "php-hurah-events");

/** A fresh temporary event root, removed by `[Symbol.asyncDispose]`. */
export async function tempRoot(options: { shm?: boolean } = {}): Promise<AsyncDisposable & { path: string }> {
  const dir = options.shm ? "/dev/shm" : undefined;
  const path = await Deno.makeTempDir({ prefix: "hurah_", dir });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/** What a finished CLI run printed. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `hurah <args>` as `deno run -A cli.ts` and waits for it. */
/** Text log lines without the time they start with (`--log-timestamps`, the default off journald). */
export function untimed(text: string): string {
  return text.replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /gm, "");
}

/** Runs the CLI and collects its exit code and output. */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; cwd?: string } = {},
): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, ...args],
    env: { NO_COLOR: "1", ...options.env },
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** Spawns `hurah <args>` without waiting (for kill and concurrency tests). */
export function spawnCli(args: string[], options: { env?: Record<string, string> } = {}): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, ...args],
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * Copies a PHP fixture tree (as `01-dispatched` or `06-retry-max2/after-run-1`)
 * to `target`, recreating its empty directories from the `.dirs` list and
 * making it writable.
 */
export async function copyFixture(name: string, target: string): Promise<void> {
  const source = join(FIXTURES, name);
  const dirs = (await Deno.readTextFile(source + ".dirs")).split("\n").filter(Boolean);
  for (const dir of dirs) await Deno.mkdir(join(target, dir), { recursive: true });
  for await (const file of walkFiles(source)) {
    await Deno.mkdir(dirname(join(target, file)), { recursive: true });
    await Deno.writeFile(join(target, file), await Deno.readFile(join(source, file)), { mode: 0o644 });
  }
}

/** Every regular file below `dir`, as paths relative to it, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const files = await Array.fromAsync(walkFiles(dir));
  return files.sort();
}

async function* walkFiles(dir: string, prefix = ""): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(join(dir, prefix))) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory) yield* walkFiles(dir, relative);
    else if (entry.isFile) yield relative;
  }
}

/** Every directory below `dir`, as `./a`, `./a/b` (the fixtures' `.dirs` form), sorted. */
export async function listDirs(dir: string, prefix = "."): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) {
    if (!entry.isDirectory) continue;
    const relative = `${prefix}/${entry.name}`;
    out.push(relative, ...await listDirs(dir, relative));
  }
  return out.sort();
}

/** Polls `check` every `pollMs` until it holds; throws after `timeoutMs`, saying what was awaited. */
export async function waitUntil(
  what: string | (() => string),
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  pollMs = 25,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await check()) {
    if (Date.now() > deadline) {
      throw new Error(`gave up after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * Polls `check` every `pollMs` until it holds, for as long as `progress()` (a
 * count that grows as the awaited work goes on: tasks archived, lines
 * reported) keeps changing; throws once it has not changed for `stallMs`,
 * saying what was awaited and where it stopped. A bound on a stall, not on the
 * whole work: other test suites on the machine may slow the work down many
 * times over, but a lost task or a stuck worker still fails the wait.
 */
export async function waitWhileProgressing(
  what: string,
  check: () => boolean,
  progress: () => number,
  stallMs: number,
  pollMs = 250,
): Promise<void> {
  const started = performance.now();
  let last = progress();
  let since = started;
  while (!check()) {
    const now = progress();
    if (now !== last) {
      last = now;
      since = performance.now();
    } else if (performance.now() - since > stallMs) {
      const waited = Math.round(performance.now() - started);
      throw new Error(
        `gave up waiting for ${what}: no progress for ${stallMs} ms (stuck at ${now}, ${waited} ms in all)`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** The entry names of a directory, sorted; [] when it does not exist. */
export function namesIn(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** Task sequence numbers in a directory, sorted, [] if missing; other names fail (`others: "skip"`: are skipped). */
export function sequencesIn(dir: string, options: { others?: "fail" | "skip" } = {}): number[] {
  const names = options.others === "skip"
    ? namesIn(dir).filter((name) => /^\d+\.json$/.test(name))
    : namesIn(dir).map((name) => {
      ok(/^[1-9][0-9]*\.json$/.test(name), `unexpected file ${name} in ${dir}`);
      return name;
    });
  return names.map((name) => Number(name.slice(0, -5))).sort((a, b) => a - b);
}

/** Whether anything (a link too, even a broken one) is at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Sends `signal` to `child` unless it has exited already (its TypeError "already terminated" is ignored). */
export function killQuietly(child: Deno.ChildProcess, signal: Deno.Signal = "SIGKILL"): void {
  try {
    child.kill(signal);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error; // it has exited already
  }
}

/** SIGKILLs `child` if it is still running, and waits for its status (the cleanup of a `finally`). */
export async function stopChild(child: Deno.ChildProcess): Promise<Deno.CommandStatus> {
  killQuietly(child);
  return await child.status;
}

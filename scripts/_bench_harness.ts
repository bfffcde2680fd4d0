/**
 * The benchmark's harness: worker processes, interleaved rounds, scratch directories and the description of the
 * machine.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseStraceSummary, roundOrder } from "./_bench_stats.ts";

/** scripts/_bench_worker.ts */
const WORKER = fileURLToPath(new URL("./_bench_worker.ts", import.meta.url));

/** The flags every worker runs with: the hurah command's own V8 flag (a small young generation keeps a long drain's memory flat) plus gc(). */
const WORKER_FLAGS = ["run", "-A", "--quiet", "--unstable-kv", "--v8-flags=--expose-gc,--max-semi-space-size=1"];

/** Events per `dispatchMany()` call of the `hurah-batch` contender, and `dispatch()` calls at once of `hurah-concurrent`. */
export const DISPATCH_BATCH = 100;

/** A worker command's result: what the parent reads. */
export type WorkerResult = Record<string, number>;

/**
 * One worker process (scripts/_bench_worker.ts) and its line protocol: `prepare()` sends a command and waits until
 * the worker is set up, `go()` starts it, `result()` waits for what it measured.
 */
export class BenchWorker {
  readonly #child: Deno.ChildProcess;
  readonly #input: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncGenerator<string>;
  readonly #stderr: Promise<string>;

  private constructor(child: Deno.ChildProcess, readonly label: string) {
    this.#child = child;
    this.#input = child.stdin.getWriter();
    this.#lines = readLines(child.stdout);
    this.#stderr = new Response(child.stderr).text();
  }

  /** Starts a worker; `flags` go before the script (as `--cpu-prof`). */
  static spawn(label: string, flags: string[] = []): BenchWorker {
    const child = new Deno.Command(Deno.execPath(), {
      args: [...WORKER_FLAGS, ...flags, WORKER],
      env: { NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    return new BenchWorker(child, label);
  }

  async #send(line: string): Promise<void> {
    await this.#input.write(new TextEncoder().encode(line + "\n"));
  }

  /** The next reply, which must hold `key`. */
  async #next(key: "ready" | "result"): Promise<Record<string, unknown>> {
    const line = await this.#lines.next();
    if (line.done) {
      const status = await this.#child.status;
      throw new Error(`worker ${this.label} ended (code ${status.code}): ${(await this.#stderr).trim()}`);
    }
    const reply = JSON.parse(line.value);
    if (reply[key] === undefined) throw new Error(`worker ${this.label}: expected ${key}, got ${line.value}`);
    return reply;
  }

  /** Sends a command and waits until the worker is ready to run it. */
  async prepare(command: Record<string, unknown>): Promise<void> {
    await this.#send(JSON.stringify(command));
    await this.#next("ready");
  }

  /** Starts the prepared command. */
  async go(): Promise<void> {
    await this.#send("go");
  }

  /** Waits for the prepared command's result. */
  async result(): Promise<WorkerResult> {
    return (await this.#next("result")).result as WorkerResult;
  }

  /** Prepares, starts and waits for one command. */
  async run(command: Record<string, unknown>): Promise<WorkerResult> {
    await this.prepare(command);
    await this.go();
    return await this.result();
  }

  /** Ends the worker: closes its input and waits; kills it if it does not end within a few seconds. */
  async close(): Promise<void> {
    await this.#input.close().catch(() => {});
    const timer = setTimeout(() => this.kill(), 5000);
    try {
      await this.#child.status;
      await this.#stderr;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends SIGKILL if it still runs. */
  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // exited already
    }
  }
}

/** The non-empty lines of a stream, one at a time. */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    const parts = pending.split("\n");
    pending = parts.pop()!;
    for (const part of parts) if (part.trim() !== "") yield part;
  }
}

/** Workers started together and ended together, even when a trial fails. */
export async function withWorkers<T>(labels: string[], flags: string[], body: (w: BenchWorker[]) => Promise<T>) {
  const workers = labels.map((label) => BenchWorker.spawn(label, flags));
  try {
    return await body(workers);
  } catch (error) {
    for (const worker of workers) worker.kill();
    throw error;
  } finally {
    await Promise.all(workers.map((worker) => worker.close()));
  }
}

/** Sets commands up on their workers, starts them all, and waits for every result (in the same order). */
export async function runAll(jobs: [BenchWorker, Record<string, unknown>][]): Promise<WorkerResult[]> {
  await Promise.all(jobs.map(([worker, command]) => worker.prepare(command)));
  await Promise.all(jobs.map(([worker]) => worker.go()));
  return await Promise.all(jobs.map(([worker]) => worker.result()));
}

/** Runs one worker command under `strace -f -c` (its summary written to a file in `dir`) and returns its calls by name. */
export async function strace(dir: string, command: Record<string, unknown>): Promise<Map<string, number>> {
  const out = join(dir, `strace-${crypto.randomUUID()}.txt`);
  const { code, stderr } = await new Deno.Command("strace", {
    args: ["-f", "-c", "-o", out, Deno.execPath(), ...WORKER_FLAGS, WORKER, "--once", JSON.stringify(command)],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`strace failed (${code}): ${new TextDecoder().decode(stderr)}`);
  const calls = parseStraceSummary(Deno.readTextFileSync(out));
  Deno.removeSync(out);
  return calls;
}

/** What a trial is told about its round: 0, 1, ... for measured rounds; -1 for the warm-up, whose result is thrown away. */
export type Round = { round: number; warmup: boolean };

/**
 * Runs every contender `runs` times, interleaved: round r runs all of them, starting with contender r (A B C, B C A,
 * ...), so machine drift hits all alike. An optional warm-up round comes first and is not recorded.
 */
export async function interleave<T>(
  contenders: readonly string[],
  options: { runs: number; warmup: boolean },
  trial: (contender: string, round: Round) => Promise<T>,
): Promise<Map<string, T[]>> {
  const samples = new Map<string, T[]>(contenders.map((contender) => [contender, []]));
  if (options.warmup) {
    for (const contender of contenders) await trial(contender, { round: -1, warmup: true });
  }
  for (let round = 0; round < options.runs; round++) {
    for (const contender of roundOrder(contenders, round)) {
      samples.get(contender)!.push(await trial(contender, { round, warmup: false }));
    }
  }
  return samples;
}

/** The file systems a workload runs on. */
export type Fs = "shm" | "disk";

/** Where each file system's scratch directories go. */
const FS_PARENT: Record<Fs, string> = { shm: "/dev/shm", disk: "/tmp" };

/** A scratch directory per file system, removed at the end. */
export class Scratch {
  readonly #bases = new Map<Fs, string>();
  #counter = 0;

  /** The base directory on `fs`, created on first use. */
  base(fs: Fs): string {
    if (!this.#bases.has(fs)) this.#bases.set(fs, Deno.makeTempDirSync({ dir: FS_PARENT[fs], prefix: "hurah_bench_" }));
    return this.#bases.get(fs)!;
  }

  /** A new empty directory on `fs`. */
  fresh(fs: Fs, prefix = "root"): string {
    const path = join(this.base(fs), `${prefix}-${++this.#counter}`);
    Deno.mkdirSync(path);
    return path;
  }

  /** Removes every scratch directory. */
  async removeAll(): Promise<void> {
    for (const base of this.#bases.values()) await Deno.remove(base, { recursive: true }).catch(() => {});
    this.#bases.clear();
  }
}

/** The listener directories `<root>/<eventType>/lNN_listener` with `inbox/`, `tmp/` and `archive/`. */
export function makeListeners(root: string, eventType: string, count: number): { names: string[]; dirs: string[] } {
  const names = Array.from({ length: count }, (_, k) => `l${String(k).padStart(2, "0")}`);
  const dirs = names.map((name) => join(root, eventType, `${name}_listener`));
  for (const dir of dirs) {
    for (const sub of ["inbox", "tmp", "archive"]) Deno.mkdirSync(join(dir, sub), { recursive: true });
  }
  return { names, dirs };
}

/** How many entries a directory holds (0 when it does not exist). */
export function countEntries(dir: string): number {
  try {
    return [...Deno.readDirSync(dir)].length;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}

/** Flushes the page cache's dirty data (sync(1)), so that one trial's writeback does not land in the next. */
export async function syncDisks(): Promise<void> {
  await new Deno.Command("sync").output().catch(() => {});
}

/** A command's standard output, or `undefined` when it fails (or is not installed). */
export async function commandOutput(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const { code, stdout } = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return code === 0 ? new TextDecoder().decode(stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** The mount that holds `path`, from /proc/mounts (the longest matching mount point): its type, device and options. */
export function mountOf(
  path: string,
  mounts: string,
): { mount: string; type: string; device: string; options: string } {
  let best = { mount: "", type: "", device: "", options: "" };
  for (const line of mounts.split("\n")) {
    const [device, mount, type, options] = line.split(" ");
    if (mount === undefined) continue;
    const inside = path === mount || path.startsWith(mount.endsWith("/") ? mount : mount + "/");
    if (inside && mount.length >= best.mount.length) best = { mount, type, device, options };
  }
  return best;
}

/** What the report says about the machine: `git` is the commit measured and the files of src/ changed from it. */
export type MachineInfo = Awaited<ReturnType<typeof machineInfo>>;

/** Describes the machine, the runtime and the file systems (each scratch directory's parent and its mount). */
export async function machineInfo(project: string, fileSystems: Fs[]) {
  const read = (path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return "";
    }
  };
  const [cpuinfo, meminfo, mounts] = ["/proc/cpuinfo", "/proc/meminfo", "/proc/mounts"].map(read);
  const memKiB = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? NaN);
  const nproc = Number(await commandOutput("nproc", [])) || navigator.hardwareConcurrency;
  const commit = await commandOutput("git", ["-C", project, "rev-parse", "HEAD"]) ?? "unknown";
  const dirty = (await commandOutput("git", ["-C", project, "status", "--porcelain", "--", "src", "mod.ts"]) ?? "")
    .split("\n").filter((line) => line.trim() !== "").map((line) => line.trim());
  return {
    nproc,
    memTotalGiB: Math.round((memKiB / 1024 / 1024) * 10) / 10,
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    fileSystems: fileSystems.map((fs) => ({ fs, path: FS_PARENT[fs], ...mountOf(FS_PARENT[fs], mounts) })),
    git: { commit, dirty },
    loadAverage: Deno.loadavg(),
  };
}

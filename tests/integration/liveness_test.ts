/**
 * Liveness of parallel workers with real processes: a worker is judged alive
 * or dead independently of its handler and of the hosts' clocks.
 *
 * - a busy handler: a module handler that keeps its thread busy for three
 *   leases (`handlers/busy_loop.ts`) is not taken over by a second worker of
 *   the same host or of another host; its lease is renewed from a worker
 *   thread. The task is handled once, by one process, and archived.
 * - clock skew: workers whose clocks run an hour ahead or behind (faketime's
 *   `+1h` / `-1h` preloaded into `deno run cli.ts watch`) neither take a
 *   task from a live worker nor wait longer than the lease plus one renewal
 *   interval (plus the reaping interval and a scheduling margin) to take over
 *   the task of a dead one (SIGKILL) or of a frozen one (SIGSTOP, another
 *   host). Lease ages are judged by the file system's clock.
 *
 * Every worker runs `--max-attempts 0`: a task run twice is then thrown into
 * `error/` as LOST, which the checks would see. The take-over cases use
 * `--max-attempts 3`, so that the taken-over task is run again and archived.
 * Roots are on the working disk (the test process may not open /dev/shm, see
 * `_tree.ts`); every process runs with `--no-fsync`. A 1500 ms lease keeps
 * the cases short.
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeTask, Dispatcher, type FailureRecord, Layout, listenerPath, runOnce, Task } from "../../mod.ts";
import { CLI, killQuietly, namesIn, sequencesIn, tempRoot, waitUntil } from "../_helpers.ts";
import { withTimeout } from "./_dispatch_loop.ts";
import { readMarks } from "./_marks.ts";

const HANDLERS = join(dirname(fileURLToPath(import.meta.url)), "handlers");
const BUSY = join(HANDLERS, "busy_loop.ts");
const SLOW = join(HANDLERS, "marker_log.ts");
const NAME = "worker";
const EVENT_TYPE = "job/queued";
const LEASE_MS = 1500;
const RENEWAL_MS = LEASE_MS / 3;
const REAP_MS = 200;
/** What scheduling on a busy machine may add to a take-over, beyond the lease, a renewal and a reaping interval. */
const MARGIN_MS = 1500;
const DEADLINE_MS = 30_000;

/**
 * The preload library of `faketime`, if it is installed and shifts Deno's
 * clock. The workers are started as `env LD_PRELOAD=<it> FAKETIME=+1h deno
 * ...`: the `faketime` command forks and waits for its child, so the test's
 * signals would reach `faketime` instead of the worker, while `env` execs.
 */
const FAKETIME = await (async (): Promise<string | undefined> => {
  try {
    const { code, stdout } = await new Deno.Command("faketime", {
      args: [
        "-f",
        "+1h",
        "sh",
        "-c",
        `printf '%s\\n' "$LD_PRELOAD"; ${Deno.execPath()} eval 'console.log(Date.now())'`,
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    const [preload, now] = new TextDecoder().decode(stdout).split("\n");
    return code === 0 && preload !== "" && Number(now) - Date.now() > 3_000_000 ? preload : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
})();
if (FAKETIME === undefined) console.log("skipped: faketime is not installed or does not shift Deno's clock");

// ---------------------------------------------------------------------------------------------------------------
// Helpers

/** A `hurah watch` process with its stderr collected as it comes. */
interface Proc extends AsyncDisposable {
  readonly pid: number;
  stderr(): string;
  readonly done: Promise<{ status: Deno.CommandStatus; stderr: string }>;
  signal(signal: Deno.Signal): void;
}

interface WorkerOptions {
  host: string;
  handler: string;
  env: Record<string, string>;
  /** A faketime offset such as `+1h`: the process's clock is that far off. */
  skew?: string;
  maxAttempts?: number;
}

/** `hurah watch --concurrency 2` of one host, its clock skewed by faketime if asked. */
function spawnWorker(root: string, options: WorkerOptions): Proc {
  const hurah = [Deno.execPath(), "run", "-A", "--quiet", CLI, "watch", NAME, EVENT_TYPE, options.handler, root];
  hurah.push("--concurrency", "2", "--host-id", options.host, "--lease", `${LEASE_MS}ms`);
  hurah.push("--rescan-interval", `${REAP_MS}ms`, "--max-attempts", String(options.maxAttempts ?? 0), "--no-fsync");
  const argv = options.skew === undefined
    ? hurah
    : ["env", `LD_PRELOAD=${FAKETIME}`, `FAKETIME=${options.skew}`, ...hurah];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  let exited = false;
  const stderrRead = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  const done = Promise.all([child.status, stderrRead]).then(([status]) => {
    exited = true;
    return { status, stderr };
  });
  const signal = (name: Deno.Signal) => {
    if (!exited) killQuietly(child, name);
  };
  return {
    pid: child.pid,
    stderr: () => stderr,
    done,
    signal,
    async [Symbol.asyncDispose]() {
      signal("SIGCONT"); // a stopped process would not die of SIGKILL until continued
      signal("SIGKILL");
      await done;
    },
  };
}

async function ready(worker: Proc): Promise<void> {
  await waitUntil(
    () => `worker ${worker.pid} to be ready (stderr: ${worker.stderr()})`,
    () => worker.stderr().includes("hurah watch: watching"),
    DEADLINE_MS,
  );
}

/** Stops a worker with SIGTERM and checks that it stopped cleanly and took nothing over. */
async function stopCleanly(worker: Proc): Promise<void> {
  worker.signal("SIGTERM");
  const { status, stderr } = await withTimeout(worker.done, DEADLINE_MS, `worker ${worker.pid}`);
  equal(status.code, 0, stderr);
  ok(!stderr.includes("LOST"), stderr);
}

function dirsOf(root: string) {
  const dir = join(root, listenerPath(NAME, EVENT_TYPE));
  return {
    inbox: join(dir, Layout.INBOX),
    inflight: join(dir, Layout.INFLIGHT),
    archive: join(dir, Layout.ARCHIVE),
    error: join(dir, Layout.ERROR),
  };
}

async function setUp(root: string): Promise<void> {
  await runOnce(root, { name: NAME, eventType: EVENT_TYPE, handler: () => Task.SUCCESS });
}

async function dispatchOne(root: string): Promise<void> {
  await new Dispatcher(root, { durable: false }).dispatch(EVENT_TYPE, { liveness: true });
}

/** Checks that task 1 was handled exactly once, by `pid` if given, and archived without a failure. */
function handledOnce(root: string, log: string, pid?: number): void {
  const dirs = dirsOf(root);
  const marks = readMarks(log);
  deepEqual(marks.map((mark) => [mark.kind, mark.sequence]), [["start", 1], ["end", 1]], JSON.stringify(marks));
  equal(marks[0].pid, marks[1].pid);
  if (pid !== undefined) equal(marks[0].pid, pid);
  deepEqual(sequencesIn(dirs.archive), [1]);
  deepEqual(namesIn(dirs.inbox), []);
  deepEqual(namesIn(dirs.inflight), []);
  deepEqual(namesIn(dirs.error), []);
  const task = decodeTask(Deno.readTextFileSync(join(dirs.archive, "1.json")), 1);
  equal(task.failures, undefined, JSON.stringify(task.failures));
}

// ---------------------------------------------------------------------------------------------------------------
// A busy handler

Deno.test("a module handler that keeps its thread busy for three leases is not taken over", async (t) => {
  for (const otherHost of ["a", "b"]) {
    await t.step(otherHost === "a" ? "by a worker of the same host" : "by a worker of another host", async () => {
      await using root = await tempRoot();
      const log = join(root.path, "handled.log");
      await setUp(root.path);
      const env = { HURAH_TEST_LOG: log, HURAH_TEST_BUSY_MS: String(3 * LEASE_MS) };
      await using busy = spawnWorker(root.path, { host: "a", handler: BUSY, env });
      await ready(busy);
      await dispatchOne(root.path);
      await waitUntil("the busy worker to start the task", () => readMarks(log).length > 0, DEADLINE_MS);
      // The other worker comes after the claim, so the busy one has it; it reaps every 200 ms meanwhile.
      await using other = spawnWorker(root.path, { host: otherHost, handler: BUSY, env });
      await ready(other);
      await waitUntil(
        "the task to be archived",
        () => namesIn(dirsOf(root.path).archive).includes("1.json"),
        DEADLINE_MS,
      );
      await new Promise((resolve) => setTimeout(resolve, 3 * REAP_MS)); // reaping rounds after the end: nothing to take
      await stopCleanly(other);
      await stopCleanly(busy);
      handledOnce(root.path, log, busy.pid);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Clock skew

Deno.test({
  name: "workers whose clocks are an hour off do not take over the task of a live worker",
  ignore: FAKETIME === undefined,
  async fn() {
    await using root = await tempRoot();
    const log = join(root.path, "handled.log");
    await setUp(root.path);
    await dispatchOne(root.path);
    const env = { HURAH_TEST_LOG: log, HURAH_TEST_DELAY_MS: String(3 * LEASE_MS) };
    await using owner = spawnWorker(root.path, { host: "a", handler: SLOW, env });
    await waitUntil("the owner to start the task", () => readMarks(log).length > 0, DEADLINE_MS);
    // Ahead on another host, ahead on the same host, behind on another host: all reap every 200 ms.
    await using ahead = spawnWorker(root.path, { host: "b", handler: SLOW, env, skew: "+1h" });
    await using aheadHere = spawnWorker(root.path, { host: "a", handler: SLOW, env, skew: "+1h" });
    await using behind = spawnWorker(root.path, { host: "c", handler: SLOW, env, skew: "-1h" });
    for (const worker of [ahead, aheadHere, behind]) await ready(worker);
    await waitUntil(
      "the task to be archived",
      () => namesIn(dirsOf(root.path).archive).includes("1.json"),
      DEADLINE_MS,
    );
    await new Promise((resolve) => setTimeout(resolve, 3 * REAP_MS));
    for (const worker of [ahead, aheadHere, behind, owner]) await stopCleanly(worker);
    handledOnce(root.path, log, owner.pid);
  },
});

Deno.test({
  name: "a worker whose clock is an hour off takes over the task of a dead or frozen worker in time",
  ignore: FAKETIME === undefined,
  async fn(t) {
    const cases: { skew: string; stop: Deno.Signal; host: string }[] = [
      { skew: "+1h", stop: "SIGKILL", host: "a" },
      { skew: "-1h", stop: "SIGKILL", host: "b" },
      { skew: "+1h", stop: "SIGSTOP", host: "b" },
      { skew: "-1h", stop: "SIGSTOP", host: "b" },
    ];
    for (const { skew, stop, host } of cases) {
      const how = stop === "SIGKILL" ? "killed" : "frozen";
      const where = host === "a" ? "the same host" : "another host";
      await t.step(`clock ${skew}, the owner ${how} (${stop}), on ${where}`, async () => {
        await using root = await tempRoot();
        const log = join(root.path, "handled.log");
        const dirs = dirsOf(root.path);
        await setUp(root.path);
        await dispatchOne(root.path);
        const env = { HURAH_TEST_LOG: log, HURAH_TEST_DELAY_MS: "60000" };
        await using owner = spawnWorker(root.path, { host: "a", handler: SLOW, env, maxAttempts: 3 });
        await waitUntil("the owner to start the task", () => readMarks(log).length > 0, DEADLINE_MS);
        const takerEnv = { HURAH_TEST_LOG: log, HURAH_TEST_DELAY_MS: "0" };
        await using taker = spawnWorker(root.path, { host, handler: SLOW, env: takerEnv, skew, maxAttempts: 3 });
        await ready(taker);
        owner.signal(stop);
        await waitUntil(() => `the task to be archived (taker: ${taker.stderr()})`, () => {
          return namesIn(dirs.archive).includes("1.json");
        }, DEADLINE_MS);

        const marks = readMarks(log).filter((mark) => mark.kind === "start").map((mark) => mark.pid);
        deepEqual(marks, [owner.pid, taker.pid]);
        const task = decodeTask(Deno.readTextFileSync(join(dirs.archive, "1.json")), 1);
        const failures = (task.failures ?? []) as FailureRecord[];
        equal(failures.length, 1, JSON.stringify(failures));
        equal(failures[0].result, "LOST");
        const message = failures[0].message;
        ok(message.startsWith(`worker a-${owner.pid}-`), message);
        if (host === "a") {
          ok(message.includes("is no longer running (its lease lock is free)"), message);
        } else {
          // Judged by the file system's clock: an hour of skew would show as an age of an hour, or never expire.
          const age = /let its lease expire \(last renewed ([0-9]+) ms ago, lease ([0-9]+) ms\)/.exec(message);
          ok(age, message);
          equal(Number(age[2]), LEASE_MS);
          const ageMs = Number(age[1]);
          ok(ageMs > LEASE_MS, message);
          ok(ageMs <= LEASE_MS + RENEWAL_MS + REAP_MS + MARGIN_MS, message);
        }
        console.log(`${skew} ${stop}: ${message}`);
        taker.signal("SIGTERM");
        const stopped = await withTimeout(taker.done, DEADLINE_MS, "the taker");
        equal(stopped.status.code, 0, stopped.stderr);
        deepEqual(namesIn(dirs.inflight), []);
        deepEqual(namesIn(dirs.error), []);
      });
    }
  },
});

/**
 * Acceptance of delayed dispatch (issue 12, "Delayed"): 1,000 tasks with
 * delays from 0 to 20 s, three `hurah watch` processes on one root, each
 * killed with SIGKILL and restarted midway (one after the other), and the
 * PHP original's runner working a listener of its own on the same event
 * type. Checks, and prints the measurements of:
 *
 * - none handled early: each handler's entry time (logged by the handler) is
 *   at or after the task's `notBefore` (carried in its payload), for hurah's
 *   listener and for PHP's (its `HE_TIME_LOG`);
 * - p99 lateness (entry time - notBefore) of hurah's listener at most 1 s;
 * - each event delivered exactly once to each listener (by `event_id`, in
 *   `archive/`), and each task's handler entered once; a second entry is
 *   allowed only for a task whose first handler process was SIGKILLed (its
 *   attempt never finished: at-least-once handling, as for any kill);
 * - no inbox ever holds a task before its time (polled every 100 ms).
 *
 * Run: deno run -A scripts/acceptance/delayed.ts [--tasks 1000] [--max-delay 20]
 * Exit 0 when every check passes, 1 otherwise.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { decodeTask, Dispatcher, Layout } from "../../mod.ts";

const PROJECT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const CLI = join(PROJECT, "cli.ts");
const HANDLER = join(PROJECT, "tests", "integration", "handlers", "payload_log.ts");
const PHP_ORIGINAL = Deno.env.get("HURAH_PHP_ORIGINAL") ?? join(PROJECT, "..", "shared", "php-original");

const { values } = parseArgs({
  args: Deno.args,
  options: {
    tasks: { type: "string", default: "1000" },
    "max-delay": { type: "string", default: "20" },
    "no-kill": { type: "boolean", default: false },
    "no-php": { type: "boolean", default: false },
  },
});
const TASKS = Number(values.tasks);
const MAX_DELAY_MS = Number(values["max-delay"]) * 1000;
const EVENT_TYPE = "acceptance/delayed";

const root = await Deno.makeTempDir({ prefix: "hurah_delayed_" });
const log = join(root, "..", `${root.split("/").at(-1)}.handled.log`);
const phpLog = join(root, "..", `${root.split("/").at(-1)}.php.log`);
const checks: [string, boolean][] = [];
const check = (what: string, ok: boolean) => checks.push([what, ok]);

function watcher(): { child: Deno.ChildProcess; pid: number } {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, "watch", "hurah", EVENT_TYPE, HANDLER, root, "--quiet"],
    env: { HURAH_TEST_LOG: log, NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  return { child, pid: child.pid };
}

function lines(path: string): string[] {
  try {
    return Deno.readTextFileSync(path).split("\n").filter(Boolean);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

const phpAvailable = !values["no-php"] &&
  await new Deno.Command("php", { args: ["-v"], stdout: "null", stderr: "null" }).output()
    .then((out) => out.success, () => false) &&
  await Deno.lstat(join(PHP_ORIGINAL, "harness", "run_handler.php")).then(() => true, () => false);

async function phpRun(): Promise<void> {
  const { code, stderr } = await new Deno.Command("php", {
    args: [join(PHP_ORIGINAL, "harness", "run_handler.php"), "php", EVENT_TYPE, root],
    cwd: join(PHP_ORIGINAL, "hurah-events"),
    env: { HE_CODE: "0", HE_TIME_LOG: phpLog, HE_LOG_LEVEL: "none" },
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`the PHP runner failed: ${new TextDecoder().decode(stderr)}`);
}

const watchers: { child: Deno.ChildProcess; pid: number }[] = [];
const killed = new Set<number>();
try {
  // Register both listeners first: hurah's by a run, PHP's by PHP's runner.
  const registered = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, "run", "hurah", EVENT_TYPE, "--exec", "true", root, "--create-root"],
    stdout: "null",
    stderr: "null",
  }).output();
  if (!registered.success) throw new Error("could not register the hurah listener");
  if (phpAvailable) await phpRun();
  else console.log(`skipped: the PHP runner (php or ${PHP_ORIGINAL} missing)`);
  for (let k = 0; k < 3; k++) watchers.push(watcher());
  await new Promise((resolve) => setTimeout(resolve, 2000)); // the watchers start

  // Watch every inbox for a task that is there before its time.
  let early = 0;
  let polls = 0;
  const inboxes = [
    join(root, EVENT_TYPE, "hurah_listener", Layout.INBOX),
    join(root, EVENT_TYPE, "php_listener", Layout.INBOX),
  ];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      for (const inbox of inboxes) {
        for (
          const entry of (() => {
            try {
              return [...Deno.readDirSync(inbox)];
            } catch {
              return [];
            }
          })()
        ) {
          const now = Date.now();
          const match = /^(\d+)\.json$/.exec(entry.name);
          if (!match) continue;
          try {
            const task = decodeTask(Deno.readTextFileSync(join(inbox, entry.name)), Number(match[1]));
            if ((task.payload as { t: number }).t > now) early++;
          } catch {
            // handled and moved meanwhile
          }
        }
      }
      polls++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();

  // Dispatch: delays spread evenly over 0..MAX_DELAY_MS, in random order.
  const dispatcher = new Dispatcher(root);
  const delays = Array.from({ length: TASKS }, (_, n) => Math.round((n * MAX_DELAY_MS) / Math.max(1, TASKS - 1)));
  for (let k = delays.length - 1; k > 0; k--) {
    const j = Math.floor(Math.random() * (k + 1));
    [delays[k], delays[j]] = [delays[j], delays[k]];
  }
  const started = Date.now();
  const eventIds = new Set<string>();
  for (const [n, delay] of delays.entries()) {
    const t = Date.now() + delay;
    const scheduled = await dispatcher.dispatch(EVENT_TYPE, { n, t }, { notBefore: new Date(t) });
    eventIds.add(scheduled.eventId);
  }
  const dispatchMs = Date.now() - started;

  // PHP's runner, one pass after another, alongside.
  let phpPasses = 0;
  let phpRunning = phpAvailable;
  const php = (async () => {
    while (phpRunning) {
      await phpRun();
      phpPasses++;
      await new Promise((resolve) => setTimeout(resolve, 1000)); // PHP's start is costly on a shared machine
    }
  })();

  // Midway, each watcher in turn is killed with SIGKILL and restarted.
  for (const at of values["no-kill"] ? [] : [0.3, 0.45, 0.6]) {
    const wait = started + at * MAX_DELAY_MS - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const victim = watchers[killed.size]; // the first three, in turn (the restarted ones are pushed after them)
    victim.child.kill("SIGKILL");
    await victim.child.status;
    killed.add(victim.pid);
    watchers.push(watcher());
  }

  // Wait for every task (or give up a minute after the last is due).
  const deadline = started + MAX_DELAY_MS + 60_000;
  const archived = (name: string) => {
    try {
      return [...Deno.readDirSync(join(root, EVENT_TYPE, `${name}_listener`, Layout.ARCHIVE))].length;
    } catch {
      return 0;
    }
  };
  while (
    (archived("hurah") < TASKS || (phpAvailable && lines(phpLog).length < TASKS)) && Date.now() < deadline
  ) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await new Promise((resolve) => setTimeout(resolve, 2000)); // time for a second delivery, were there one
  phpRunning = false;
  await php;
  polling = false;
  await poller;

  // Deliveries: each event once per listener, by event id.
  for (const name of phpAvailable ? ["hurah", "php"] : ["hurah"]) {
    const dir = join(root, EVENT_TYPE, `${name}_listener`);
    const counts = new Map<string, number>();
    const deliveryLateness: number[] = [];
    for (const state of [Layout.INBOX, Layout.ARCHIVE, Layout.ERROR]) {
      for (
        const entry of (() => {
          try {
            return [...Deno.readDirSync(join(dir, state))];
          } catch {
            return [];
          }
        })()
      ) {
        const match = /^(\d+)\.json$/.exec(entry.name);
        if (!match) continue;
        const path = join(dir, state, entry.name);
        const task = decodeTask(Deno.readTextFileSync(path), Number(match[1]));
        const id = task.event_id as string;
        deliveryLateness.push(Deno.statSync(path).mtime!.getTime() - (task.payload as { t: number }).t);
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
    }
    const delivered = deliveryLateness.sort((a, b) => a - b);
    console.log(
      `${name} listener: delivery lateness ms (task file written - notBefore): p50 ${percentile(delivered, 0.5)}, ` +
        `p99 ${percentile(delivered, 0.99)}, max ${delivered.at(-1)}`,
    );
    const twice = [...counts.values()].filter((count) => count > 1).length;
    const missing = [...eventIds].filter((id) => !counts.has(id)).length;
    console.log(`${name} listener: ${counts.size} events delivered, ${twice} twice, ${missing} missing`);
    check(`${name}: each event delivered exactly once`, twice === 0 && missing === 0 && counts.size === TASKS);
  }

  // hurah's handler: entry times.
  const entries = lines(log).map((line) =>
    JSON.parse(line) as { at: number; pid: number; payload: { n: number; t: number } }
  );
  const byTask = new Map<number, typeof entries>();
  for (const entry of entries) byTask.set(entry.payload.n, [...byTask.get(entry.payload.n) ?? [], entry]);
  const firsts = [...byTask.values()].map((each) => each[0]);
  const lateness = firsts.map((entry) => entry.at - entry.payload.t).sort((a, b) => a - b);
  const earlyEntries = entries.filter((entry) => entry.at < entry.payload.t).length;
  const repeated = [...byTask.values()].filter((each) => each.length > 1);
  const unexplained = repeated.filter((each) => !killed.has(each[0].pid)).length;
  console.log(
    `hurah handler: ${byTask.size} of ${TASKS} tasks handled (${entries.length} entries), ${earlyEntries} early; ` +
      `lateness ms: min ${lateness[0]}, p50 ${percentile(lateness, 0.5)}, p90 ${percentile(lateness, 0.9)}, ` +
      `p99 ${percentile(lateness, 0.99)}, max ${lateness.at(-1)}`,
  );
  console.log(
    `hurah handler: ${repeated.length} tasks entered twice, ${repeated.length - unexplained} of them after a SIGKILL ` +
      `of the process that first entered it (at-least-once handling), ${unexplained} otherwise`,
  );
  check("hurah: every task handled", byTask.size === TASKS);
  check("hurah: none handled early (entry >= notBefore)", earlyEntries === 0);
  check("hurah: p99 lateness <= 1000 ms", percentile(lateness, 0.99) <= 1000);
  check("hurah: each task handled once (but for a handler killed while it ran)", unexplained === 0);

  if (phpAvailable) {
    // HE_TIME_LOG: "<sequence> <payload t> <entry time>", times in epoch ms.
    const php = lines(phpLog).map((line) => line.split(" ").map(Number));
    const phpEarly = php.filter(([, t, at]) => at < t).length;
    const phpLate = php.map(([, t, at]) => at - t).sort((a, b) => a - b);
    const phpSeqs = new Set(php.map(([seq]) => seq));
    console.log(
      `PHP runner: ${php.length} entries for ${phpSeqs.size} tasks in ${phpPasses} passes, ${phpEarly} early; ` +
        `lateness ms (a pass every second, plus PHP's start): p50 ${percentile(phpLate, 0.5)}, ` +
        `p99 ${percentile(phpLate, 0.99)}`,
    );
    check("PHP: no delayed task seen early", phpEarly === 0);
    check("PHP: each task handled once", php.length === TASKS && phpSeqs.size === TASKS);
  }
  console.log(`inboxes polled ${polls} times: ${early} sightings of a task before its time`);
  check("no inbox ever held a task before its time", early === 0);
  console.log(
    `${TASKS} tasks dispatched in ${dispatchMs} ms; watchers SIGKILLed and restarted: ${killed.size} ` +
      `(pids ${[...killed].join(", ")})`,
  );
} finally {
  for (const { child } of watchers) {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited already
    }
    await child.status;
  }
  await Deno.remove(root, { recursive: true }).catch(() => {});
  await Deno.remove(log).catch(() => {});
  await Deno.remove(phpLog).catch(() => {});
}

let failed = 0;
for (const [what, ok] of checks) {
  console.log(`${ok ? "PASS" : "FAIL"} ${what}`);
  if (!ok) failed++;
}
Deno.exit(failed === 0 ? 0 : 1);

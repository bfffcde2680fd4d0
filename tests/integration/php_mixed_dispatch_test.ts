/**
 * hurah and the PHP library dispatching to the same listener at once. PHP
 * takes no lock: it reads `tracking.json`, writes `inbox/<N+1>.json`, then
 * writes `tracking.json` (both in place). A hurah dispatch that replaced
 * `tracking.json` with the number it had read before PHP went on sent PHP
 * back to numbers it had used, and PHP overwrote its own tasks.
 *
 * The PHP original (`../shared/php-original`, or `$HURAH_PHP_ORIGINAL`)
 * dispatches its events (`harness/dispatch.php`) once alone (the baseline)
 * and once beside `hurah dispatch` processes: at about 700 events/s
 * (`HE_DISPATCH_PAUSE_US=1100`) beside 5, and at full speed beside 10 with
 * the cores kept busy. PHP's events are counted by the `product_id` of the
 * payloads found in the inbox. PHP alone loses nothing (one PHP process is
 * sequential; it loses events only to another dispatcher that does not
 * lock, such as a second PHP process); beside hurah it must lose no more at
 * 700/s, and at most one more per hurah dispatch at full speed.
 * While PHP is at work hurah numbers its tasks `LOCK_FREE_MARGIN` ahead
 * (before that: 0 to 1 lost at 700/s, 6 to 17 under load, 0 to 5 at full
 * speed; before hurah stopped lowering tracking.json, 3 to 10 per dispatch).
 *
 * @module
 */
import { deepEqual, ok } from "node:assert/strict";
import { join } from "node:path";
import { CLI, tempRoot } from "../_helpers.ts";
import { smallTmpfs } from "../_tmpfs.ts";
import { PHP_ORIGINAL, phpMissing } from "./_php.ts";

/**
 * The root is on a tmpfs (mounted as root): on ext4 replacing tracking.json by rename flushes its
 * data first (hundreds of microseconds, milliseconds under writeback), which
 * widens the moment in which PHP can run ahead of a hurah dispatch (see
 * docs/protocol.md section 10: measured 16 lost once on the working disk).
 * PHP and the hurah dispatches run at a higher priority than the rest of the
 * suite where allowed (as root), so that the test measures hurah's rules
 * rather than how often the other test processes preempt a dispatch in the
 * middle of replacing tracking.json (see the assertion below).
 */
const NICER = Deno.uid() === 0 ? ["-n", "-10"] : ["-n", "0"];
/** `count` busy loops at the default priority, killed on dispose. */
function busyLoops(count: number): AsyncDisposable {
  const loops = Array.from(
    { length: count },
    () => new Deno.Command("nice", { args: [...NICER, "sh", "-c", "while :; do :; done"], stdin: "null" }).spawn(),
  );
  return {
    async [Symbol.asyncDispose]() {
      for (const loop of loops) loop.kill("SIGKILL");
      await Promise.all(loops.map((loop) => loop.status));
    },
  };
}

const skip = await phpMissing("harness/dispatch.php");
if (skip) console.log(`skipped: ${skip}`);

/** How PHP and hurah dispatch in a run. */
interface Load {
  /** PHP's events. */
  events: number;
  /** PHP's pause between events, in microseconds (`HE_DISPATCH_PAUSE_US`). */
  pauseUs: number;
  /** `hurah dispatch` processes, one every `everyMs`. */
  dispatches: number;
  everyMs: number;
  /** Busy processes competing for the cores, so that the scheduler preempts a dispatch now and then. */
  busy: number;
  /**
   * Whether every hurah event must be found. PHP overwrites a task whose
   * number it takes, hurah's as a second PHP process's: at full speed PHP is
   * nearly always between reading tracking.json and writing it back, and
   * then lowers hurah's number (measured: 4 to 9 of 10 found, 8 to 10 before
   * the margin).
   */
  hurahKept: boolean;
  /**
   * How many more events PHP may lose beside hurah than alone. 0 at 700/s.
   * At full speed hurah still costs PHP a few (0 to 3 beside 10 dispatches,
   * in 9 runs of 16 none; before the margin 0 to 5, 7 once under load), by a
   * path not found yet: every dispatch there took the margin. One per
   * dispatch bounds it, so that the test fails if that path widens.
   */
  phpLossAllowed: number;
}

/** PHP dispatches its events into a fresh root, beside `hurah` dispatches or not; how many of PHP's were lost. */
async function phpLosses(
  withHurah: boolean,
  load: Load,
): Promise<{ lost: number; rate: number; hurahFound: number; hurahAfterPhp: number[] }> {
  const { events: EVENTS, pauseUs: PAUSE_US, dispatches: HURAH_DISPATCHES } = load;
  const tmpfs = await smallTmpfs("64m"); // as root; elsewhere the working disk
  await using root = "skipped" in tmpfs ? await tempRoot() : tmpfs;
  await using _load = busyLoops(load.busy);
  const dir = join(root.path, "ev", "l_listener");
  await Deno.mkdir(join(dir, "inbox"), { recursive: true });
  const started = performance.now();
  const php = new Deno.Command("nice", {
    args: [...NICER, "php", join(PHP_ORIGINAL, "harness", "dispatch.php"), root.path, "ev", String(EVENTS), "1"],
    env: { HE_DISPATCH_PAUSE_US: String(PAUSE_US) },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const hurah: Promise<Deno.CommandOutput>[] = [];
  if (withHurah) {
    // Spread over PHP's run, once it has got going.
    for (let k = 0; k < HURAH_DISPATCHES; k++) {
      await new Promise((resolve) => setTimeout(resolve, load.everyMs));
      hurah.push(
        new Deno.Command("nice", {
          args: [
            ...NICER,
            Deno.execPath(),
            "run",
            "-A",
            "--quiet",
            CLI,
            "dispatch",
            "ev",
            `{"hurah":${k}}`,
            "--root",
            root.path,
          ],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output(),
      );
    }
  }
  const { code, stderr } = await php.output();
  const rate = EVENTS / ((performance.now() - started) / 1000);
  const hurahSequences: number[] = [];
  for (const result of await Promise.all(hurah)) {
    ok(result.success, new TextDecoder().decode(result.stderr));
    hurahSequences.push(Number(new TextDecoder().decode(result.stdout).split(" ")[1]));
  }
  ok(code === 0, `dispatch.php failed (${code}): ${new TextDecoder().decode(stderr)}`);
  const phpFound = new Set<number>();
  let hurahFound = 0;
  let phpLast = 0;
  for (const entry of Deno.readDirSync(join(dir, "inbox"))) {
    const payload = JSON.parse(await Deno.readTextFile(join(dir, "inbox", entry.name))).payload;
    if (typeof payload?.product_id === "number") {
      phpFound.add(payload.product_id);
      phpLast = Math.max(phpLast, parseInt(entry.name));
    } else if (typeof payload?.hurah === "number") hurahFound++;
  }
  const hurahAfterPhp = hurahSequences.filter((sequence) => sequence > phpLast);
  return { lost: EVENTS - phpFound.size, rate, hurahFound, hurahAfterPhp };
}

/**
 * Runs PHP alone, then beside hurah; PHP must lose no more than alone, each
 * hurah event must be numbered among PHP's, and found (if `hurahKept`).
 */
async function besidePhp(load: Load): Promise<void> {
  const alone = await phpLosses(false, load);
  const beside = await phpLosses(true, load);
  const summary = `PHP alone lost ${alone.lost} of ${load.events} at ${alone.rate.toFixed(0)}/s; ` +
    `beside ${load.dispatches} hurah dispatches ${beside.lost} at ${beside.rate.toFixed(0)}/s ` +
    `(${beside.hurahFound} of hurah's ${load.dispatches} events found)`;
  console.log(summary);
  // Before hurah numbered its tasks ahead of PHP (LOCK_FREE_MARGIN), a dispatch preempted between its last look at
  // tracking.json and its rename sent PHP back to numbers it had used: at about 700/s 0 lost in most runs and 1 in
  // one run of six, 6 to 17 under load; at full speed beside 10 dispatches 0 to 5, and a PHP write begun before
  // hurah's rename could lower tracking.json and PHP then overwrote hurah's task (9 of 10 found).
  ok(beside.lost <= alone.lost + load.phpLossAllowed, summary);
  if (load.hurahKept) deepEqual(beside.hurahFound, load.dispatches, `hurah events overwritten: ${summary}`);
  // The hurah dispatches start while PHP has seconds of events to go: each must get a number among PHP's, not wait
  // (chasing the numbers PHP keeps taking, the dispatch lock held) until PHP has finished.
  deepEqual(beside.hurahAfterPhp, [], `hurah dispatches numbered after PHP's last event: ${summary}`);
}

Deno.test({
  name: "dispatch() beside the PHP dispatcher at 700 events/s: PHP loses nothing because of hurah, nor hurah to PHP",
  ignore: skip !== undefined,
  async fn() {
    await besidePhp({
      events: 3_000,
      pauseUs: 1_100,
      dispatches: 5,
      everyMs: 250,
      busy: 0,
      hurahKept: true,
      phpLossAllowed: 0,
    });
  },
});

Deno.test({
  name:
    "dispatch() beside the PHP dispatcher at full speed, cores busy: PHP loses at most one event per hurah dispatch",
  ignore: skip !== undefined,
  async fn() {
    await besidePhp({
      events: 8_000,
      pauseUs: 0,
      dispatches: 10,
      everyMs: 100,
      busy: 2,
      hurahKept: false,
      phpLossAllowed: 10,
    });
  },
});

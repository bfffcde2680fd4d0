/**
 * hurah and the PHP library dispatching to the same listener at once. PHP
 * takes no lock: it reads `tracking.json`, writes `inbox/<N+1>.json`, then
 * writes `tracking.json` (both in place). A hurah dispatch that replaced
 * `tracking.json` with the number it had read before PHP went on sent PHP
 * back to numbers it had used, and PHP overwrote its own tasks.
 *
 * The PHP original (`../shared/php-original`, or `$HURAH_PHP_ORIGINAL`)
 * dispatches 2,000 events at about 700 events/s (`harness/dispatch.php`
 * with `HE_DISPATCH_PAUSE_US=1100`), once alone (the baseline) and once
 * beside 5 `hurah dispatch` processes; PHP's events are counted by the
 * `product_id` of the payloads found in the inbox. PHP alone loses nothing
 * (one PHP process is sequential; it loses events only to another
 * dispatcher that does not lock, such as a second PHP process); beside hurah
 * it must lose at most one more per hurah dispatch than alone (before the
 * fix: 3 to 10 per dispatch).
 *
 * @module
 */
import { deepEqual, ok } from "node:assert/strict";
import { join } from "node:path";
import { CLI, PROJECT, tempRoot } from "../_helpers.ts";
import { smallTmpfs } from "../_tmpfs.ts";

const PHP_ORIGINAL = Deno.env.get("HURAH_PHP_ORIGINAL") ?? join(PROJECT, "..", "shared", "php-original");
const EVENTS = 2_000;
const PAUSE_US = 1_100;
const HURAH_DISPATCHES = 5;
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

/** Why the test cannot run here, or `undefined`. */
async function missing(): Promise<string | undefined> {
  try {
    await Deno.lstat(join(PHP_ORIGINAL, "harness", "dispatch.php"));
  } catch {
    return `the PHP original is not at ${PHP_ORIGINAL} (set HURAH_PHP_ORIGINAL)`;
  }
  try {
    const { success } = await new Deno.Command("php", { args: ["-v"], stdout: "null", stderr: "null" }).output();
    return success ? undefined : "php does not run";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "php not installed";
    throw error;
  }
}

const skip = await missing();
if (skip) console.log(`skipped: ${skip}`);

/** PHP dispatches its events into a fresh root, beside `hurah` dispatches or not; how many of PHP's were lost. */
async function phpLosses(
  withHurah: boolean,
): Promise<{ lost: number; rate: number; hurahFound: number; hurahAfterPhp: number[] }> {
  const tmpfs = await smallTmpfs("64m"); // as root; elsewhere the working disk
  await using root = "skipped" in tmpfs ? await tempRoot() : tmpfs;
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
      await new Promise((resolve) => setTimeout(resolve, 250));
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

Deno.test({
  name: "dispatch() beside the PHP dispatcher never sends PHP back to numbers it used (tracking.json never lowered)",
  ignore: skip !== undefined,
  async fn() {
    const alone = await phpLosses(false);
    const beside = await phpLosses(true);
    const summary = `PHP alone lost ${alone.lost} of ${EVENTS} at ${alone.rate.toFixed(0)}/s; ` +
      `beside ${HURAH_DISPATCHES} hurah dispatches ${beside.lost} at ${beside.rate.toFixed(0)}/s ` +
      `(${beside.hurahFound} of hurah's ${HURAH_DISPATCHES} events found)`;
    console.log(summary);
    // A hurah dispatch can still race with PHP inside the microseconds between its last look at tracking.json
    // and its rename, and far more often when the scheduler preempts it there: measured at about 700/s on 2 cores,
    // 0 lost in most runs and 1 in about one run of six; with three busy processes competing (hence NICER), 6 to
    // 17. Before the fix each dispatch cost PHP the events PHP dispatched while hurah held the lock: 14 for 5
    // dispatches on a quiet machine, 19 to 46 on a loaded one.
    ok(beside.lost <= alone.lost + HURAH_DISPATCHES, summary);
    // The hurah dispatches start while PHP has more than a second of events to go: each must get a number among
    // PHP's, not wait (chasing the numbers PHP keeps taking, the dispatch lock held) until PHP has finished.
    deepEqual(beside.hurahAfterPhp, [], `hurah dispatches numbered after PHP's last event: ${summary}`);
  },
});

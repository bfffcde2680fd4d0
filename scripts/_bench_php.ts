/**
 * The PHP original as a contender of `deno task bench`: its `Dispatcher`, one `dispatch()` at a time, from one
 * or several processes at once (`harness/dispatch.php` of `../shared/php-original/`, see its README). Skipped, with
 * a note, where php or the original is missing.
 *
 * @module
 */
import { join } from "node:path";
import { PHP_ORIGINAL, phpMissing } from "../tests/integration/_php.ts";
import { countEntries } from "./_bench_harness.ts";
import { now } from "./_bench_floors.ts";

export { phpMissing };

/** What a PHP dispatch trial measured: the tasks found in the inboxes over the time from "go" to the last exit. */
export interface PhpDispatch {
  start: number;
  end: number;
  /** Task files in the inboxes afterwards. */
  delivered: number;
  /** Dispatches asked for, over all processes. */
  asked: number;
  /** Processes that failed (PHP's dispatcher dies on a half-written tracking.json). */
  failed: number;
}

/**
 * Runs `processes` PHP dispatchers of `events` events each on `root`, started together: each loads the library,
 * says "ready", and starts at the same "go"; the time runs from the go to the last one's exit.
 */
export async function phpDispatch(
  root: string,
  eventType: string,
  dirs: readonly string[],
  events: number,
  processes: number,
): Promise<PhpDispatch> {
  const script = join(PHP_ORIGINAL, "harness", "dispatch.php");
  const children = Array.from({ length: processes }, (_, k) =>
    new Deno.Command("php", {
      args: [script, root, eventType, String(events), String(1 + k * events)],
      env: { HE_GO: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn());
  const readers = children.map((child) => child.stdout.pipeThrough(new TextDecoderStream()).getReader());
  for (const reader of readers) {
    let text = "";
    while (!text.includes("ready\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("a PHP dispatcher exited before it was ready");
      text += value;
    }
  }
  const writers = children.map((child) => child.stdin.getWriter());
  const start = now();
  await Promise.all(writers.map((writer) => writer.write(new TextEncoder().encode("go\n"))));
  const statuses = await Promise.all(children.map(async (child, k) => {
    const status = await child.status;
    await writers[k].close().catch(() => {});
    await readers[k].cancel().catch(() => {});
    return status;
  }));
  const end = now();
  const delivered = dirs.reduce((sum, dir) => sum + countEntries(join(dir, "inbox")), 0);
  return {
    start,
    end,
    delivered,
    asked: events * processes * dirs.length,
    failed: statuses.filter((s) => !s.success).length,
  };
}

/**
 * Drains listener `name` of `eventType` on `root` with the PHP original's runner (`harness/run_handler.php`, what
 * `worker:runner` does, its handler answering SUCCESS): the time from the spawn to the exit, startup included.
 */
export async function phpDrain(root: string, name: string, eventType: string): Promise<{ start: number; end: number }> {
  const start = now();
  const { success, stderr } = await new Deno.Command("php", {
    args: [join(PHP_ORIGINAL, "harness", "run_handler.php"), name, eventType, root],
    cwd: join(PHP_ORIGINAL, "hurah-events"),
    env: { HE_CODE: "0", HE_LOG_LEVEL: "none" },
    stdout: "null",
    stderr: "piped",
  }).output();
  const end = now();
  if (!success) throw new Error(`the PHP runner failed: ${new TextDecoder().decode(stderr).slice(0, 500)}`);
  return { start, end };
}

/**
 * Acceptance of `hurah requeue --all` against a running `hurah watch`: 300
 * tasks fail again as fast as they are put back (the handler returns
 * INVALID, or throws), and after each of 20 rounds every task number is in
 * exactly one place, across inbox/, inflight/ and error/. A requeue that
 * linked `error/<N>.json` into the inbox and then unlinked `error/<N>.json`
 * by path deleted the task whenever the watcher had handled it in between
 * and renamed its new copy onto `error/<N>.json`.
 *
 * Each round waits until the watcher has sent every task back to error/
 * (inbox/ and inflight/ empty), then counts; a lost task shows as a number
 * missing from error/. Every process runs with `--no-fsync`.
 *
 * @module
 */
import { deepEqual } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Dispatcher } from "../../mod.ts";
import { namesIn, runCli, spawnCli, stopChild, tempRoot, waitUntil } from "../_helpers.ts";

const HANDLER = join(dirname(fileURLToPath(import.meta.url)), "handlers", "configurable_handler.ts");
const TASKS = 300;
const ROUNDS = 20;

/** The task numbers of a state directory; claims (`<N>.json~<worker>`) count as their task. */
function numbersIn(dir: string): number[] {
  return namesIn(dir).filter((name) => !name.endsWith(".reason.txt")).map((name) => {
    const match = /^([0-9]+)\.json(~.*)?$/.exec(name);
    return match ? Number(match[1]) : NaN; // a quarantined copy (`<N>.json.1`) fails the count
  });
}

async function raceRounds(variant: string, env: Record<string, string>, extra: string[]): Promise<void> {
  await using root = await tempRoot();
  const dir = join(root.path, "ev", "l_listener");
  await Deno.mkdir(join(dir, "inbox"), { recursive: true });
  await new Dispatcher(root.path, { durable: false }).dispatchMany(
    Array.from({ length: TASKS }, (_, k) => ({ eventType: "ev", payload: { k } })),
  );
  const watcher = spawnCli(
    ["watch", "l", "ev", HANDLER, root.path, "--no-fsync", "--rescan-interval", "1s", ...extra],
    {
      env,
    },
  );
  const stderr = (async () => {
    let tail = "";
    const decoder = new TextDecoder();
    for await (const chunk of watcher.stderr) tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4000);
    return tail;
  })();
  const stdout = watcher.stdout.cancel();
  const all = Array.from({ length: TASKS }, (_, k) => k + 1);
  const settled = () => numbersIn(join(dir, "inbox")).length === 0 && numbersIn(join(dir, "inflight")).length === 0;
  try {
    await waitUntil(
      `${variant}: every task in error/ before the first round`,
      () => numbersIn(join(dir, "error")).length === TASKS,
    );
    for (let round = 1; round <= ROUNDS; round++) {
      const result = await runCli(["requeue", "ev/l", "--all", "--no-fsync", "--root", root.path]);
      await waitUntil(`${variant}, round ${round}: inbox/ and inflight/ empty`, settled, 30_000);
      const found = [
        ...numbersIn(join(dir, "inbox")),
        ...numbersIn(join(dir, "inflight")),
        ...numbersIn(join(dir, "error")),
      ].sort((a, b) => a - b);
      const missing = all.filter((n) => !found.includes(n));
      deepEqual(
        found,
        all,
        `${variant}, round ${round}: each task exactly once; ${missing.length} missing (${
          missing.slice(0, 10).join(", ")
        }...)` +
          ` (requeue said: ${result.stderr.slice(-300)})`,
      );
    }
  } finally {
    await stopChild(watcher);
    await stdout;
    const tail = await stderr;
    if (tail.includes("Error") && !tail.includes("exploded")) console.error(tail);
  }
}

// The three variants run side by side (each with its own root and watcher), to keep the file's time down.
Deno.test("hurah requeue --all beside a running watcher loses no task that fails again (INVALID, thrown, --concurrency 4)", async () => {
  await Promise.all([
    raceRounds("INVALID", { HE_CODE: "3" }, []),
    raceRounds("thrown", { HE_THROW: "1" }, []),
    raceRounds("--concurrency 4", { HE_CODE: "3" }, ["--concurrency", "4"]),
  ]);
});

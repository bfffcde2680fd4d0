/**
 * A dispatcher process for the idempotency-key tests and the acceptance script:
 *
 * ```sh
 * deno run -A tests/integration/_key_dispatch.ts <root> <event_type> <keys> [--start-at EPOCH_MS]
 * ```
 *
 * Waits until `--start-at` (so that several processes begin together), then
 * dispatches one event per key `key-0` ... `key-<keys - 1>`, 32 at a time
 * (`dispatch()` calls overlapping), each with its key, and prints one JSON
 * line per key: `{"key", "duplicate", "deliveries": [[listener, sequence], ...]}`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { Dispatcher } from "../../mod.ts";

/** This script's path. */
export const KEY_DISPATCH = fileURLToPath(import.meta.url);

/** How many dispatches each process has in flight at once (a server's concurrent requests). */
const IN_FLIGHT = 32;

/** How long the processes are given to load before they start together. */
export const START_DELAY_MS = 3000;

/** What one process printed for one key. */
export interface KeyResult {
  key: string;
  duplicate: boolean;
  deliveries: [string, number][];
}

if (import.meta.main) {
  const [root, eventType, count, flag, startAt] = Deno.args;
  if (flag === "--start-at") {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));
  }
  const dispatcher = new Dispatcher(root, { durable: false });
  const results: KeyResult[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    for (let k = next++; k < Number(count); k = next++) {
      const key = `key-${k}`;
      const deliveries = await dispatcher.dispatch(eventType, { key, pid: Deno.pid }, { key });
      results.push({
        key,
        duplicate: deliveries.some((each) => each.duplicate),
        deliveries: deliveries.map((each) => [each.listener, each.sequence]),
      });
    }
  }));
  Deno.stdout.writeSync(new TextEncoder().encode(results.map((each) => JSON.stringify(each)).join("\n") + "\n"));
}

/** Runs `processes` dispatchers of the same `keys` keys at once; each one's results. */
export async function dispatchKeysAtOnce(
  root: string,
  eventType: string,
  processes: number,
  keys: number,
): Promise<KeyResult[][]> {
  const startAt = Date.now() + START_DELAY_MS;
  const children = Array.from({ length: processes }, () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", KEY_DISPATCH, root, eventType, String(keys), "--start-at", String(startAt)],
      stdout: "piped",
      stderr: "inherit",
    }).output());
  const outputs = await Promise.all(children);
  return outputs.map(({ code, stdout }) => {
    if (code !== 0) throw new Error(`a key dispatcher exited with ${code}`);
    return new TextDecoder().decode(stdout).trim().split("\n").map((line) => JSON.parse(line) as KeyResult);
  });
}

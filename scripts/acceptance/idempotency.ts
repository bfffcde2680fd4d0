/**
 * Acceptance of idempotency keys (issue 12): 8 processes dispatch the same
 * 1,000 keys at once, to an event root with two listeners; each key must
 * be delivered exactly once (one task per listener), exactly one process
 * must win each key, and every process must report the winner's deliveries.
 *
 * ```sh
 * deno run -A scripts/acceptance/idempotency.ts [--processes 8] [--keys 1000]
 * ```
 *
 * Prints its measurements; exits 1 when a check fails.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { dispatchKeysAtOnce, START_DELAY_MS } from "../../tests/integration/_key_dispatch.ts";

const args = parseArgs({ args: Deno.args, options: { processes: { type: "string" }, keys: { type: "string" } } });
const PROCESSES = Number(args.values.processes ?? 8);
const KEYS = Number(args.values.keys ?? 1000);
const EVENT_TYPE = "order/paid";

const root = await Deno.makeTempDir({ prefix: "hurah_accept_keys_" });
const failures: string[] = [];
try {
  const inboxes = ["order/paid/mailer_listener", "audit_listener"].map((dir) => join(root, dir, "inbox"));
  for (const inbox of inboxes) await Deno.mkdir(inbox, { recursive: true });
  const started = performance.now();
  const results = await dispatchKeysAtOnce(root, EVENT_TYPE, PROCESSES, KEYS);
  const elapsedMs = performance.now() - started - START_DELAY_MS; // less the common start delay
  for (const inbox of inboxes) {
    const keys = new Map<string, number>();
    for (const entry of Deno.readDirSync(inbox)) {
      const task = JSON.parse(Deno.readTextFileSync(join(inbox, entry.name)));
      keys.set(task.payload.key, (keys.get(task.payload.key) ?? 0) + 1);
    }
    const twice = [...keys].filter(([, n]) => n > 1);
    console.log(`${inbox}: ${keys.size} keys delivered, ${twice.length} more than once`);
    if (keys.size !== KEYS) failures.push(`${inbox}: ${keys.size} keys delivered, expected ${KEYS}`);
    if (twice.length > 0) failures.push(`${inbox}: ${twice.length} keys delivered more than once: ${twice[0][0]}...`);
  }
  let winners = 0;
  let duplicates = 0;
  for (let k = 0; k < KEYS; k++) {
    const each = results.map((process) => process.find((result) => result.key === `key-${k}`)!);
    const won = each.filter((result) => !result.duplicate);
    winners += won.length;
    duplicates += each.length - won.length;
    if (won.length !== 1) failures.push(`key-${k}: ${won.length} processes delivered it`);
    const seen = new Set(each.map((result) => JSON.stringify(result.deliveries)));
    if (seen.size !== 1) failures.push(`key-${k}: the processes reported different deliveries`);
  }
  console.log(
    `${PROCESSES} processes x ${KEYS} keys at once: ${winners} deliveries won, ${duplicates} duplicates returned ` +
      `with the winner's deliveries, in ${(elapsedMs / 1000).toFixed(1)} s (${
        Math.round(PROCESSES * KEYS / elapsedMs * 1000)
      } dispatches/s)`,
  );
} finally {
  await Deno.remove(root, { recursive: true });
}
if (failures.length > 0) {
  console.error(`FAILED:\n  ${failures.slice(0, 20).join("\n  ")}`);
  Deno.exit(1);
}
console.log("OK: each key delivered exactly once");

/**
 * A worker process for kill_test.ts: watches listener `a/kill` on the NATS
 * server at argv[0] with concurrency 4, and appends one line per SUCCESS to
 * the file at argv[1]: `<payload> <lost_count>`. Each task takes 50 ms. Killed with SIGKILL by the test.
 */
import { Task, watch } from "../../../mod.ts";
import { NatsBackend } from "../../../src/backend/nats/mod.ts";

const [url, out] = Deno.args;
const backend = await NatsBackend.connect(url, { pollIntervalMs: 100 });
const file = await Deno.open(out, { append: true, create: true });
const encoder = new TextEncoder();
const watcher = watch(backend, {
  leaseMs: 1000,
  listeners: [{
    name: "kill",
    eventType: "a",
    concurrency: 4,
    handler: async (context) => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await file.write(encoder.encode(`${context.payload} ${context.record.lost_count ?? 0}\n`));
      return Task.SUCCESS;
    },
  }],
});
await watcher.ready;
console.log("ready");
await watcher.done;

/**
 * The demo behind `deno task demo`: registers three listeners on a temporary
 * event root, dispatches a few events, handles them once and prints what
 * happened to each task. It removes the root at the end unless --keep is given.
 */
import {
  Dispatcher,
  type RunEvent,
  runOnce,
  Task,
  type TaskContext,
  type TaskRecord,
  type TaskResult,
} from "../mod.ts";
import { eventFormatter } from "../src/cli/_log.ts";

const keep = Deno.args.includes("--keep");
const formatEvent = eventFormatter("text", false);
const root = await Deno.makeTempDir({ prefix: "hurah_demo_" });
const print = (text: string) => Deno.stdout.writeSync(new TextEncoder().encode(text));

const listeners = [
  {
    name: "image_scaler",
    eventType: "product/created",
    handler: (context: TaskContext): TaskResult => {
      const { product_id } = context.payload as { product_id: number };
      return product_id > 0 ? Task.SUCCESS : Task.INVALID;
    },
  },
  {
    name: "price_calculator",
    eventType: "product",
    handler: {
      maxAttempts: () => 1,
      handleTask: (context: TaskContext): TaskResult => context.retryCount === 0 ? Task.RETRY : Task.SUCCESS,
    },
  },
  {
    name: "audit",
    eventType: "",
    handler: (context: TaskContext): TaskResult => {
      if (context.eventType === "product/deleted") throw new Error("audit log is read-only today");
      return Task.SUCCESS;
    },
  },
];

try {
  print(`event root: ${root}\n\n1. register listeners (an empty pass creates their inboxes)\n`);
  for (const listener of listeners) {
    await runOnce(root, listener);
    print(`   ${listener.name} listens to ${JSON.stringify(listener.eventType)}\n`);
  }

  print("\n2. dispatch events\n");
  const dispatcher = new Dispatcher(root);
  const events: [string, unknown][] = [
    ["product/created", { product_id: 1 }],
    ["product/created", { product_id: -2 }],
    ["product/deleted", { product_id: 1 }],
  ];
  for (const [eventType, payload] of events) {
    const deliveries = await dispatcher.dispatch(eventType, payload);
    print(
      `   ${eventType} ${JSON.stringify(payload)} -> ${
        deliveries.map((d) => `${d.listener} #${d.sequence}`).join(", ")
      }\n`,
    );
  }

  for (const pass of [1, 2]) {
    print(`\n${pass + 2}. run every listener once (pass ${pass})\n`);
    for (const listener of listeners) {
      const onEvent = (event: RunEvent) => {
        const line = formatEvent(event);
        if (line !== "") print("   " + line); // events the log leaves out (a pass's backlog) print nothing
      };
      const report = await runOnce(root, { ...listener, onEvent });
      if (report.handled === 0) print(`   ${listener.name}: nothing to do\n`);
    }
  }

  print("\n5. the event root now holds\n");
  for await (const line of walk(root, "")) print(`   ${line}\n`);
} finally {
  if (keep) print(`\nkept ${root}\n`);
  else await Deno.remove(root, { recursive: true });
}

/** The parts of a task worth showing: what it carried, how often it was retried, why it failed. */
function summary(task: TaskRecord): string {
  const parts = [`${task.event_type} ${JSON.stringify(task.payload)}`];
  if (task.retry_count) parts.push(`retry_count ${task.retry_count}`);
  const failure = task.failures?.at(-1);
  if (failure) parts.push(`${failure.result}: ${failure.message}`);
  return parts.join(", ");
}

async function* walk(dir: string, prefix: string): AsyncGenerator<string> {
  const entries = await Array.fromAsync(Deno.readDir(dir));
  entries.sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) {
      if (entry.name === "tmp") continue;
      yield `${prefix}${entry.name}/`;
      yield* walk(path, prefix + "  ");
    } else if (entry.name === "tracking.json") {
      const { sequence } = JSON.parse(await Deno.readTextFile(path));
      yield `${prefix}tracking.json  (last sequence ${sequence})`;
    } else if (entry.name.endsWith(".json")) {
      yield `${prefix}${entry.name}  ${summary(JSON.parse(await Deno.readTextFile(path)))}`;
    }
  }
}

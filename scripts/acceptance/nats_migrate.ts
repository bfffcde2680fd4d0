/**
 * Issue 10's migrate acceptance: a file root with 3 listeners (a type, its parent and the root) and 1,000 pending
 * tasks moves to a nats-server with `hurah migrate`; `hurah migrate` again adds nothing; the tasks are then handled
 * on the broker (one `runOnce()` per listener) exactly once each, with their sequences. Prints its measurements;
 * exits 1 when a check fails.
 *
 * ```sh
 * deno run -A scripts/acceptance/nats_migrate.ts [--tasks 1000]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { Dispatcher, runOnce, Task, type TaskContext } from "../../mod.ts";
import { NatsBackend } from "../../src/backend/nats/mod.ts";
import { startNatsServer } from "../../tests/_nats.ts";
import { check } from "./_common.ts";

const { values } = parseArgs({ args: Deno.args, options: { tasks: { type: "string" } } });
const TASKS = Number(values.tasks ?? 1000);
const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));
const LISTENERS = [
  { name: "scaler", eventType: "product/created" },
  { name: "feed", eventType: "product" },
  { name: "log", eventType: "" },
];

/** Runs `hurah <args>` and returns its exit code and standard output. */
async function hurah(args: string[]): Promise<{ code: number; stdout: string; ms: number }> {
  const started = performance.now();
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, ...args],
    stderr: "inherit",
  }).output();
  return { code, stdout: new TextDecoder().decode(stdout), ms: performance.now() - started };
}

await using server = await startNatsServer();
const root = await Deno.makeTempDir({ prefix: "hurah_accept_" });
try {
  for (const listener of LISTENERS) await runOnce(root, { ...listener, handler: () => Task.SUCCESS });
  // About 1,000 pending tasks in all: each event reaches the 3 listeners.
  const events = Math.ceil(TASKS / LISTENERS.length);
  await new Dispatcher(root).dispatchMany(
    Array.from({ length: events }, (_, id) => ({ eventType: "product/created", payload: { id } })),
  );
  const pending = events * LISTENERS.length;
  const migrate = ["migrate", "--root", root, "--broker", server.url];
  const first = await hurah(migrate);
  const second = await hurah(migrate);
  console.log(`first migrate (${(first.ms / 1000).toFixed(1)} s, exit ${first.code}):\n${first.stdout.trimEnd()}`);
  console.log(`second migrate (exit ${second.code}): ${second.stdout.trim().split("\n").at(-1)}`);
  await using backend = await NatsBackend.connect(server.url);
  const seen = new Map<string, number[]>();
  const handleStarted = performance.now();
  for (const listener of LISTENERS) {
    const handled: number[] = [];
    const handler = (context: TaskContext) => {
      handled.push(context.sequence);
      return Task.SUCCESS;
    };
    await runOnce(backend, { ...listener, handler });
    await runOnce(backend, { ...listener, handler }); // a second pass finds nothing more
    seen.set(listener.name, handled);
  }
  const handleS = (performance.now() - handleStarted) / 1000;
  const total = [...seen.values()].reduce((sum, each) => sum + each.length, 0);
  const exact = [...seen.values()].every((each) => each.join(",") === Array.from(each, (_, k) => k + 1).join(","));
  console.log(
    `handled on the broker: ${total} of ${pending} in ${handleS.toFixed(1)} s; per listener: ${
      [...seen].map(([name, each]) => `${name} ${each.length}`).join(", ")
    }`,
  );
  const failures = [
    check(first.code === 0 && first.stdout.includes(`moved ${pending} tasks of 3 listeners`), "first migrate"),
    check(second.code === 0 && second.stdout.includes("moved 0 tasks of 3 listeners"), "second migrate added"),
    check(total === pending, `${total} handled, expected ${pending}`),
    check(exact, "each listener's sequences 1..N, each once, in order"),
  ].filter((ok) => !ok).length;
  console.log(failures === 0 ? "PASS" : `FAIL: ${failures} checks failed`);
  Deno.exitCode = failures === 0 ? 0 : 1; // not Deno.exit(): the server is stopped by its disposal first
} finally {
  await Deno.remove(root, { recursive: true });
}

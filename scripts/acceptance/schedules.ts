/**
 * Acceptance of recurring schedules (issue 12, "Schedules"): three `hurah
 * watch` processes (deno itself, not npx) on one event root, each with the
 * schedule `* * * * *`, run for three minutes of wall time; together they
 * dispatch each minute's tick exactly once: three ticks. Prints what was
 * dispatched, by whom, and exits 1 when a check fails.
 *
 *     deno run -A scripts/acceptance/schedules.ts [--minutes 3]
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { connect } from "../../src/backend/connect.ts";
import { checkListener } from "../../src/protocol/listener_id.ts";

const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));
const EVENT_TYPE = "acceptance/minutely";
const { values } = parseArgs({ args: Deno.args, options: { minutes: { type: "string", default: "3" } } });
const minutes = Number(values.minutes);

const root = await Deno.makeTempDir({ prefix: "hurah_schedules_" });
const failures: string[] = [];
try {
  // A listener nothing works: every tick's task stays in its inbox, to be read at the end.
  await connect({ root }).register(checkListener("collector", EVENT_TYPE));
  const watchers = [1, 2, 3].map((n) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        CLI,
        "watch",
        "idle",
        "idle/never",
        "--exec",
        "true",
        "--schedule",
        `* * * * *=${EVENT_TYPE}`,
        "--log-timestamps",
        root,
      ],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const watcher = { n, child, text: "" };
    (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stderr) watcher.text += decoder.decode(chunk, { stream: true });
    })();
    return watcher;
  });
  const readyBy = Date.now() + 60_000;
  while (!watchers.every((w) => /hurah watch: watching/.test(w.text))) {
    if (Date.now() > readyBy) throw new Error("the watchers did not start within 60 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const started = new Date();
  console.log(`3 watchers ready at ${started.toISOString()}; running ${minutes} minutes of wall time under ${root}`);
  await new Promise((resolve) => setTimeout(resolve, minutes * 60_000));
  const stopped = new Date();
  for (const w of watchers) w.child.kill("SIGTERM");
  for (const w of watchers) {
    const status = await w.child.status;
    if (status.code !== 0) failures.push(`watcher ${w.n} exited ${status.code}:\n${w.text}`);
  }
  // The minute boundaries in (started, stopped]: the ticks that must have been dispatched.
  const expected: string[] = [];
  for (let t = Math.floor(started.getTime() / 60_000 + 1) * 60_000; t <= stopped.getTime(); t += 60_000) {
    expected.push(new Date(t).toISOString());
  }
  console.log(`stopped at ${stopped.toISOString()}; ticks due in between: ${expected.length}`);
  const byWatcher = watchers.flatMap((w) =>
    [...w.text.matchAll(/tick (\S+)(?: \(missed\))? dispatched/g)].map((m) => ({ n: w.n, tick: m[1] }))
  );
  for (const { n, tick } of byWatcher) console.log(`  watcher ${n} dispatched tick ${tick}`);
  const inbox = join(root, "acceptance", "minutely", "collector_listener", "inbox");
  const tasks: { sequence: number; tick: string }[] = [];
  for await (const entry of Deno.readDir(inbox)) {
    const task = JSON.parse(await Deno.readTextFile(join(inbox, entry.name)));
    tasks.push({ sequence: task.sequence, tick: task.payload.tick });
  }
  tasks.sort((a, b) => a.sequence - b.sequence);
  for (const task of tasks) console.log(`  task #${task.sequence}: payload.tick ${task.tick}`);
  const markers = [];
  for await (const dir of Deno.readDir(join(root, ".hurah", "schedules"))) {
    for await (const entry of Deno.readDir(join(root, ".hurah", "schedules", dir.name))) {
      if (entry.name.endsWith(".tick")) markers.push(`${dir.name}/${entry.name}`);
    }
  }
  console.log(`  markers: ${markers.sort().join(", ")}`);
  const ticks = tasks.map((task) => task.tick);
  const check = (ok: boolean, what: string) => {
    console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
    if (!ok) failures.push(what);
  };
  check(expected.length === minutes, `${minutes} minute boundaries in ${minutes} minutes of wall time`);
  check(
    JSON.stringify(ticks) === JSON.stringify(expected),
    `the tasks dispatched are the ticks due, each once: ${ticks.length}`,
  );
  check(byWatcher.length === expected.length, `the watchers report ${byWatcher.length} dispatches in all`);
  check(new Set(byWatcher.map((d) => d.tick)).size === byWatcher.length, "no tick reported by two watchers");
  check(markers.length === expected.length, `one marker per tick: ${markers.length}`);
} finally {
  await Deno.remove(root, { recursive: true });
}
if (failures.length > 0) {
  console.error(`${failures.length} check(s) failed`);
  Deno.exit(1);
}
console.log("all checks passed");

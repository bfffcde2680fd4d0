import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { Progress } from "../../src/cli/_progress.ts";
import { Dispatcher, runOnce, Task } from "../../mod.ts";
import { CLI, tempRoot } from "../_helpers.ts";

Deno.test("Progress shows done/total, rate and ETA, and clears itself around log lines", () => {
  let clock = 0;
  const out: string[] = [];
  const progress = new Progress((text) => out.push(text), () => clock);
  progress.backlog(100);
  clock = 1000;
  for (let i = 0; i < 50; i++) progress.log(`task ${i}\n`, true);
  equal(progress.text(), "50/100 tasks, 50/s, ETA 1s");
  ok(out.includes("50/100 tasks, 50/s, ETA 1s") || out.some((line) => /^\d+\/100 tasks/.test(line)));
  clock = 2000;
  progress.log("last\n", true);
  progress.finish();
  // Every drawn progress line is cleared before the next log line, and none is left at the end.
  out.forEach((line, index) => {
    if (/tasks, /.test(line)) equal(out[index + 1], "\r\x1b[K", `after ${JSON.stringify(line)}`);
  });
  equal(out.filter((line) => /tasks, /.test(line)).length, 2);
});

Deno.test("Progress draws at most ten times a second", () => {
  let clock = 0;
  const out: string[] = [];
  const progress = new Progress((text) => out.push(text), () => clock);
  progress.backlog(1000);
  for (let i = 0; i < 1000; i++) {
    clock += 1; // 1 ms a task: one second in all
    progress.log("", true);
  }
  const draws = out.filter((line) => /tasks, /.test(line)).length;
  ok(draws >= 9 && draws <= 11, `${draws} draws`);
});

Deno.test("Progress stays silent for a backlog of one task", () => {
  const out: string[] = [];
  const progress = new Progress((text) => out.push(text), () => 0);
  progress.backlog(1);
  progress.log("line\n", true);
  progress.finish();
  equal(out.join(""), "line\n");
});

const hasScript = new Deno.Command("sh", { args: ["-c", "command -v script"], stdout: "null" }).outputSync().success;

Deno.test({
  name: "hurah run shows progress on a terminal and none when stderr is a pipe",
  ignore: !hasScript,
  async fn() {
    await using root = await tempRoot();
    const handler = join(root.path, "handler.ts");
    await Deno.writeTextFile(handler, "export default () => 0;\n");
    await runOnce(root.path, { name: "w", eventType: "t", handler: () => Task.SUCCESS });
    const dispatcher = new Dispatcher(root.path, { durable: false });
    for (let i = 0; i < 30; i++) await dispatcher.dispatch("t", i);
    const command = [Deno.execPath(), "run", "-A", "--quiet", CLI, "run", "w", "t", handler, root.path, "--no-fsync"]
      .map((word) => `'${word}'`).join(" ");
    // script(1) gives the command a terminal; its output is what the terminal showed.
    const tty = await new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const shown = new TextDecoder().decode(tty.stdout);
    equal(tty.code, 0, shown);
    match(shown, /\d+\/30 tasks, \d+\/s/);
    match(shown, /w: 30 handled/);
    for (let i = 0; i < 30; i++) await dispatcher.dispatch("t", i);
    const piped = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", CLI, "run", "w", "t", handler, root.path, "--no-fsync"],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(piped.stderr);
    equal(piped.code, 0, stderr);
    ok(!/tasks, /.test(stderr), stderr);
    equal(stderr.split("\n").filter(Boolean).length, 30);
  },
});

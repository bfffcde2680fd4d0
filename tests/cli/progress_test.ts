import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { Progress } from "../../src/cli/_progress.ts";
import { Dispatcher, runOnce, Task } from "../../mod.ts";
import { CLI, exists, tempRoot } from "../_helpers.ts";

Deno.test("Progress shows done/total, rate and ETA, and stays drawn below every log line", () => {
  let clock = 0;
  const out: string[] = [];
  const progress = new Progress((text) => out.push(text), () => clock);
  progress.backlog(100);
  clock = 1000;
  for (let i = 0; i < 50; i++) progress.log(`task ${i}\n`, true);
  equal(progress.text(), "50/100 tasks, 50/s, ETA 1s");
  clock = 2000;
  progress.log("last\n", true);
  // Each write is the old line cleared, the log line, and the progress line again: never a log line without it.
  out.forEach((write, index) => {
    match(write, /tasks, [^\n]*$/, `write ${index} ends with the progress line`);
    if (index > 0) ok(write.startsWith("\r\x1b[K"), `write ${index} clears the line drawn before`);
  });
  ok(out.at(-1)!.endsWith("51/100 tasks, 26/s, ETA 2s"), out.at(-1));
  progress.finish();
  equal(out.at(-1), "\r\x1b[K", "and none is left at the end");
});

Deno.test("Progress computes its figures at most ten times a second, and writes nothing new without cause", () => {
  let clock = 0;
  const out: string[] = [];
  const progress = new Progress((text) => out.push(text), () => clock);
  progress.backlog(1000);
  for (let i = 0; i < 1000; i++) {
    clock += 1; // 1 ms a task: one second in all
    progress.log("", true);
  }
  ok(out.length >= 9 && out.length <= 11, `${out.length} redraws`);
  equal(new Set(out).size, out.length, "each redraw shows new figures");
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

const hasTmux = new Deno.Command("sh", { args: ["-c", "command -v tmux"], stdout: "null" }).outputSync().success;

Deno.test({
  name: hasTmux
    ? "hurah run on 20,000 tasks in tmux: the progress line is on screen in at least 80 % of 40 captures"
    : "skipped: no tmux (the progress line on screen)",
  ignore: !hasTmux,
  async fn() {
    await using root = await tempRoot();
    const handler = join(root.path, "handler.ts");
    await Deno.writeTextFile(handler, "export default () => 0;\n");
    await runOnce(root.path, { name: "w", eventType: "t", handler: () => Task.SUCCESS });
    const total = 20_000;
    await new Dispatcher(root.path, { durable: false }).dispatchMany(
      Array.from({ length: total }, (_, i) => ({ eventType: "t", payload: i })),
    );
    const session = `hurah-progress-${Deno.pid}`;
    const done = join(root.path, "done");
    const command = [Deno.execPath(), "run", "-A", "--quiet", CLI, "run", "w", "t", handler, root.path, "--no-fsync"]
      .map((word) => `'${word}'`).join(" ");
    const tmux = (...args: string[]) =>
      new Deno.Command("tmux", { args, stdout: "piped", stderr: "piped", env: { NO_COLOR: "1" } }).output();
    const started = await tmux(
      "new-session",
      "-d",
      "-s",
      session,
      "-x",
      "120",
      "-y",
      "30",
      `${command}; touch '${done}'; sleep 60`,
    );
    equal(started.code, 0, new TextDecoder().decode(started.stderr));
    try {
      const captures: string[] = [];
      const summary = /w: \d+ handled/;
      // 40 captures while the run handles tasks: from its first task line on, until its summary.
      for (let screen = ""; captures.length < 40 && !summary.test(screen) && !await exists(done);) {
        screen = new TextDecoder().decode((await tmux("capture-pane", "-p", "-t", session)).stdout);
        if (/t\/w #\d+ SUCCESS/.test(screen) && !summary.test(screen)) captures.push(screen);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      ok(captures.length >= 20, `only ${captures.length} captures before the run ended: too fast to tell`);
      const withProgress = captures.filter((screen) => new RegExp(`\\d+/${total} tasks, \\d+/s`).test(screen));
      const share = withProgress.length / captures.length;
      console.log(`progress line on screen in ${withProgress.length} of ${captures.length} captures`);
      ok(share >= 0.8, `progress line on screen in ${withProgress.length} of ${captures.length} captures`);
    } finally {
      await tmux("kill-session", "-t", session);
    }
  },
});

Deno.test("hurah run --quiet prints the summary line and nothing for tasks that succeed", async () => {
  await using root = await tempRoot();
  const handler = join(root.path, "handler.ts");
  await Deno.writeTextFile(handler, "export default (c) => c.payload === 3 ? 3 : 0;\n");
  await runOnce(root.path, { name: "w", eventType: "t", handler: () => Task.SUCCESS });
  const dispatcher = new Dispatcher(root.path, { durable: false });
  for (let i = 0; i < 5; i++) await dispatcher.dispatch("t", i);
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, "run", "w", "t", handler, root.path, "--no-fsync", "--quiet"],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const [stdout, stderr] = [run.stdout, run.stderr].map((bytes) => new TextDecoder().decode(bytes));
  equal(run.code, 0, stderr);
  equal(stdout, "t/w: 5 handled, 4 archived, 1 to error, 0 to retry, 0 quarantined\n");
  // The one problem (INVALID), and nothing else.
  equal(stderr.split("\n").filter(Boolean).length, 1, stderr);
  match(stderr, /t\/w #4 INVALID -> error/);
});

/**
 * `hurah pause`, `resume` and `discard` given bad input: refused with the
 * right exit code, and nothing lost (in-process, through `main()`). Against a
 * running `hurah watch`: tests/integration/control_test.ts.
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher, Layout, listenerPath, runOnce, Task } from "../../mod.ts";
import { main } from "../../src/cli/main.ts";
import type { CliIo } from "../../src/cli/_io.ts";
import { sequencesIn, tempRoot } from "../_helpers.ts";

const ID = "job/worker";

/** Runs `hurah <args>` in this process with `env`; its exit code and output. */
async function cli(args: string[], options: { env?: Record<string, string> } = {}) {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    readStdin: () => Promise.resolve(""),
    env: (name) => options.env?.[name],
    signal: new AbortController().signal,
    color: false,
    stderrIsTerminal: false,
    stdoutIsTerminal: false,
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

Deno.test("hurah pause, resume and discard: bad input is refused and loses nothing", async (t) => {
  await using root = await tempRoot();
  const env = { HURAH_ROOT: root.path, USER: "alice" };
  await runOnce(root.path, { name: "worker", eventType: "job", handler: () => Task.SUCCESS, durable: false });
  const dispatcher = new Dispatcher(root.path, { durable: false });
  for (let n = 0; n < 3; n++) await dispatcher.dispatch("job", { n });
  const inbox = join(root.path, listenerPath("worker", "job"), Layout.INBOX);

  await t.step("unknown sequences: the others are discarded, exit 1", async () => {
    const result = await cli(["discard", ID, "2", "7", "3"], { env });
    equal(result.code, 1);
    equal(result.stdout, "job/worker #2 inbox/ -> error/\njob/worker #3 inbox/ -> error/\n");
    match(result.stderr, /^hurah discard: job\/worker #7 not discarded: not found: no task 7\.json in inbox\//m);
    match(result.stderr, /^hurah discard: 2 of 3 discarded; the others are left where they are$/m);
    deepEqual(sequencesIn(inbox), [1]);
  });
  await t.step("a task discarded already is refused, exit 1", async () => {
    const result = await cli(["discard", ID, "2", "--json"], { env });
    equal(result.code, 1);
    deepEqual(JSON.parse(result.stdout), {
      listener: ID,
      discarded: [],
      refused: [{ sequence: 2, reason: "not pending: it is in error/ already" }],
    });
  });
  await t.step("usage errors exit 2 and touch nothing", async () => {
    for (
      const args of [
        ["discard", ID],
        ["discard", ID, "x1"],
        ["discard", ID, "0"],
        ["discard"],
        ["pause"],
        ["pause", ID, "extra"],
        ["resume"],
        ["discard", ID, "1", "--wait", "1s", "--no-wait"],
      ]
    ) {
      const result = await cli(args, { env });
      equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    }
    deepEqual(sequencesIn(inbox), [1]);
  });
  await t.step("an unknown listener exits 1", async () => {
    for (const command of [["pause", "job/nobody"], ["resume", "job/nobody"], ["discard", "job/nobody", "1"]]) {
      const result = await cli(command, { env });
      equal(result.code, 1, result.stderr);
      match(result.stderr, /run 'hurah status' to list the listeners/);
    }
  });
  await t.step("resume of a listener that is not paused says so, exit 0", async () => {
    const result = await cli(["resume", ID], { env });
    equal(result.code, 0);
    equal(result.stderr, "hurah resume: job/worker is not paused; nothing changed\n");
  });
  await t.step("each command has its help and is listed", async () => {
    const help = await cli(["--help"]);
    for (const command of ["pause", "resume", "discard"]) {
      match(help.stdout, new RegExp(`^  ${command} `, "m"));
      const own = await cli([command, "--help"]);
      equal(own.code, 0);
      ok(own.stdout.startsWith(`Usage: hurah ${command} <listener>`), own.stdout);
      match(own.stdout, /\nExit codes: /);
    }
  });
});

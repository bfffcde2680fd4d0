/**
 * How `hurah` reports errors: one line `hurah <command>: <message>`, exit 2
 * for bad input and 1 for the environment, no stack unless HURAH_DEBUG=1.
 */
import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { CLI, type CliResult, runCli, tempRoot } from "../_helpers.ts";

/** Asserts the exit code and exactly one line on stderr, without stack frames, holding `expected`. */
function assertOneLine(result: CliResult, command: string, code: number, expected: RegExp): void {
  equal(result.code, code, `exit code ${result.code}, stderr: ${result.stderr}`);
  const lines = result.stderr.trimEnd().split("\n");
  equal(lines.length, 1, `more than one line on stderr:\n${result.stderr}`);
  ok(lines[0].startsWith(`hurah ${command}: `), lines[0]);
  ok(expected.test(lines[0]), `${JSON.stringify(lines[0])} does not match ${expected}`);
  ok(!/^\s+at /m.test(result.stderr), `a stack trace on stderr:\n${result.stderr}`);
}

Deno.test("main() reports a payload nested 4,000 deep as one line, exit 2", async () => {
  await using root = await tempRoot();
  const payload = "[".repeat(4000) + "]".repeat(4000);
  const result = await runCli(["dispatch", "product", payload, "--root", root.path]);
  equal(result.code, 2, result.stderr);
  const [message, hint, ...rest] = result.stderr.trimEnd().split("\n");
  ok(/^hurah dispatch: Payload cannot be stored as JSON: payload\[0\].* is nested deeper than 510/.test(message));
  ok(hint.startsWith("Run 'hurah dispatch --help'"), hint);
  equal(rest.length, 0, result.stderr);
});

Deno.test("main() reports --root pointing at a file as one line, exit 2 (run and watch)", async () => {
  await using root = await tempRoot();
  const file = join(root.path, "a-file");
  await Deno.writeTextFile(file, "");
  const handler = join(root.path, "handler.ts");
  await Deno.writeTextFile(handler, "export default () => 0;\n");
  for (const command of ["run", "watch"]) {
    const result = await runCli([command, "worker", "product", handler, "--root", file]);
    equal(result.code, 2, `${command}: ${result.stderr}`);
    const [message, ...rest] = result.stderr.trimEnd().split("\n");
    ok(message.startsWith(`hurah ${command}: Refusing ${file}: the event root is not a directory`), message);
    ok(rest.length <= 1 && !/^\s+at /m.test(result.stderr), result.stderr);
  }
});

const IS_ROOT = Deno.uid() === 0;
if (!IS_ROOT) console.log("skipped: the ENOSPC test mounts a small tmpfs, which needs root");

Deno.test({
  name: "main() reports a full file system during a dispatch as one line, exit 1; HURAH_DEBUG=1 adds the stack",
  ignore: !IS_ROOT,
}, async (t) => {
  await using root = await tempRoot();
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=256k", "tmpfs", root.path],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!mount.success) {
    console.log(`skipped: mount -t tmpfs failed (${new TextDecoder().decode(mount.stderr).trim()}); needs root`);
    return;
  }
  try {
    const handler = join(root.path, "handler.ts");
    await Deno.writeTextFile(handler, "export default () => 0;\n");
    const registered = await runCli(["run", "worker", "product", handler, "--root", root.path]);
    equal(registered.code, 0, registered.stderr);
    // Fill the file system, leaving no block free.
    const filler = await Deno.open(join(root.path, "filler"), { write: true, create: true });
    try {
      const block = new Uint8Array(4096);
      for (;;) await filler.write(block);
    } catch (error) {
      if (!(error instanceof Error) || !/No space left/i.test(error.message)) throw error;
    } finally {
      filler.close();
    }
    const payload = JSON.stringify({ text: "x".repeat(8192) });
    await t.step("one line", async () => {
      const result = await runCli(["dispatch", "product", payload, "--root", root.path]);
      assertOneLine(result, "dispatch", 1, /No space left on device/);
    });
    await t.step("HURAH_DEBUG=1: the stack too", async () => {
      const result = await runCli(["dispatch", "product", payload, "--root", root.path], { env: { HURAH_DEBUG: "1" } });
      equal(result.code, 1, result.stderr);
      ok(result.stderr.startsWith("hurah dispatch: "), result.stderr);
      ok(/^\s+at /m.test(result.stderr), `no stack with HURAH_DEBUG=1:\n${result.stderr}`);
    });
  } finally {
    await new Deno.Command("umount", { args: [root.path] }).output();
  }
});

Deno.test("main() ends quietly when standard output is closed (inspect | head)", async () => {
  await using root = await tempRoot();
  const handler = join(root.path, "handler.ts");
  await Deno.writeTextFile(handler, "export default () => 0;\n");
  equal((await runCli(["run", "worker", "product", handler, "--root", root.path])).code, 0);
  const payload = join(root.path, "payload.json");
  await Deno.writeTextFile(payload, JSON.stringify(Array.from({ length: 20_000 }, (_, k) => ({ line: k }))));
  equal((await runCli(["dispatch", "product", `@${payload}`, "--root", root.path])).code, 0);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, "inspect", "product/worker", "1", "--root", root.path],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await child.stdout.cancel(); // as `head` does once it has what it wants
  const stderr = await new Response(child.stderr).text();
  const { code } = await child.status;
  equal(stderr, "", "something on stderr");
  equal(code, 141, "exit code 141 (128 + SIGPIPE), as a command killed by SIGPIPE");
});

Deno.test("main() reports a symbolic link in the root as one line, exit 1, with no usage hint", async (t) => {
  await using root = await tempRoot();
  const events = join(root.path, "events");
  const outside = join(root.path, "outside");
  await Deno.mkdir(events);
  await Deno.mkdir(outside);
  await Deno.symlink(outside, join(events, "product"));
  const handler = join(root.path, "handler.ts");
  await Deno.writeTextFile(handler, "export default () => 0;\n");
  for (const args of [["dispatch", "product", "{}"], ["run", "worker", "product", handler]]) {
    await t.step(args[0], async () => {
      const result = await runCli([...args, "--root", events]);
      assertOneLine(result, args[0], 1, /symbolic link/);
      ok(!result.stderr.includes("--help"), result.stderr);
    });
  }
  equal((await Array.fromAsync(Deno.readDir(outside))).length, 0, "nothing written through the link");
});

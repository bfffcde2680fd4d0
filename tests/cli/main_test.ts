import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { PROJECT, runCli, tempRoot } from "../_helpers.ts";

Deno.test("hurah dispatch then hurah run handles the task", async () => {
  await using root = await tempRoot();
  const handler = `${root.path}/handler.ts`;
  await Deno.writeTextFile(handler, "export default () => 0;\n");
  const register = await runCli(["run", "worker", "product", handler, root.path]);
  equal(register.code, 0, register.stderr);
  const dispatched = await runCli(["dispatch", "product/created", '{"product_id":1}', "--root", root.path]);
  equal(dispatched.code, 0, dispatched.stderr);
  match(dispatched.stdout, /^worker 1 .*product\/worker_listener\/inbox\/1\.json\n$/);
  const run = await runCli(["run", "worker", "product", handler], { env: { HURAH_ROOT: root.path } });
  equal(run.code, 0, run.stderr);
  match(run.stderr, /worker #1 SUCCESS -> archive/);
  const archived = JSON.parse(await Deno.readTextFile(`${root.path}/product/worker_listener/archive/1.json`));
  deepEqual(archived.payload, { product_id: 1 });
});

const COMMANDS = ["dispatch", "run", "watch", "systemd"];

Deno.test("hurah --help, -h and help print the commands and exit 0", async (t) => {
  const { version } = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  for (const args of [["--help"], ["-h"], ["help"]]) {
    await t.step(args.join(" "), async () => {
      const result = await runCli(args);
      equal(result.code, 0, result.stderr);
      equal(result.stderr, "");
      ok(result.stdout.startsWith(`hurah ${version}: `), result.stdout);
      for (const command of COMMANDS) match(result.stdout, new RegExp(`^  ${command} `, "m"));
      match(result.stdout, /Run 'hurah <command> --help'/);
    });
  }
  await t.step("no command at all is a usage error that shows the help", async () => {
    const result = await runCli([]);
    equal(result.code, 2);
    ok(result.stdout.startsWith(`hurah ${version}: `), result.stdout);
  });
});

Deno.test("hurah --version and -V print the version from deno.json", async () => {
  const { version } = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  for (const flag of ["--version", "-V"]) {
    const result = await runCli([flag]);
    equal(result.code, 0, result.stderr);
    deepEqual([result.stdout, result.stderr], [`hurah ${version}\n`, ""]);
  }
});

Deno.test("hurah with an unknown command exits 2 with one line, naming the nearest command", async (t) => {
  const cases: [string[], string][] = [
    [["dispath", "product/created"], `hurah: unknown command "dispath"; did you mean 'dispatch'? `],
    [["help", "stauts"], `hurah: unknown command "stauts"; did you mean 'status'? `],
    [["frobnicate"], `hurah: unknown command "frobnicate"; `],
    [["help", "bogus"], `hurah: unknown command "bogus"; `],
  ];
  for (const [args, line] of cases) {
    await t.step(args.join(" "), async () => {
      const result = await runCli(args);
      equal(result.code, 2);
      equal(result.stdout, "");
      equal(result.stderr, `${line}run 'hurah --help' for the list of commands\n`);
    });
  }
});

Deno.test("hurah <command> --help prints the command's usage and exits 0", async (t) => {
  for (const command of COMMANDS) {
    await t.step(command, async () => {
      const result = await runCli([command, "--help"]);
      equal(result.code, 0, result.stderr);
      equal(result.stderr, "");
      ok(result.stdout.startsWith(`Usage: hurah ${command} `), result.stdout);
      match(result.stdout, /\nExit codes: /);
      const short = await runCli([command, "-h"]);
      equal(short.stdout, result.stdout);
      const help = await runCli(["help", command]);
      equal(help.code, 0);
      equal(help.stdout, result.stdout);
    });
  }
});

Deno.test("hurah usage errors exit 2 with one line and where to find help", async (t) => {
  await using root = await tempRoot();
  const cases: { args: string[]; expected: RegExp }[] = [
    { args: ["dispatch"], expected: /missing <event_type>/ },
    { args: ["dispatch", "a", "{}", "extra"], expected: /expected <event_type> \[payload\], found 3 arguments/ },
    { args: ["dispatch", "product", "{not json", "--root", root.path], expected: /is not valid JSON/ },
    { args: ["dispatch", "product//created", "--root", root.path], expected: /Invalid event type/ },
    { args: ["dispatch", "product"], expected: /no event root given/ },
    { args: ["run", "--bogus"], expected: /unknown option --bogus/ },
    { args: ["run", "worker", "product"], expected: /expected <handler_name> <event_type> <handler>/ },
    {
      args: ["run", "worker", "product", "--exec", "true", root.path, "--max-attempts", "x"],
      expected: /--max-attempts/,
    },
    {
      args: ["run", "worker", "product", "--exec", "true", root.path, "--log-format", "xml"],
      expected: /--log-format/,
    },
    { args: ["run", "Bad Name", "product", "--exec", "true", root.path], expected: /Invalid handler name/ },
    { args: ["watch", "worker", "product", "--exec", "true", root.path, "--grace", "soon"], expected: /--grace/ },
    {
      args: ["watch", "--config", "x.json", "--exec", "true"],
      expected: /does not go with --config|do not go together/,
    },
    { args: ["systemd"], expected: /expected <handler_name> <event_type> <handler>/ },
  ];
  for (const { args, expected } of cases) {
    await t.step(args.join(" "), async () => {
      const result = await runCli(args, { env: { HURAH_ROOT: "" } });
      equal(result.code, 2, result.stderr);
      equal(result.stdout, "");
      const lines = result.stderr.split("\n");
      deepEqual(lines.slice(1), [`Run 'hurah ${args[0]} --help' for usage.`, ""], result.stderr);
      ok(lines[0].startsWith(`hurah ${args[0]}: `), lines[0]);
      match(lines[0], expected);
    });
  }
  deepEqual([...Deno.readDirSync(root.path)], [], "nothing written");
});

Deno.test("deno task hurah runs in the caller's working directory: relative paths are the caller's", async () => {
  await using dir = await tempRoot();
  await Deno.writeTextFile(join(dir.path, "h.ts"), "export default () => 0;\n");
  const task = await new Deno.Command(Deno.execPath(), {
    args: [
      "task",
      "-q",
      "--config",
      join(PROJECT, "deno.json"),
      "hurah",
      "run",
      "w",
      "t",
      "./h.ts",
      "./events",
      "--create-root",
    ],
    cwd: dir.path,
    // As a user's shell runs it: without the INIT_CWD of an outer `deno task` (this suite's), which deno keeps.
    clearEnv: true,
    env: Object.fromEntries(
      ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"].flatMap((name) => {
        const value = Deno.env.get(name);
        return value === undefined ? [] : [[name, value]];
      }).concat([["NO_COLOR", "1"]]),
    ),
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(task.code, 0, new TextDecoder().decode(task.stderr));
  ok(
    (await Deno.stat(join(dir.path, "events", "t", "w_listener", "inbox"))).isDirectory,
    "the root made where the caller is",
  );
});

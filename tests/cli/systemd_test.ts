/**
 * Acceptance: the output of `hurah systemd …` passes `systemd-analyze
 * verify` (when this machine has it), and always a structural test: the
 * settings that matter, and an ExecStart that systemd's own quoting rules
 * turn back into the very `hurah watch` command line, which then really
 * watches and runs the exec command intact.
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher, Layout, listenerPath } from "../../mod.ts";
import { CLI, exists, runCli, spawnCli, stopChild, tempRoot, waitUntil } from "../_helpers.ts";

const SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze";

/** The unit's settings, section by section, each key with its values in order. */
type Unit = Record<string, Record<string, string[]>>;

function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section: Record<string, string[]> | undefined;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = unit[header[1]] = {};
      continue;
    }
    const at = line.indexOf("=");
    ok(section !== undefined && at > 0, `a setting outside a section, or not key=value: ${line}`);
    (section[line.slice(0, at)] ??= []).push(line.slice(at + 1));
  }
  return unit;
}

/** The one value of a setting. */
function value(unit: Unit, section: string, key: string): string {
  const values = unit[section]?.[key];
  equal(values?.length, 1, `[${section}] ${key}= appears ${values?.length ?? 0} times`);
  return values![0];
}

const C_ESCAPES: Record<string, string> = {
  "\\": "\\",
  '"': '"',
  "'": "'",
  n: "\n",
  t: "\t",
  r: "\r",
  s: " ",
};

/**
 * Splits a setting into words as systemd does (extract_first_word with
 * EXTRACT_UNQUOTE, plus EXTRACT_CUNESCAPE for command lines): whitespace
 * separates words, single or double quotes group, a backslash escapes.
 */
function splitWords(text: string, cUnescape: boolean): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") {
      const next = text[++i];
      ok(next !== undefined, `a trailing backslash in ${text}`);
      const unescaped = cUnescape ? C_ESCAPES[next] : next;
      ok(unescaped !== undefined, `an escape \\${next} this test does not know, in ${text}`);
      word = (word ?? "") + unescaped;
    } else if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= "";
    } else if (c === " " || c === "\t") {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? "") + c;
    }
  }
  ok(quote === undefined, `an unterminated quote in ${text}`);
  if (word !== undefined) words.push(word);
  return words;
}

/** Expands specifiers: only `%%` is expected; any other would be replaced by systemd. */
function unSpecifier(text: string): string {
  return text.replace(/%(.?)/g, (_, next: string) => {
    equal(next, "%", `an unescaped specifier %${next} in ${text}`);
    return "%";
  });
}

/** Expands variables in a command line: only `$$` is expected; `$X` would be replaced by systemd. */
function unDollar(text: string): string {
  return text.replace(/\$(.?)/g, (_, next: string) => {
    equal(next, "$", `an unescaped variable $${next} in ${text}`);
    return "$";
  });
}

/** ExecStart= as the argv systemd would run. */
function execStart(unit: Unit): string[] {
  return splitWords(value(unit, "Service", "ExecStart"), true).map((word) => unDollar(unSpecifier(word)));
}

/** A path-list setting (ReadWritePaths=, RequiresMountsFor=) as paths. */
function paths(unit: Unit, section: string, key: string): string[] {
  return splitWords(value(unit, section, key), false).map(unSpecifier);
}

/** Whether this machine has systemd-analyze; without it only the structural checks run. */
const HAS_ANALYZE = (() => {
  try {
    return Deno.statSync(SYSTEMD_ANALYZE).isFile;
  } catch {
    return false;
  }
})();

/** A step running `systemd-analyze verify` on the unit; shown as ignored where it cannot run. */
function verify(t: Deno.TestContext, text: string, dir: string): Promise<boolean> {
  return t.step({
    name: "systemd-analyze verify accepts the unit",
    ignore: !HAS_ANALYZE,
    async fn() {
      const file = join(dir, "hurah-test.service");
      await Deno.writeTextFile(file, text);
      const { code, stdout, stderr } = await new Deno.Command(SYSTEMD_ANALYZE, {
        args: ["verify", file],
        env: { SYSTEMD_LOG_COLOR: "0", SYSTEMD_PAGER: "" },
      }).output();
      const decoder = new TextDecoder();
      const said = decoder.decode(stderr) + decoder.decode(stdout);
      equal(said, "", `systemd-analyze verify said:\n${said}\nabout:\n${text}`);
      equal(code, 0, "systemd-analyze verify exit code");
    },
  });
}

/** Prints the unit for `args`, run from `cwd`. */
async function systemd(args: string[], cwd: string): Promise<{ text: string; unit: Unit }> {
  const result = await runCli(["systemd", ...args], { cwd });
  equal(result.code, 0, result.stderr);
  equal(result.stderr, "");
  return { text: result.stdout, unit: parseUnit(result.stdout) };
}

/** The settings every unit must have, whatever the handlers. */
function assertCommonSettings(unit: Unit, root: string, cwd: string, graceSeconds: number): void {
  equal(value(unit, "Service", "Type"), "exec");
  equal(value(unit, "Service", "Restart"), "on-failure");
  equal(value(unit, "Service", "KillSignal"), "SIGTERM");
  equal(value(unit, "Service", "KillMode"), "mixed");
  const stop = /^(\d+)s$/.exec(value(unit, "Service", "TimeoutStopSec"));
  ok(stop && Number(stop[1]) >= graceSeconds + 1, `TimeoutStopSec=${stop?.[1]} after a grace of ${graceSeconds} s`);
  equal(value(unit, "Service", "NoNewPrivileges"), "yes");
  equal(value(unit, "Service", "ProtectSystem"), "strict");
  deepEqual(paths(unit, "Service", "ReadWritePaths"), [root]);
  deepEqual(paths(unit, "Unit", "RequiresMountsFor"), [root]);
  equal(unSpecifier(value(unit, "Service", "WorkingDirectory")), cwd);
  equal(value(unit, "Install", "WantedBy"), "multi-user.target");
}

/** What ExecStart must run: this deno, this cli.ts, `watch`. */
const HURAH = [Deno.execPath(), "run", "-A", "--v8-flags=--max-semi-space-size=1", CLI, "watch"];

Deno.test("hurah systemd: a module handler", async (t) => {
  await using tmp = await tempRoot();
  await Deno.mkdir(join(tmp.path, "handlers"));
  await Deno.writeTextFile(join(tmp.path, "handlers", "scaler.ts"), "export default () => 0;\n");
  const { text, unit } = await systemd(
    ["image_scaler", "product/created", "./handlers/scaler.ts", "./events", "--grace", "30s", "--timeout", "2m"],
    tmp.path,
  );
  const root = join(tmp.path, "events");
  assertCommonSettings(unit, root, tmp.path, 30);
  deepEqual(execStart(unit), [
    ...HURAH,
    "image_scaler",
    "product/created",
    join(tmp.path, "handlers", "scaler.ts"),
    "--root",
    root,
    "--grace",
    "30s",
    "--rescan-interval",
    "10s",
    "--timeout",
    "2m",
  ]);
  equal(unit.Service.User, undefined);
  await verify(t, text, tmp.path);
});

Deno.test("hurah systemd: an exec handler with spaces, quotes, % and $ in the command and the root", async (t) => {
  await using tmp = await tempRoot();
  // A working directory and a root with a space, a %, a $ and a quote in their names.
  const cwd = join(tmp.path, "my app 100%$HOME'");
  await Deno.mkdir(cwd);
  const command = `printf '%s|%s|%s\\n' "$HURAH_LISTENER" "it's 100% \\"done\\"" '$HOME' > "$OUT_FILE"`;
  const { text, unit } = await systemd(
    [
      "mailer",
      "user/signup",
      "--exec",
      command,
      "--root",
      "./events $x",
      "--grace",
      "1s",
      "--max-attempts",
      "3",
      "--max-lost",
      "5",
      "--log-format",
      "json",
      "--no-fsync",
      "--service-user",
      "www-data",
    ],
    cwd,
  );
  const root = join(cwd, "events $x");
  assertCommonSettings(unit, root, cwd, 1);
  const argv = execStart(unit);
  deepEqual(argv, [
    ...HURAH,
    "mailer",
    "user/signup",
    "--exec",
    command,
    "--root",
    root,
    "--grace",
    "1s",
    "--rescan-interval",
    "10s",
    "--max-attempts",
    "3",
    "--max-lost",
    "5",
    "--log-format",
    "json",
    "--no-fsync",
  ]);
  equal(value(unit, "Service", "User"), "www-data");
  equal(value(unit, "Service", "Group"), "www-data");
  match(value(unit, "Unit", "Description"), /^hurah watch mailer under .*100%%\$HOME'/);
  await verify(t, text, tmp.path);

  // The command line systemd would run really watches, and the command arrives intact.
  await Deno.mkdir(root);
  const out = join(tmp.path, "out.txt");
  const child = spawnCli(argv.slice(HURAH.length - 1), { env: { OUT_FILE: out } });
  const stderr = child.stderr.pipeThrough(new TextDecoderStream());
  let said = "";
  const reading = (async () => {
    for await (const chunk of stderr) said += chunk;
  })();
  let exited = false;
  try {
    const listening = join(root, listenerPath("mailer", "user/signup"), Layout.INBOX);
    await waitUntil(() => `the watcher to register; stderr: ${said}`, () => exists(listening));
    await new Dispatcher(root, { durable: false }).dispatch("user/signup", { id: 1 });
    const archive = join(root, listenerPath("mailer", "user/signup"), Layout.ARCHIVE, "1.json");
    await waitUntil(() => `the task to be archived; stderr: ${said}`, () => exists(archive));
    child.kill("SIGTERM");
    equal((await child.status).code, 0, said);
    exited = true;
  } finally {
    if (!exited) await stopChild(child);
    await child.stdout.cancel();
    await reading;
  }
  equal(await Deno.readTextFile(out), `mailer|it's 100% "done"|$HOME\n`);
});

Deno.test("hurah systemd: a config file", async (t) => {
  await using tmp = await tempRoot();
  const conf = join(tmp.path, "conf");
  await Deno.mkdir(conf);
  await Deno.writeTextFile(
    join(conf, "hurah.json"),
    JSON.stringify({
      root: "../var/events",
      handlers: [
        { name: "scaler", eventType: "product/created", module: "./scaler.ts" },
        { name: "mailer", eventType: "user", exec: "php mail.php" },
      ],
    }),
  );
  const { text, unit } = await systemd(["--config", "conf/hurah.json", "--grace", "45s"], tmp.path);
  const root = join(tmp.path, "var", "events");
  assertCommonSettings(unit, root, tmp.path, 45);
  deepEqual(execStart(unit), [
    ...HURAH,
    "--config",
    join(conf, "hurah.json"),
    "--root",
    root,
    "--grace",
    "45s",
    "--rescan-interval",
    "10s",
  ]);
  match(value(unit, "Unit", "Description"), /^hurah watch scaler, mailer under /);
  await verify(t, text, tmp.path);
});

Deno.test("hurah systemd: usage errors exit 2 with one line", async (t) => {
  await using tmp = await tempRoot();
  const cases: { what: string; args: string[]; expected: RegExp }[] = [
    {
      what: "a bad service user",
      args: ["m", "x", "--exec", "true", "r", "--service-user", "a b"],
      expected: /--service-user "a b" is not a valid user name/,
    },
    {
      what: "a bad handler name",
      args: ["bad name", "x", "--exec", "true", "r"],
      expected: /Invalid handler name "bad name"/,
    },
    {
      what: "a bad grace",
      args: ["m", "x", "--exec", "true", "r", "--grace", "later"],
      expected: /--grace must be a duration/,
    },
    { what: "no root", args: ["m", "x", "--exec", "true"], expected: /no event root given/ },
  ];
  for (const { what, args, expected } of cases) {
    await t.step(what, async () => {
      const result = await runCli(["systemd", ...args], { cwd: tmp.path, env: { HURAH_ROOT: "" } });
      equal(result.code, 2, result.stderr);
      equal(result.stdout, "");
      const lines = result.stderr.split("\n");
      deepEqual(lines.slice(1), ["Run 'hurah systemd --help' for usage.", ""], result.stderr);
      match(lines[0], expected);
    });
  }
});

Deno.test("hurah systemd: --archive, --host-id, --lease and --max-task-size are refused as hurah run refuses them", async (t) => {
  await using tmp = await tempRoot();
  await Deno.mkdir(join(tmp.path, "r"));
  const cases: { what: string; option: string[] }[] = [
    { what: "a lease that is no duration", option: ["--lease", "bogus"] },
    { what: "a lease of 0", option: ["--lease", "0"] },
    { what: "a host id with a slash", option: ["--host-id", "a/b"] },
    { what: "an unknown archive policy", option: ["--archive", "sometimes"] },
    { what: "a task size of 0", option: ["--max-task-size", "0"] },
    { what: "a task size that is no size", option: ["--max-task-size", "lots"] },
  ];
  for (const { what, option } of cases) {
    await t.step(what, async () => {
      const args = ["m", "x", "--exec", "true", "r", ...option];
      const run = await runCli(["run", ...args], { cwd: tmp.path, env: { HURAH_ROOT: "" } });
      equal(run.code, 2, `hurah run: ${run.stderr}`);
      const result = await runCli(["systemd", ...args], { cwd: tmp.path, env: { HURAH_ROOT: "" } });
      equal(result.code, 2, result.stderr);
      equal(result.stdout, "");
      deepEqual(result.stderr.split("\n"), [
        run.stderr.split("\n")[0].replace(/^hurah run: /, "hurah systemd: "),
        "Run 'hurah systemd --help' for usage.",
        "",
      ]);
    });
  }
});

Deno.test("hurah systemd: valid parallel, archive and task size options go into ExecStart as given", async () => {
  await using tmp = await tempRoot();
  const { unit } = await systemd([
    "mailer",
    "user",
    "--exec",
    "true",
    "./events",
    "--concurrency",
    "4",
    "--host-id",
    "web-1",
    "--lease",
    "45s",
    "--archive",
    "7d",
    "--max-task-size",
    "16MiB",
  ], tmp.path);
  deepEqual(execStart(unit), [
    ...HURAH,
    "mailer",
    "user",
    "--exec",
    "true",
    "--root",
    join(tmp.path, "events"),
    "--grace",
    "10s",
    "--rescan-interval",
    "10s",
    "--concurrency",
    "4",
    "--host-id",
    "web-1",
    "--lease",
    "45s",
    "--archive",
    "7d",
    "--max-task-size",
    "16MiB",
  ]);
});

Deno.test("hurah systemd --serve: a unit for hurah serve, its token in an EnvironmentFile, never on the command line", async (t) => {
  await using tmp = await tempRoot();
  const serve = [Deno.execPath(), "run", "-A", "--v8-flags=--max-semi-space-size=1", CLI, "serve"];
  const local = await systemd(
    ["--serve", "--root", "./events", "--max-errors", "3", "--service-user", "hurah"],
    tmp.path,
  );
  const root = join(tmp.path, "events");
  assertCommonSettings(local.unit, root, tmp.path, 0);
  deepEqual(execStart(local.unit), [...serve, "--root", root, "--listen", "127.0.0.1:8377", "--max-errors", "3"]);
  equal(local.unit.Service.EnvironmentFile, undefined);
  equal(value(local.unit, "Service", "User"), "hurah");
  await verify(t, local.text, tmp.path);
  const token = "a-token-of-thirty-two-characters";
  const result = await runCli(["systemd", "--serve", "--root", root, "--listen", "0.0.0.0:8377", "--token", token], {
    cwd: tmp.path,
  });
  equal(result.code, 0, result.stderr);
  ok(!result.stdout.includes(token), "the token is not in the unit");
  const remote = parseUnit(result.stdout);
  deepEqual(execStart(remote), [...serve, "--root", root, "--listen", "0.0.0.0:8377"]);
  equal(value(remote, "Service", "EnvironmentFile"), "-/etc/hurah/serve.env");
  const readOnly = await systemd(["--serve", "--root", root, "--read-only"], tmp.path);
  equal(readOnly.unit.Service.ReadWritePaths, undefined, "a read-only dashboard writes nothing");
  const refused = await runCli(["systemd", "--serve", "--root", root, "--listen", "0.0.0.0:8377"], { cwd: tmp.path });
  equal(refused.code, 2);
  match(refused.stderr, /without a token/);
});

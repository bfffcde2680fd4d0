/**
 * Acceptance: the output of `hurah systemd …` passes `systemd-analyze
 * verify` and is rated at most 2.5 ("OK") by `systemd-analyze security`
 * (when this machine has it), and always a structural test: the settings
 * that matter, and an ExecStart that systemd's own quoting rules turn back
 * into the very `hurah watch` command line, which then really watches, with
 * the Deno permissions of the unit, and as the service user, and runs the
 * exec command intact. The refusals (a deno in npx's cache, a handler module
 * that does not exist) and the warnings (no service user, a path under /tmp).
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { dirname, join } from "node:path";
import { Dispatcher, Layout, listenerPath } from "../../mod.ts";
import { packageCache } from "../../src/cli/_unit.ts";
import { CLI, exists, runCli, stopChild, tempRoot, waitUntil } from "../_helpers.ts";

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

/** Runs systemd-analyze on the unit saved as `hurah-test.service` in `dir`. */
async function analyze(text: string, dir: string, args: string[]): Promise<{ code: number; said: string }> {
  const file = join(dir, "hurah-test.service");
  await Deno.writeTextFile(file, text);
  const { code, stdout, stderr } = await new Deno.Command(SYSTEMD_ANALYZE, {
    args: [...args, file],
    env: { SYSTEMD_LOG_COLOR: "0", SYSTEMD_PAGER: "", SYSTEMD_COLORS: "0" },
  }).output();
  const decoder = new TextDecoder();
  return { code, said: decoder.decode(stderr) + decoder.decode(stdout) };
}

/** A step running `systemd-analyze verify` on the unit; shown as ignored where it cannot run. */
function verify(t: Deno.TestContext, text: string, dir: string): Promise<boolean> {
  return t.step({
    name: HAS_ANALYZE ? "systemd-analyze verify accepts the unit" : "skipped: no systemd-analyze (verify)",
    ignore: !HAS_ANALYZE,
    async fn() {
      const { code, said } = await analyze(text, dir, ["verify"]);
      equal(said, "", `systemd-analyze verify said:\n${said}\nabout:\n${text}`);
      equal(code, 0, "systemd-analyze verify exit code");
    },
  });
}

/** The highest exposure `systemd-analyze security` may rate a unit: "OK" ends at 2.5. */
const MAX_EXPOSURE = 2.5;

/** A step asserting that `systemd-analyze security --offline=yes` rates the unit at most 2.5. */
function security(t: Deno.TestContext, text: string, dir: string): Promise<boolean> {
  return t.step({
    name: HAS_ANALYZE
      ? `systemd-analyze security rates the unit at most ${MAX_EXPOSURE}`
      : "skipped: no systemd-analyze (security)",
    ignore: !HAS_ANALYZE,
    async fn() {
      const { code, said } = await analyze(text, dir, ["security", "--offline=yes"]);
      equal(code, 0, said);
      const score = /Overall exposure level for hurah-test\.service: (\d+\.\d+) (\w+)/.exec(said);
      ok(score, `no exposure level in:\n${said}`);
      ok(Number(score[1]) <= MAX_EXPOSURE, `exposure ${score[1]} ${score[2]}:\n${said}\nof:\n${text}`);
      equal(score[2], "OK");
    },
  });
}

/**
 * Where the tests put what a unit runs: outside /tmp (which PrivateTmp=
 * would hide), /home and /root (ProtectHome=), /var/lib (StateDirectory=),
 * in a directory every user may enter. Only root may write there: as
 * another user, the tests that need it are skipped.
 */
const SERVICE_BASE = Deno.uid() === 0 ? "/srv" : undefined;
/** Why a test that needs SERVICE_BASE is skipped. */
const NOT_ROOT = "skipped: not root (needs a directory under /srv)";

/** A fresh directory under /srv, removed by `[Symbol.asyncDispose]`. */
async function serviceDir(): Promise<AsyncDisposable & { path: string }> {
  ok(SERVICE_BASE !== undefined, NOT_ROOT);
  await Deno.mkdir(SERVICE_BASE, { recursive: true });
  const path = await Deno.makeTempDir({ dir: SERVICE_BASE, prefix: "hurah_test_" });
  await Deno.chmod(path, 0o755);
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * A deno binary that the service user may run, in `dir`: the deno running
 * the tests lies in npx's cache under /root (on CI), which `hurah systemd`
 * refuses. A hard link where the file system allows, else a copy.
 */
async function serviceDeno(dir: string): Promise<string> {
  await Deno.mkdir(join(dir, "bin"), { mode: 0o755 });
  const path = join(dir, "bin", "deno");
  const source = await Deno.realPath(Deno.execPath());
  await Deno.link(source, path).catch(() => Deno.copyFile(source, path));
  return path;
}

/** `Deno.test` of a test that needs a directory under /srv: ignored, and named so, where there is none. */
function serviceTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test({ name: SERVICE_BASE === undefined ? `${name} (${NOT_ROOT})` : name, ignore: !SERVICE_BASE, fn });
}

/**
 * This checkout's cli.ts if the service user can read it (the checkout may lie
 * in a directory only root may enter), else a copy of the project in `dir`.
 */
async function cliNobodyCanRead(dir: string, asNobody: string[]): Promise<string> {
  const readable = await new Deno.Command("/usr/bin/setpriv", { args: [...asNobody, "test", "-r", CLI] }).output();
  if (readable.success) return CLI;
  const copy = join(dir, "hurah");
  const project = dirname(CLI);
  await Deno.mkdir(copy, { recursive: true, mode: 0o755 });
  const cp = await new Deno.Command("cp", {
    args: ["-r", ...["mod.ts", "cli.ts", "deno.json", "deno.lock", "src"].map((name) => join(project, name)), copy],
  }).output();
  equal(cp.code, 0, new TextDecoder().decode(cp.stderr));
  await new Deno.Command("chmod", { args: ["-R", "a+rX", copy] }).output();
  return join(copy, "cli.ts");
}

/** What `hurah systemd …`, run from `cwd`, printed. */
async function systemdRun(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return await runCli(["systemd", ...args], { cwd, env: { HURAH_ROOT: "" } });
}

/**
 * Whether this checkout lies under /tmp or /var/tmp (a clone made by
 * `mktemp -d`): every unit then runs a cli.ts that a private /tmp would hide,
 * so `hurah systemd` rightly leaves PrivateTmp= off and says why.
 */
const CHECKOUT_IN_TMP = ["/tmp", "/var/tmp"].some((dir) => dirname(CLI).startsWith(dir + "/"));

/**
 * What `hurah systemd` says on stderr when only the checkout lies under /tmp:
 * the PrivateTmp= note naming paths of the checkout, or nothing.
 */
function checkoutNotes(stderr: string): string {
  if (!CHECKOUT_IN_TMP) return stderr;
  const note =
    /^hurah systemd: PrivateTmp= is left off, since a private \/tmp would hide (.*); \/tmp and \/var\/tmp .*\n/
      .exec(stderr);
  if (note === null) return stderr;
  const hidden = note[1].split(", ");
  ok(hidden.every((path) => path.startsWith(dirname(CLI) + "/")), `only the checkout lies under /tmp: ${stderr}`);
  return stderr.slice(note[0].length);
}

/** Prints the unit for `args`, run from `cwd`; nothing may be said on stderr (but why PrivateTmp= is off, for a checkout under /tmp). */
async function systemd(args: string[], cwd: string): Promise<{ text: string; unit: Unit }> {
  const result = await systemdRun(args, cwd);
  equal(result.code, 0, result.stderr);
  equal(checkoutNotes(result.stderr), "");
  return { text: result.stdout, unit: parseUnit(result.stdout) };
}

/** The settings every unit must have, whatever the handlers. */
function assertCommonSettings(unit: Unit, root: string, cwd: string, graceSeconds: number): void {
  equal(value(unit, "Service", "Type"), "exec");
  equal(value(unit, "Service", "Restart"), "on-failure");
  equal(value(unit, "Service", "RestartPreventExitStatus"), "2");
  equal(value(unit, "Service", "KillSignal"), "SIGTERM");
  equal(value(unit, "Service", "KillMode"), "mixed");
  const stop = /^(\d+)s$/.exec(value(unit, "Service", "TimeoutStopSec"));
  ok(stop && Number(stop[1]) >= graceSeconds + 1, `TimeoutStopSec=${stop?.[1]} after a grace of ${graceSeconds} s`);
  equal(value(unit, "Service", "UMask"), "0007");
  equal(value(unit, "Service", "NoNewPrivileges"), "yes");
  equal(value(unit, "Service", "ProtectSystem"), "strict");
  for (
    const key of [
      "PrivateDevices",
      "ProtectKernelTunables",
      "ProtectKernelModules",
      "ProtectKernelLogs",
      "ProtectControlGroups",
      "RestrictSUIDSGID",
      "LockPersonality",
    ]
  ) {
    equal(value(unit, "Service", key), "yes", key);
  }
  equal(value(unit, "Service", "SystemCallArchitectures"), "native");
  equal(value(unit, "Service", "CapabilityBoundingSet"), "");
  equal(value(unit, "Service", "RestrictAddressFamilies"), "AF_UNIX AF_INET AF_INET6");
  deepEqual(paths(unit, "Unit", "RequiresMountsFor"), [root]);
  equal(unSpecifier(value(unit, "Service", "WorkingDirectory")), cwd);
  equal(value(unit, "Install", "WantedBy"), "multi-user.target");
}

/** The settings of a unit whose paths lie outside /tmp, /home and /var/lib. */
function assertOutsideSettings(unit: Unit, root: string): void {
  deepEqual(paths(unit, "Service", "ReadWritePaths"), [root]);
  equal(unit.Service.StateDirectory, undefined);
  if (CHECKOUT_IN_TMP) equal(unit.Service.PrivateTmp, undefined);
  else equal(value(unit, "Service", "PrivateTmp"), "yes");
  equal(value(unit, "Service", "ProtectHome"), "yes");
}

/** The Deno permissions of a unit whose handlers read `reads` (besides the root) and write the root. */
function permissions(root: string, reads: string[], more: string[] = []): string[] {
  return [
    `--allow-read=${[root, ...reads].join(",")}`,
    `--allow-write=${root}`,
    "--allow-env=HURAH_*,NO_COLOR,JOURNAL_STREAM",
    "--allow-sys=hostname",
    ...more,
  ];
}

/** What ExecStart must run: this deno, these permissions, this cli.ts, `watch`. */
function hurah(deno: string, flags: string[]): string[] {
  return [deno, "run", ...flags, "--v8-flags=--max-semi-space-size=1", CLI, "watch"];
}

/** The environment a unit sets (Environment=), with %C (the cache directories' parent) as `cache`. */
function environment(unit: Unit, cache: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of unit.Service.Environment ?? []) {
    const [word] = splitWords(line, true);
    const at = word.indexOf("=");
    env[word.slice(0, at)] = word.slice(at + 1).replace(/%(.)/g, (_, c: string) => c === "C" ? cache : c);
  }
  return env;
}

/** Watches until the task `sequence` of `name` on `eventType` is archived, then stops with SIGTERM. */
async function watchOneTask(
  child: Deno.ChildProcess,
  root: string,
  name: string,
  eventType: string,
  dispatch: () => Promise<unknown>,
): Promise<string> {
  const stderr = child.stderr.pipeThrough(new TextDecoderStream());
  let said = "";
  const reading = (async () => {
    for await (const chunk of stderr) said += chunk;
  })();
  let exited = false;
  try {
    const listening = join(root, listenerPath(name, eventType), Layout.INBOX);
    await waitUntil(() => `the watcher to register; stderr: ${said}`, () => exists(listening));
    await dispatch();
    const archive = join(root, listenerPath(name, eventType), Layout.ARCHIVE, "1.json");
    await waitUntil(() => `the task to be archived; stderr: ${said}`, () => exists(archive));
    child.kill("SIGTERM");
    equal((await child.status).code, 0, said);
    exited = true;
  } finally {
    if (!exited) await stopChild(child);
    await child.stdout.cancel();
    await reading;
  }
  return said;
}

serviceTest("hurah systemd: a module handler", async (t) => {
  await using dir = await serviceDir();
  const deno = await serviceDeno(dir.path);
  await Deno.mkdir(join(dir.path, "handlers"));
  await Deno.writeTextFile(join(dir.path, "handlers", "scaler.ts"), "export default () => 0;\n");
  const { text, unit } = await systemd(
    [
      "image_scaler",
      "product/created",
      "./handlers/scaler.ts",
      "./events",
      "--grace",
      "30s",
      "--timeout",
      "2m",
      "--deno",
      deno,
      "--service-user",
      "hurah",
    ],
    dir.path,
  );
  const root = join(dir.path, "events");
  assertCommonSettings(unit, root, dir.path, 30);
  deepEqual(execStart(unit), [
    ...hurah(deno, permissions(root, [join(dir.path, "handlers")])),
    "image_scaler",
    "product/created",
    join(dir.path, "handlers", "scaler.ts"),
    "--root",
    root,
    "--grace",
    "30s",
    "--rescan-interval",
    "10s",
    "--timeout",
    "2m",
  ]);
  equal(value(unit, "Service", "SyslogIdentifier"), "hurah-image_scaler");
  equal(value(unit, "Service", "User"), "hurah");
  equal(value(unit, "Unit", "After"), "local-fs.target");
  assertOutsideSettings(unit, root);
  // A root that systemd does not create: the unit says how to create it, and why.
  match(text, /# Create the event root first: ReadWritePaths= below fails on a missing directory/);
  ok(text.includes(`#   install -d -m 2770 -o hurah -g hurah ${root}\n`), text);
  await verify(t, text, dir.path);
  await security(t, text, dir.path);

  // ExecStart, run as it is (these permissions, not -A), handles a task.
  await Deno.mkdir(root);
  const argv = execStart(unit);
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: dir.path,
    env: { ...environment(unit, join(dir.path, "cache")) },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await watchOneTask(
    child,
    root,
    "image_scaler",
    "product/created",
    () => new Dispatcher(root, { durable: false }).dispatch("product/created", { id: 1 }),
  );
});

serviceTest("hurah systemd: an exec handler with spaces, quotes, % and $ in the command and the root", async (t) => {
  await using dir = await serviceDir();
  const deno = await serviceDeno(dir.path);
  // A working directory and a root with a space, a %, a $ and a quote in their names.
  const cwd = join(dir.path, "my app 100%$HOME'");
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
      "--deno",
      deno,
    ],
    cwd,
  );
  const root = join(cwd, "events $x");
  assertCommonSettings(unit, root, cwd, 1);
  assertOutsideSettings(unit, root);
  const argv = execStart(unit);
  deepEqual(argv, [
    // An exec handler runs `setsid sh -c` and kills its process group: --allow-run.
    ...hurah(deno, permissions(root, [], ["--allow-run"])),
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
  equal(value(unit, "Service", "SyslogIdentifier"), "hurah-mailer");
  match(value(unit, "Unit", "Description"), /^hurah watch mailer under .*100%%\$HOME'/);
  await verify(t, text, dir.path);
  await security(t, text, dir.path);

  // The command line systemd would run really watches, with its permissions, and the command arrives intact.
  await Deno.mkdir(root);
  const out = join(dir.path, "out.txt");
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd,
    env: { ...environment(unit, join(dir.path, "cache")), OUT_FILE: out },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await watchOneTask(
    child,
    root,
    "mailer",
    "user/signup",
    () => new Dispatcher(root, { durable: false }).dispatch("user/signup", { id: 1 }),
  );
  equal(await Deno.readTextFile(out), `mailer|it's 100% "done"|$HOME\n`);
});

serviceTest("hurah systemd: a config file", async (t) => {
  await using dir = await serviceDir();
  const deno = await serviceDeno(dir.path);
  const conf = join(dir.path, "conf");
  await Deno.mkdir(conf);
  await Deno.writeTextFile(join(conf, "scaler.ts"), "export default () => 0;\n");
  await Deno.writeTextFile(
    join(conf, "hurah.json"),
    JSON.stringify({
      root: "../srv/events",
      handlers: [
        { name: "scaler", eventType: "product/created", module: "./scaler.ts" },
        { name: "mailer", eventType: "user", exec: "php mail.php" },
      ],
    }),
  );
  const { text, unit } = await systemd(
    ["--config", "conf/hurah.json", "--grace", "45s", "--deno", deno, "--service-user", "hurah"],
    dir.path,
  );
  const root = join(dir.path, "srv", "events");
  assertCommonSettings(unit, root, dir.path, 45);
  deepEqual(execStart(unit), [
    ...hurah(deno, permissions(root, [join(conf, "hurah.json"), conf], ["--allow-run"])),
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
  equal(value(unit, "Service", "SyslogIdentifier"), "hurah-scaler+mailer");
  await verify(t, text, dir.path);
  await security(t, text, dir.path);
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

serviceTest(
  "hurah systemd: refuses a deno in a package manager's cache and a handler module that does not exist",
  async (t) => {
    await using dir = await serviceDir();
    const deno = await serviceDeno(dir.path);
    const npx = join(dir.path, ".npm", "_npx", "7a40be787520bede", "node_modules", "deno", "deno");
    await Deno.mkdir(dirname(npx), { recursive: true });
    await Deno.writeTextFile(npx, "#!/bin/sh\n", { mode: 0o755 });
    const link = join(dir.path, "bin", "deno-link");
    await Deno.symlink(npx, link);
    await Deno.writeTextFile(join(dir.path, "h.ts"), "export default () => 0;\n");
    await Deno.mkdir(join(dir.path, "conf"));
    await Deno.writeTextFile(
      join(dir.path, "conf", "hurah.json"),
      JSON.stringify({ handlers: [{ name: "scaler", eventType: "a", module: "./gone.ts" }] }),
    );
    const handler = ["scaler", "product/created", "./h.ts", "./events", "--service-user", "hurah"];
    const cases: { what: string; args: string[]; expected: string | RegExp }[] = [
      {
        what: "a deno in npx's cache",
        args: [...handler, "--deno", npx],
        expected: `hurah systemd: the deno binary ${npx} lies in npx's cache (~/.npm/_npx), which may be cleaned at ` +
          "any time and which the service user may not read; install deno where the service user can read it " +
          `(cp "$(command -v deno)" /usr/local/bin/deno, after resolving links) and give --deno /usr/local/bin/deno`,
      },
      {
        what: "a link to a deno in npx's cache",
        args: [...handler, "--deno", link],
        expected: new RegExp(`^hurah systemd: the deno binary ${link} \\(a link to ${npx}\\) lies in npx's cache`),
      },
      {
        what: "a deno that does not exist",
        args: [...handler, "--deno", join(dir.path, "nowhere", "deno")],
        expected: new RegExp(`^hurah systemd: the deno binary ${join(dir.path, "nowhere", "deno")} does not exist; `),
      },
      {
        what: "a handler module that does not exist",
        args: ["scaler", "product/created", "./gone.ts", "./events", "--deno", deno],
        expected: `hurah systemd: scaler: the handler module ${
          join(dir.path, "gone.ts")
        } does not exist (or is not a file)`,
      },
      {
        what: "a handler module of a config file that does not exist",
        args: ["--config", "conf/hurah.json", "./events", "--deno", deno],
        expected: `hurah systemd: scaler: the handler module ${join(dir.path, "conf", "gone.ts")} does not exist ` +
          "(or is not a file)",
      },
      {
        what: "a path with a comma, which a Deno permission list cannot hold",
        args: ["scaler", "product/created", "./h.ts", "./a,b", "--deno", deno],
        expected: `hurah systemd: ${
          join(dir.path, "a,b")
        } has a comma, which a Deno permission list cannot hold; rename it`,
      },
    ];
    for (const { what, args, expected } of cases) {
      await t.step(what, async () => {
        const result = await systemdRun(args, dir.path);
        equal(result.code, 2, result.stderr);
        equal(result.stdout, "");
        const lines = result.stderr.split("\n");
        deepEqual(lines.slice(1), ["Run 'hurah systemd --help' for usage.", ""], result.stderr);
        if (typeof expected === "string") equal(lines[0], expected);
        else match(lines[0], expected);
      });
    }
    await t.step("the deno running this, without --deno: refused where it lies in a cache", async () => {
      const real = await Deno.realPath(Deno.execPath());
      const cached = packageCache(real) !== undefined || packageCache(Deno.execPath()) !== undefined;
      const result = await systemdRun(handler, dir.path);
      if (cached) {
        equal(result.code, 2, result.stderr);
        match(result.stderr, /^hurah systemd: the deno running this \(for ExecStart\) .* lies in .*; install deno/);
      } else {
        equal(result.code, 0, result.stderr);
        deepEqual(execStart(parseUnit(result.stdout))[0], Deno.execPath());
      }
    });
  },
);

serviceTest(
  "hurah systemd: warns without --service-user, and leaves PrivateTmp off for paths under /tmp",
  async (t) => {
    await using dir = await serviceDir();
    const deno = await serviceDeno(dir.path);
    await using tmp = await tempRoot();
    await Deno.writeTextFile(join(tmp.path, "h.ts"), "export default () => 0;\n");
    await t.step("no --service-user: a warning, and the unit has no User=", async (step) => {
      await Deno.writeTextFile(join(dir.path, "h.ts"), "export default () => 0;\n");
      const result = await systemdRun(["scaler", "a", "./h.ts", "./events", "--deno", deno], dir.path);
      equal(result.code, 0, result.stderr);
      equal(
        checkoutNotes(result.stderr),
        "hurah systemd: warning: no --service-user, so the service runs as root (without capabilities, but owning " +
          "what it writes); create a user (useradd --system --user-group --no-create-home --shell /usr/sbin/nologin " +
          "hurah) and give --service-user hurah\n",
      );
      const unit = parseUnit(result.stdout);
      equal(unit.Service.User, undefined);
      // Even as root, the sandbox rates OK.
      await security(step, result.stdout, dir.path);
    });
    await t.step("a handler and a root under /tmp: no PrivateTmp=, and a note saying why", async () => {
      const root = join(tmp.path, "events");
      const result = await systemdRun(
        ["scaler", "a", join(tmp.path, "h.ts"), root, "--deno", deno, "--service-user", "hurah"],
        dir.path,
      );
      // The checkout's cli.ts is hidden too where it lies under /tmp.
      const hidden = [root, ...CHECKOUT_IN_TMP ? [CLI] : [], tmp.path];
      equal(result.code, 0, result.stderr);
      equal(
        result.stderr,
        `hurah systemd: PrivateTmp= is left off, since a private /tmp would hide ${hidden.join(", ")}; /tmp and ` +
          "/var/tmp are cleaned now and then: better move them\n",
      );
      const unit = parseUnit(result.stdout);
      equal(unit.Service.PrivateTmp, undefined);
      deepEqual(paths(unit, "Service", "ReadWritePaths"), [root]);
    });
  },
);

serviceTest("hurah systemd: the options that widen the sandbox", async (t) => {
  await using dir = await serviceDir();
  const deno = await serviceDeno(dir.path);
  await Deno.writeTextFile(join(dir.path, "h.ts"), "export default () => 0;\n");
  const root = join(dir.path, "events");
  const base = ["scaler", "a", "./h.ts", "./events", "--deno", deno, "--service-user", "hurah"];
  const cases: { what: string; options: string[]; flags: string[]; readWrite?: string[] }[] = [
    { what: "none", options: [], flags: permissions(root, [dir.path]) },
    {
      what: "--allow-net, --allow-env and --allow-run",
      options: ["--allow-net", "--allow-env", "--allow-run"],
      flags: [
        `--allow-read=${root},${dir.path}`,
        `--allow-write=${root}`,
        "--allow-env",
        "--allow-sys=hostname",
        "--allow-net",
        "--allow-run",
      ],
    },
    {
      what: "--allow-read and --allow-write",
      options: ["--allow-read", "/usr/share/dict", "--allow-write", "./out", "--allow-write", "/srv/x"],
      flags: [
        `--allow-read=${root},${join(dir.path, "out")},/srv/x,${dir.path},/usr/share/dict`,
        `--allow-write=${root},${join(dir.path, "out")},/srv/x`,
        "--allow-env=HURAH_*,NO_COLOR,JOURNAL_STREAM",
        "--allow-sys=hostname",
      ],
      readWrite: [root, join(dir.path, "out"), "/srv/x"],
    },
    { what: "--allow-all", options: ["--allow-all"], flags: ["-A"] },
  ];
  for (const { what, options, flags, readWrite } of cases) {
    await t.step(what, async () => {
      const { unit } = await systemd([...base, ...options], dir.path);
      deepEqual(execStart(unit).slice(0, flags.length + 2), [deno, "run", ...flags]);
      equal(execStart(unit)[flags.length + 3], CLI);
      deepEqual(paths(unit, "Service", "ReadWritePaths"), readWrite ?? [root]);
    });
  }
  await t.step("a path under /home: ProtectHome=read-only, not yes, which would hide it", async () => {
    const { unit } = await systemd([...base, "--allow-read", "/home/alice/data"], dir.path);
    equal(value(unit, "Service", "ProtectHome"), "read-only");
  });
  await t.step("a handler loaded over the network: the unit waits for network-online.target", async () => {
    const result = await systemdRun(
      ["scaler", "a", "https://example.com/h.ts", "/srv/events", "--deno", deno, "--service-user", "hurah"],
      dir.path,
    );
    equal(result.code, 0, result.stderr);
    const remote = parseUnit(result.stdout);
    equal(value(remote, "Unit", "Wants"), "network-online.target");
    equal(value(remote, "Unit", "After"), "network-online.target local-fs.target");
  });
});

serviceTest("hurah systemd: a root under /var/lib is a StateDirectory=", async (t) => {
  await using dir = await serviceDir();
  const deno = await serviceDeno(dir.path);
  const { text, unit } = await systemd(
    ["mailer", "user", "--exec", "true", "/var/lib/hurah/events", "--deno", deno, "--service-user", "hurah"],
    dir.path,
  );
  equal(value(unit, "Service", "StateDirectory"), "hurah/events");
  equal(value(unit, "Service", "StateDirectoryMode"), "0770");
  // systemd makes a StateDirectory= writable itself; a ReadWritePaths= would fail before it exists.
  equal(unit.Service.ReadWritePaths, undefined);
  ok(!text.includes("# Create the event root first"), text);
  await verify(t, text, dir.path);
  await security(t, text, dir.path);
});

/** Whether this test run may switch users: root, with setpriv and the user nobody. */
const CAN_SETPRIV = (() => {
  if (SERVICE_BASE === undefined) return false;
  try {
    return Deno.statSync("/usr/bin/setpriv").isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: CAN_SETPRIV
    ? "hurah systemd: ExecStart, run as the service user, handles a module and an exec handler's task"
    : "skipped: not root or no setpriv (ExecStart as the service user)",
  ignore: !CAN_SETPRIV,
  async fn() {
    await using dir = await serviceDir();
    const deno = await serviceDeno(dir.path);
    const conf = join(dir.path, "app");
    await Deno.mkdir(conf, { mode: 0o755 });
    // A handler module that imports a module next to it: Deno may read the handler's directory.
    await Deno.writeTextFile(join(conf, "result.ts"), "export const SUCCESS = 0;\n");
    await Deno.writeTextFile(
      join(conf, "scaler.ts"),
      'import { SUCCESS } from "./result.ts";\nexport default () => SUCCESS;\n',
    );
    await Deno.writeTextFile(
      join(conf, "hurah.json"),
      JSON.stringify({
        root: "../events",
        handlers: [
          { name: "scaler", eventType: "product/created", module: "./scaler.ts" },
          { name: "mailer", eventType: "user/signup", exec: 'cat > "../events/mail-$HURAH_SEQUENCE.json"' },
        ],
      }),
    );
    const root = join(dir.path, "events");
    const cache = join(dir.path, "cache");
    for (const owned of [root, cache]) {
      await Deno.mkdir(owned);
      await Deno.chown(owned, 65534, 65534);
    }
    const asNobody = ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"];
    const cli = await cliNobodyCanRead(dir.path, asNobody);
    const made = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        cli,
        "systemd",
        "--config",
        "app/hurah.json",
        "--deno",
        deno,
        "--service-user",
        "nobody",
      ],
      cwd: dir.path,
      env: { HURAH_ROOT: "", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    equal(made.code, 0, new TextDecoder().decode(made.stderr));
    const unit = parseUnit(new TextDecoder().decode(made.stdout));
    const env = environment(unit, cache);
    const argv = execStart(unit);
    const child = new Deno.Command("/usr/bin/setpriv", {
      args: [...asNobody, ...argv],
      cwd: unSpecifier(value(unit, "Service", "WorkingDirectory")),
      clearEnv: true,
      env: { PATH: "/usr/local/bin:/usr/bin:/bin", ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // The dispatcher runs as the service user too, as a dispatcher in its group would.
    const dispatch = (type: string) =>
      new Deno.Command("/usr/bin/setpriv", {
        args: [...asNobody, deno, "run", "-A", "--quiet", cli, "dispatch", type, '{"id":1}', "--root", root],
        clearEnv: true,
        env: { PATH: "/usr/local/bin:/usr/bin:/bin", ...env },
      }).output().then(({ code, stderr }) => equal(code, 0, new TextDecoder().decode(stderr)));
    const said = await watchOneTask(child, root, "scaler", "product/created", async () => {
      const mailer = join(root, listenerPath("mailer", "user/signup"), Layout.INBOX);
      await waitUntil("the exec handler's listener to register", () => exists(mailer));
      await dispatch("product/created");
      await dispatch("user/signup");
      const mail = join(root, listenerPath("mailer", "user/signup"), Layout.ARCHIVE, "1.json");
      await waitUntil("the exec handler's task to be archived", () => exists(mail));
    });
    match(said, /product\/created\/scaler #1 SUCCESS/);
    match(said, /user\/signup\/mailer #1 SUCCESS/);
    equal(JSON.parse(await Deno.readTextFile(join(root, "mail-1.json"))).payload.id, 1);
    equal((await Deno.stat(join(root, "mail-1.json"))).uid, 65534);
  },
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

serviceTest("hurah systemd: valid parallel, archive and task size options go into ExecStart as given", async () => {
  await using dir = await serviceDir();
  const deno = await serviceDeno(dir.path);
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
    "--deno",
    deno,
    "--service-user",
    "hurah",
  ], dir.path);
  const root = join(dir.path, "events");
  deepEqual(execStart(unit), [
    ...hurah(deno, permissions(root, [], ["--allow-run"])),
    "mailer",
    "user",
    "--exec",
    "true",
    "--root",
    root,
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

serviceTest(
  "hurah systemd --serve: a unit for hurah serve, its token in an EnvironmentFile, never on the command line",
  async (t) => {
    await using dir = await serviceDir();
    const deno = await serviceDeno(dir.path);
    const root = join(dir.path, "events");
    await Deno.mkdir(root);
    const serve = (flags: string[]) => [deno, "run", ...flags, "--v8-flags=--max-semi-space-size=1", CLI, "serve"];
    const reads = `--allow-read=${root}`;
    const env = "--allow-env=HURAH_*,NO_COLOR,JOURNAL_STREAM";
    const common = [reads, `--allow-write=${root}`, env, "--allow-sys=hostname", "--allow-net"];
    const unitArgs = ["--deno", deno, "--service-user", "hurah"];
    const local = await systemd(["--serve", "--root", "./events", "--max-errors", "3", ...unitArgs], dir.path);
    assertCommonSettings(local.unit, root, dir.path, 0);
    deepEqual(execStart(local.unit), [
      ...serve(common),
      "--root",
      root,
      "--listen",
      "127.0.0.1:8377",
      "--max-errors",
      "3",
    ]);
    equal(local.unit.Service.EnvironmentFile, undefined);
    equal(value(local.unit, "Service", "User"), "hurah");
    equal(value(local.unit, "Service", "SyslogIdentifier"), "hurah-serve");
    await verify(t, local.text, dir.path);
    await security(t, local.text, dir.path);
    const token = "a-token-of-thirty-two-characters";
    const result = await systemdRun(
      ["--serve", "--root", root, "--listen", "0.0.0.0:8377", "--token", token, ...unitArgs],
      dir.path,
    );
    equal(result.code, 0, result.stderr);
    ok(!result.stdout.includes(token), "the token is not in the unit");
    const remote = parseUnit(result.stdout);
    deepEqual(execStart(remote), [...serve(common), "--root", root, "--listen", "0.0.0.0:8377"]);
    equal(value(remote, "Service", "EnvironmentFile"), "-/etc/hurah/serve.env");
    const readOnly = await systemd(["--serve", "--root", root, "--read-only", ...unitArgs], dir.path);
    equal(readOnly.unit.Service.ReadWritePaths, undefined, "a read-only dashboard writes nothing");
    deepEqual(execStart(readOnly.unit), [
      ...serve([reads, env, "--allow-sys=hostname", "--allow-net"]), // no --allow-write
      "--root",
      root,
      "--listen",
      "127.0.0.1:8377",
      "--read-only",
    ]);
    const refused = await systemdRun(["--serve", "--root", root, "--listen", "0.0.0.0:8377", ...unitArgs], dir.path);
    equal(refused.code, 2);
    match(refused.stderr, /without a token/);
  },
);

serviceTest(
  "hurah systemd --broker: ExecStart watches the broker, with --allow-net and read access to hurah's src/; no root to write or mount",
  async () => {
    await using dir = await serviceDir();
    const deno = await serviceDeno(dir.path);
    const urls = "nats://127.0.0.1:4222,nats://127.0.0.1:4223";
    const { unit } = await systemd(
      [
        "mailer",
        "user/signup",
        "--exec",
        "php mail.php",
        "--broker",
        urls,
        "--replicas",
        "3",
        "--deno",
        deno,
        "--service-user",
        "hurah",
      ],
      dir.path,
    );
    deepEqual(execStart(unit), [
      deno,
      "run",
      `--allow-read=${join(dirname(CLI), "src")}`,
      "--allow-env=HURAH_*,NO_COLOR,JOURNAL_STREAM",
      "--allow-sys=hostname",
      "--allow-net",
      "--allow-run",
      "--v8-flags=--max-semi-space-size=1",
      CLI,
      "watch",
      "mailer",
      "user/signup",
      "--exec",
      "php mail.php",
      "--broker",
      urls,
      "--replicas",
      "3",
      "--grace",
      "10s",
      "--rescan-interval",
      "10s",
    ]);
    equal(unit.Service.ReadWritePaths, undefined, "nothing to write");
    equal(unit.Service.StateDirectory, undefined);
    equal(unit.Unit.RequiresMountsFor, undefined, "no root to mount");
    equal(value(unit, "Unit", "After"), "network-online.target local-fs.target");
    equal(value(unit, "Unit", "Description"), `hurah watch mailer on ${urls}`);
  },
);

/**
 * The command line's conventions, one case each: the exit code and the
 * message of an unknown option (with the nearest one), an option without its
 * value, a zero interval, and an error whose message says all (no usage hint).
 */
import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { exists, PROJECT, runCli, tempRoot, untimed } from "../_helpers.ts";

const HANDLER = join(PROJECT, "tests/integration/handlers/append_log.ts");
const HINT = /Run 'hurah \w+ --help' for usage\.\n$/;

Deno.test("hurah's conventions: exit 2 and a message that names the mistake, with the hint that fits it", async (t) => {
  await using root = await tempRoot();
  const cases: { args: string[]; stderr: RegExp; hint: boolean }[] = [
    {
      args: ["run", "mailer", "user", HANDLER, root.path, "--concurency", "4"],
      stderr: /^hurah run: unknown option --concurency; did you mean --concurrency\?\n/,
      hint: true,
    },
    {
      args: ["status", "--root", root.path, "--jsn"],
      stderr: /unknown option --jsn; did you mean --json\?\n/,
      hint: true,
    },
    { args: ["status", "--root", root.path, "--frobnicate"], stderr: /unknown option --frobnicate\n/, hint: true },
    { args: ["status", "--root"], stderr: /^hurah status: --root needs a value\n/, hint: true },
    {
      args: ["watch", "mailer", "user", HANDLER, root.path, "--rescan-interval", "0"],
      stderr: /^hurah watch: --rescan-interval must be longer than 0, found "0"\n/,
      hint: true,
    },
    {
      args: ["watch", "mailer", "user", HANDLER, root.path, "--lease", "0s", "--concurrency", "2"],
      stderr: /^hurah watch: --lease must be longer than 0, found "0s"\n/,
      hint: true,
    },
    {
      args: ["run", "mailer", "user", join(root.path, "missing.ts"), root.path],
      stderr: /^hurah run: [^\n]*missing\.ts[^\n]*\n$/,
      hint: false,
    },
  ];
  for (const { args, stderr, hint } of cases) {
    await t.step(args.filter((arg) => !arg.startsWith("/")).join(" "), async () => {
      const result = await runCli(args);
      equal(result.code, 2, result.stderr);
      equal(result.stdout, "");
      match(result.stderr, stderr);
      equal(HINT.test(result.stderr), hint, result.stderr);
    });
  }
});

Deno.test("hurah run refuses a missing root unless --create-root, and says what its first run registered", async (t) => {
  await using base = await tempRoot();
  const root = join(base.path, "evnets"); // a typo: nothing there
  await t.step("a missing root: exit 2, nothing created", async () => {
    for (const command of ["run", "watch"]) {
      const result = await runCli([command, "mailer", "user", HANDLER, root]);
      equal(result.code, 2, result.stderr);
      equal(
        untimed(result.stderr),
        `hurah ${command}: the event root ${root} does not exist; check the path, or create it (mkdir -p, or ` +
          "--create-root to let this command create it)\n",
      );
      equal(await exists(root), false);
    }
  });
  await t.step("--create-root: created, and the registration said", async () => {
    const result = await runCli(["run", "mailer", "user", HANDLER, root, "--create-root"]);
    equal(result.code, 0, result.stderr);
    const inbox = join(root, "user", "mailer_listener", "inbox");
    equal(
      untimed(result.stderr),
      `user/mailer registered: handler "mailer" on event type "user", tasks arrive in ${inbox}\n`,
    );
  });
  await t.step("the next run registers nothing new and says nothing of it", async () => {
    const result = await runCli(["run", "mailer", "user", HANDLER, root]);
    equal(result.code, 0, result.stderr);
    equal(result.stderr, "");
  });
  await t.step("a new listener on an existing root, also in JSON", async () => {
    const result = await runCli(["run", "audit", "", HANDLER, root, "--log-format", "json"]);
    equal(result.code, 0, result.stderr);
    const registered = result.stderr.split("\n").filter(Boolean).map((line) => JSON.parse(line))
      .filter((record) => record.type === "registered");
    deepEqual(registered.map(({ listener, name, eventType, location }) => ({ listener, name, eventType, location })), [
      { listener: "audit", name: "audit", eventType: "", location: join(root, "audit_listener", "inbox") },
    ]);
  });
});

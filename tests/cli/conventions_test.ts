/**
 * The command line's conventions, one case each: the exit code and the
 * message of an unknown option (with the nearest one), an option without its
 * value, a zero interval, and an error whose message says all (no usage hint).
 */
import { equal, match } from "node:assert/strict";
import { join } from "node:path";
import { PROJECT, runCli, tempRoot } from "../_helpers.ts";

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

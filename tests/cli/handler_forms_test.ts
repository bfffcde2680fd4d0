/**
 * The handler forms registry and its readers: config loading, the handler
 * flags, `hurah systemd`'s arguments and the help texts each take every form
 * from the registry, so that a new form is one file and one registry line.
 *
 * @module
 */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { parseArgs } from "node:util";
import { parseConfig } from "../../src/cli/_config.ts";
import { HANDLER_OPTIONS, handlerArgs, handlerSpecs } from "../../src/cli/_handlers.ts";
import type { CliIo } from "../../src/cli/_io.ts";
import { RUN_HELP } from "../../src/cli/run.ts";
import { WATCH_HELP } from "../../src/cli/watch.ts";
import { ARGUMENT_FORM, FLAG_FORMS, HANDLER_FORMS } from "../../src/worker/handler_forms/registry.ts";

const io: CliIo = {
  stdout: () => {},
  stderr: () => {},
  readStdin: () => Promise.resolve(""),
  env: () => undefined,
  signal: new AbortController().signal,
  color: false,
  stderrIsTerminal: false,
  stdoutIsTerminal: false,
};

Deno.test("HANDLER_FORMS: one form named by the <handler> argument, the others by distinct flags", () => {
  deepEqual(HANDLER_FORMS.map((form) => form.key), ["module", "exec"]);
  equal(HANDLER_FORMS.filter((form) => "argument" in form.cli).length, 1);
  equal(ARGUMENT_FORM.key, "module");
  deepEqual(FLAG_FORMS.map((form) => form.cli.flag), ["exec"]);
  equal(new Set(HANDLER_FORMS.map((form) => form.key)).size, HANDLER_FORMS.length, "config keys are distinct");
});

Deno.test("parseConfig() takes each form's key and refuses an entry naming two forms or none", async (t) => {
  for (const form of HANDLER_FORMS) {
    await t.step(form.key, () => {
      const config = parseConfig(
        { handlers: [{ name: "a", eventType: "x", [form.key]: "./h.ts" }] },
        "/srv/conf/c.json",
      );
      const expected = form.fromConfig("./h.ts", "/srv/conf");
      equal(config.handlers[0][form.key], expected.value);
      equal(config.handlers[0].cwd, expected.cwd);
      for (const other of HANDLER_FORMS.filter((each) => each !== form)) {
        equal(config.handlers[0][other.key], undefined);
      }
    });
  }
  const choices = /needs exactly one of 'module' \(a module path or URL\) and 'exec' \(a shell command\)$/;
  for (const entry of [{}, Object.fromEntries(HANDLER_FORMS.map((form) => [form.key, "x"]))]) {
    throws(() => parseConfig({ handlers: [{ name: "a", eventType: "x", ...entry }] }, "/srv/conf/c.json"), choices);
  }
});

Deno.test("handlerArgs() gives back arguments that handlerSpecs() reads as the same handler, for every form", async (t) => {
  for (const form of HANDLER_FORMS) {
    await t.step(form.key, async () => {
      const value = form === ARGUMENT_FORM ? "/srv/handlers/h.ts" : "php handle.php --now";
      const args = [
        "mailer",
        "user/signup",
        ...handlerArgs({ name: "mailer", eventType: "user/signup", [form.key]: value, timeoutMs: 0, concurrency: 1 }),
        "/srv/events",
      ];
      const { values, positionals } = parseArgs({ args, allowPositionals: true, options: HANDLER_OPTIONS });
      const { place, specs } = await handlerSpecs(values, positionals, io);
      deepEqual(place, { kind: "root", root: "/srv/events" });
      deepEqual(specs, [{ name: "mailer", eventType: "user/signup", [form.key]: value, timeoutMs: 0, concurrency: 1 }]);
    });
  }
});

Deno.test("the help of run and watch names every form, and parseArgs knows every flag", () => {
  for (const help of [RUN_HELP, WATCH_HELP]) {
    ok(help.includes(`<handler_name> <event_type> <${ARGUMENT_FORM.cli.argument}> [event_root] [options]`), help);
    for (const { cli } of FLAG_FORMS) {
      ok(help.includes(`<handler_name> <event_type> --${cli.flag} <${cli.value}> [event_root] [options]`), help);
      ok(help.includes(`\n  --${cli.flag} ${cli.value.toUpperCase()} `), help);
      ok(help.replace(/\s+/g, " ").includes(cli.summary), help);
    }
  }
  ok(RUN_HELP.includes(`\n  ${ARGUMENT_FORM.cli.argument} `), RUN_HELP);
  for (const { cli } of FLAG_FORMS) ok(Object.hasOwn(HANDLER_OPTIONS, cli.flag), cli.flag);
});

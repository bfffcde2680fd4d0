/**
 * `deno task compile [--include <module>]... [--target <triple>] [--output <path>] [--print]`:
 * builds the standalone `hurah` binary with the permissions it needs, and
 * with the handler modules named by `--include` built in (a standalone
 * binary cannot import a module that was not included at build time;
 * denoland/deno#18327). The NATS backend (`src/backend/nats/mod.ts`, which
 * `--broker` loads) is always built in. `--print` prints the `deno compile`
 * command instead of running it.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

/** hurah's V8 flag: a small young generation keeps memory flat on long drains at no cost in speed. */
export const HURAH_V8_FLAGS = "--max-semi-space-size=1";

/** The NATS backend's module: `cli.ts` imports it only when `--broker` is given, so its graph does not hold it. */
export const NATS_MODULE: string = fileURLToPath(new URL("../src/backend/nats/mod.ts", import.meta.url));

/** The `deno compile` arguments for the given includes, target and output. */
export function compileArgs(options: { include: string[]; target?: string; output: string }): string[] {
  return [
    "compile",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-run",
    "--allow-sys",
    "--allow-net", // hurah serve: binds the --listen address; --broker: connects to NATS
    `--v8-flags=${HURAH_V8_FLAGS}`,
    ...options.include.flatMap((module) => ["--include", resolve(module)]),
    "--include",
    NATS_MODULE,
    ...(options.target ? ["--target", options.target] : []),
    "--output",
    options.output,
    "cli.ts",
  ];
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      include: { type: "string", multiple: true, default: [] },
      target: { type: "string" },
      output: { type: "string", default: "dist/hurah" },
      print: { type: "boolean", default: false },
    },
  });
  const args = compileArgs({ include: values.include, target: values.target, output: values.output });
  if (values.print) {
    console.log(["deno", ...args].join(" "));
  } else {
    const { code } = await new Deno.Command(Deno.execPath(), { args, stdout: "inherit", stderr: "inherit" }).output();
    Deno.exit(code);
  }
}

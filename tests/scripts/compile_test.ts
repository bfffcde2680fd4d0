import { deepEqual, equal, ok } from "node:assert/strict";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { compileArgs, NATS_MODULE } from "../../scripts/compile.ts";
import { natsModuleUrl } from "../../src/cli/_backend.ts";
import { PROJECT } from "../_helpers.ts";

Deno.test("compileArgs() grants hurah's permissions and includes handler modules by absolute path", () => {
  const args = compileArgs({ include: ["examples/image_scaler.ts"], output: "dist/hurah" });
  deepEqual(args.slice(0, 8), [
    "compile",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-run",
    "--allow-sys",
    "--allow-net",
    "--v8-flags=--max-semi-space-size=1",
  ]);
  deepEqual(args.slice(8, 10), ["--include", resolve("examples/image_scaler.ts")]);
  // --broker's NATS backend is built in: cli.ts loads it by a computed specifier, which deno compile cannot see.
  deepEqual(args.slice(10, 12), ["--include", resolve(PROJECT, "src/backend/nats/mod.ts")]);
  equal(NATS_MODULE, resolve(PROJECT, "src/backend/nats/mod.ts"));
  deepEqual(args.slice(-3), ["--output", "dist/hurah", "cli.ts"]);
});

Deno.test("compileArgs() passes a target triple through", () => {
  const args = compileArgs({ include: [], target: "aarch64-unknown-linux-gnu", output: "dist/hurah-arm64" });
  equal(args[args.indexOf("--target") + 1], "aarch64-unknown-linux-gnu");
});

/** The modules of a root's static graph, as `deno info --json` lists them (local files as file: URLs, npm packages). */
async function graphOf(root: string): Promise<{ files: string[]; npm: string[] }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", root],
    cwd: PROJECT,
  }).output();
  equal(code, 0, new TextDecoder().decode(stderr));
  const info = JSON.parse(new TextDecoder().decode(stdout)) as {
    modules: { specifier: string }[];
    npmPackages?: Record<string, unknown>;
  };
  return { files: info.modules.map((module) => module.specifier), npm: Object.keys(info.npmPackages ?? {}) };
}

Deno.test("deno task compile's graph reaches the NATS module that --broker loads, with its npm packages", async () => {
  const args = compileArgs({ include: [], output: "dist/hurah" });
  const roots = [...args.flatMap((arg, k) => args[k - 1] === "--include" ? [arg] : []), resolve(PROJECT, "cli.ts")];
  const graphs = await Promise.all(roots.map(graphOf));
  const files = new Set(graphs.flatMap((graph) => graph.files));
  const npm = new Set(graphs.flatMap((graph) => graph.npm));
  // What the command line imports at run time (a computed specifier) is in the binary's graph...
  ok(files.has(natsModuleUrl()), `${natsModuleUrl()} in the compile graph`);
  ok(files.has(pathToFileURL(resolve(PROJECT, "src/backend/nats/migrate.ts")).href), "hurah migrate's module too");
  ok([...npm].some((name) => name.startsWith("@nats-io/jetstream@3.4.0")), [...npm].join(", "));
  ok([...npm].some((name) => name.startsWith("@nats-io/transport-node@3.4.0")), [...npm].join(", "));
  // ...and only through the --include: cli.ts's own graph does not reach it.
  ok(!graphs.at(-1)!.files.includes(natsModuleUrl()), "cli.ts's static graph does not hold the NATS module");
});

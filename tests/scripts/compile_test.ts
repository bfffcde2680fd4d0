import { deepEqual, equal } from "node:assert/strict";
import { resolve } from "node:path";
import { compileArgs, NATS_MODULE } from "../../scripts/compile.ts";
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

import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher } from "../mod.ts";
import { listFiles, PROJECT, runCli, tempRoot } from "./_helpers.ts";

/** The task files and tracking.json of a listener (not hurah's locks). */
async function taskFiles(dir: string): Promise<string[]> {
  return (await listFiles(dir)).filter((file) => file.endsWith(".json"));
}

const hasPhp = new Deno.Command("sh", { args: ["-c", "command -v php"], stdout: "null" }).outputSync().success;

Deno.test("examples/image_scaler.ts archives products with an id and rejects the others", async () => {
  await using root = await tempRoot();
  const handler = join(PROJECT, "examples", "image_scaler.ts");
  equal((await runCli(["run", "image_scaler", "product/created", handler, root.path])).code, 0);
  const dispatcher = new Dispatcher(root.path, { durable: false });
  await dispatcher.dispatch("product/created", { product_id: 7 });
  await dispatcher.dispatch("product/created", { name: "no id" });
  const run = await runCli(["run", "image_scaler", "product/created", handler, root.path]);
  equal(run.code, 0, run.stderr);
  match(run.stderr, /scaling images of product 7/);
  deepEqual(await taskFiles(join(root.path, "product/created/image_scaler_listener")), [
    "archive/1.json",
    "error/2.json",
    "tracking.json",
  ]);
});

for (
  const [name, command, ignore] of [
    ["shell_handler.sh", "sh examples/shell_handler.sh", false],
    ["php_handler.php", "php examples/php_handler.php", !hasPhp],
  ] as const
) {
  Deno.test({
    name: `examples/${name} archives a task with an email and sends one without to error/ with its stderr`,
    ignore,
    async fn() {
      await using root = await tempRoot();
      const args = ["run", "mailer", "user/signup", "--exec", command, root.path];
      equal((await runCli(args, { cwd: PROJECT })).code, 0);
      const dispatcher = new Dispatcher(root.path, { durable: false });
      await dispatcher.dispatch("user/signup", { email: "ada@example.com" });
      await dispatcher.dispatch("user/signup", { name: "no email" });
      const run = await runCli(args, { cwd: PROJECT });
      equal(run.code, 0, run.stderr);
      match(run.stderr, /mailer #1 SUCCESS -> archive/);
      match(run.stderr, /mailer #2 INVALID -> error/);
      const dir = join(root.path, "user/signup/mailer_listener");
      deepEqual(await taskFiles(dir), ["archive/1.json", "error/2.json", "tracking.json"]);
      const failed = JSON.parse(await Deno.readTextFile(join(dir, "error/2.json")));
      equal(failed.failures.at(-1).result, "INVALID");
    },
  });
}

Deno.test({
  name: "examples/hurah.json runs its three handlers with hurah run --config",
  ignore: !hasPhp,
  async fn() {
    await using root = await tempRoot();
    const config = join(PROJECT, "examples", "hurah.json");
    equal((await runCli(["run", "--config", config, root.path])).code, 0);
    const dispatcher = new Dispatcher(root.path, { durable: false });
    await dispatcher.dispatch("product/created", { product_id: 1 });
    await dispatcher.dispatch("user/signup", { email: "ada@example.com" });
    const run = await runCli(["run", "--config", config, root.path]);
    equal(run.code, 0, run.stderr);
    for (const listener of ["product/created/image_scaler", "user/signup/mailer", "user/signup/php_mailer"]) {
      deepEqual(await taskFiles(join(root.path, `${listener}_listener`)), ["archive/1.json", "tracking.json"]);
    }
  },
});

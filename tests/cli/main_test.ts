import { deepEqual, equal, match } from "node:assert/strict";
import { runCli, tempRoot } from "../_helpers.ts";

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

/** `deno task demo`, the README's first command: it runs, and its event lines line up under each step. */
import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { PROJECT } from "../_helpers.ts";

Deno.test("the demo runs, and every line of its passes is indented alike", async () => {
  const demo = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", join(PROJECT, "scripts", "demo.ts")],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(demo.stdout);
  equal(demo.code, 0, new TextDecoder().decode(demo.stderr));
  const passes = text.split("\n").filter((line) => / #\d+ [A-Z]+ -> /.test(line) || /: nothing to do$/.test(line));
  ok(passes.length >= 10, text);
  for (const line of passes) ok(/^ {3}\S/.test(line), `indented by exactly 3 spaces: ${JSON.stringify(line)}`);
});

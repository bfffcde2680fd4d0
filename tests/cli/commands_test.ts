/**
 * The command line's structure: each command file stands alone (shared code
 * lives in the `_` helper files), so that a command can be changed or added
 * without touching another.
 *
 * @module
 */
import { deepEqual, ok } from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { PROJECT } from "../_helpers.ts";

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
}

/** The module graph of `cli.ts`, as `deno info --json` reports it: each module and what it imports. */
async function moduleGraph(): Promise<Map<string, string[]>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", join(PROJECT, "cli.ts")],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  ok(output.success, "deno info failed");
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as { modules: InfoModule[] };
  return new Map(info.modules.map((module) => [
    module.specifier,
    (module.dependencies ?? []).flatMap((d) => [d.code?.specifier, d.type?.specifier]).filter((s) => s !== undefined),
  ]));
}

/** Every module `start` imports, directly or through others. */
function reachable(graph: Map<string, string[]>, start: string): Set<string> {
  const seen = new Set<string>();
  const queue = [...graph.get(start) ?? []];
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    if (seen.has(next)) continue;
    seen.add(next);
    queue.push(...graph.get(next) ?? []);
  }
  return seen;
}

Deno.test("no command file of src/cli imports another, directly or through a helper", async () => {
  const dir = join(PROJECT, "src", "cli");
  const commands = [...Deno.readDirSync(dir)]
    .map((entry) => entry.name)
    .filter((name) => name.endsWith(".ts") && !name.startsWith("_") && name !== "main.ts")
    .map((name) => pathToFileURL(join(dir, name)).href);
  ok(commands.length >= 8, `found only ${commands.length} command files`);
  const graph = await moduleGraph();
  const found: string[] = [];
  for (const command of commands) {
    ok(graph.has(command), `${command} is not reached from cli.ts`);
    for (const other of reachable(graph, command)) {
      if (commands.includes(other)) found.push(`${command} -> ${other}`);
    }
  }
  deepEqual(found, []);
});

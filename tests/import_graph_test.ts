/**
 * The module graph of the public entry points has no import cycle: every
 * import (of code or of types only) points one way, from the command line to
 * the worker and the backend to the protocol.
 */
import { deepEqual } from "node:assert/strict";
import { fileURLToPath } from "node:url";

interface Dependency {
  code?: { specifier: string };
  type?: { specifier: string };
}

interface InfoModule {
  specifier: string;
  dependencies?: Dependency[];
}

/** The local modules reachable from `entry`, each with the local modules it imports. */
async function importGraph(entry: string): Promise<Map<string, string[]>> {
  const root = fileURLToPath(new URL("../", import.meta.url));
  const output = await new Deno.Command(Deno.execPath(), { args: ["info", "--json", entry], cwd: root }).output();
  if (!output.success) throw new Error(new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as { modules: InfoModule[] };
  const graph = new Map<string, string[]>();
  for (const module of info.modules) {
    if (!module.specifier.startsWith("file:")) continue;
    const imports = (module.dependencies ?? []).flatMap((dependency) =>
      [dependency.code?.specifier, dependency.type?.specifier].filter((s): s is string =>
        s?.startsWith("file:") ?? false
      )
    );
    graph.set(
      module.specifier.slice(`file://${root}`.length),
      [...new Set(imports)].map((s) => s.slice(`file://${root}`.length)),
    );
  }
  return graph;
}

/** Every cycle found by a depth-first walk, each as the path that closes it. */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (module: string) => {
    state.set(module, "open");
    path.push(module);
    for (const next of graph.get(module) ?? []) {
      if (state.get(next) === "open") found.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(module, "done");
  };
  for (const module of graph.keys()) if (!state.has(module)) visit(module);
  return found;
}

Deno.test("the module graph of mod.ts and cli.ts has no import cycle", async (t) => {
  for (const entry of ["mod.ts", "cli.ts"]) {
    await t.step(entry, async () => {
      const graph = await importGraph(entry);
      deepEqual(cycles(graph).map((cycle) => cycle.join(" -> ")), []);
    });
  }
});

Deno.test("cycles() finds a cycle, and none in a tree", () => {
  deepEqual(cycles(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]])), [["a", "b", "c", "a"]]);
  deepEqual(cycles(new Map([["a", ["b", "c"]], ["b", ["c"]], ["c", []]])), []);
});

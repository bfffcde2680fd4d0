/**
 * The module graph of `mod.ts` and `cli.ts` has no import cycle. The graph is
 * `deno info --json`'s, with type-only imports counted: a cycle of types still
 * ties the modules together (the one that issue 9 names,
 * `run_once.ts` -> `_pass.ts`/`_parallel.ts` -> `run_once.ts`, is one).
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { PROJECT, tempRoot } from "./_helpers.ts";

/**
 * Import cycles allowed, each as its modules (sorted, relative to the project). Keep this EMPTY: issue 9's
 * listener loop removed the last one (`run_once.ts` <-> `_pass.ts`/`_parallel.ts`/`_task_runner.ts`).
 */
const ALLOWED_CYCLES: string[][] = [];

/** The local modules reachable from `roots` (`deno info --json`), each with the local modules it imports (code or types). */
async function moduleGraph(roots: string[]): Promise<Map<string, Set<string>>> {
  const graph = new Map<string, Set<string>>();
  for (const root of roots) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", root],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    ok(output.success, `deno info --json ${root} failed: ${stderr}`);
    const info = JSON.parse(new TextDecoder().decode(output.stdout)) as DenoInfo;
    for (const module of info.modules) {
      if (!module.specifier.startsWith("file:")) continue;
      const imports = graph.get(module.specifier) ?? new Set<string>();
      for (const dependency of module.dependencies ?? []) {
        for (const target of [dependency.code?.specifier, dependency.type?.specifier]) {
          if (target?.startsWith("file:")) imports.add(target);
        }
      }
      graph.set(module.specifier, imports);
    }
  }
  return graph;
}

/** What `deno info --json` prints, as far as read here. */
interface DenoInfo {
  modules: { specifier: string; dependencies?: { code?: { specifier?: string }; type?: { specifier?: string } }[] }[];
}

/**
 * Every import cycle of a graph: its strongly connected components (Tarjan) of more than one module, and the modules
 * that import themselves; each sorted, in sorted order.
 */
function importCycles(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (module: string) => {
    index.set(module, index.size);
    low.set(module, index.get(module)!);
    stack.push(module);
    onStack.add(module);
    for (const target of graph.get(module) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(module, Math.min(low.get(module)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(module, Math.min(low.get(module)!, index.get(target)!));
      }
    }
    if (low.get(module) !== index.get(module)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== module);
    if (component.length > 1 || graph.get(module)?.has(module)) cycles.push(component.sort());
  };
  for (const module of [...graph.keys()].sort()) if (!index.has(module)) visit(module);
  return cycles.sort((a, b) => a[0] < b[0] ? -1 : 1);
}

/** One import path around a cycle, for the failure message: `a.ts -> b.ts -> a.ts`. */
function describeCycle(graph: Map<string, Set<string>>, cycle: string[], name: (module: string) => string): string {
  const members = new Set(cycle);
  const path = [cycle[0]];
  const seen = new Set(path);
  for (;;) {
    const next = [...graph.get(path.at(-1)!)!].filter((target) => members.has(target)).sort();
    const back = next.find((target) => seen.has(target));
    const onward = next.find((target) => !seen.has(target));
    // Prefer going on while unseen members are left; close the loop at the first module seen again.
    const step = onward ?? back!;
    path.push(step);
    if (seen.has(step)) return path.slice(path.indexOf(step)).map(name).join(" -> ");
    seen.add(step);
  }
}

function projectPath(module: string): string {
  return relative(PROJECT, fileURLToPath(module));
}

Deno.test("the module graph of mod.ts and cli.ts has no import cycle", async () => {
  const graph = await moduleGraph([join(PROJECT, "mod.ts"), join(PROJECT, "cli.ts")]);
  ok(graph.size > 40, `the graph holds every module of src/ (found ${graph.size})`);
  const cycles = importCycles(graph);
  const found = cycles.map((cycle) => cycle.map(projectPath));
  const allowed = new Set(ALLOWED_CYCLES.map((cycle) => cycle.join(" ")));
  const unexpected = cycles.filter((_, k) => !allowed.has(found[k].join(" ")));
  const described = unexpected.map((cycle) => describeCycle(graph, cycle, projectPath));
  ok(described.length === 0, `import cycles, each shown as one path around it:\n  ${described.join("\n  ")}`);
  const present = new Set(found.map((cycle) => cycle.join(" ")));
  const gone = ALLOWED_CYCLES.filter((cycle) => !present.has(cycle.join(" ")));
  ok(gone.length === 0, `allowed cycles that are gone, to remove from ALLOWED_CYCLES: ${JSON.stringify(gone)}`);
});

Deno.test("importCycles() finds a cycle of two modules, a module importing itself, and nothing in a tree", async () => {
  await using root = await tempRoot();
  const files: Record<string, string> = {
    "main.ts": 'import "./a.ts";\nimport "./tree.ts";\nimport "./self.ts";\n',
    "a.ts": 'import type { B } from "./b.ts";\nexport type A = B;\n',
    "b.ts": 'import "./a.ts";\nexport type B = number;\n',
    "tree.ts": 'import "./leaf.ts";\nimport "./a.ts";\n',
    "leaf.ts": "export const leaf = 1;\n",
    "self.ts": 'import "./self.ts";\n',
  };
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(join(root.path, name), text);
  const graph = await moduleGraph([join(root.path, "main.ts")]);
  equal(graph.size, 6);
  const name = (module: string) => relative(root.path, fileURLToPath(module));
  const cycles = importCycles(graph);
  deepEqual(cycles.map((cycle) => cycle.map(name)), [["a.ts", "b.ts"], ["self.ts"]]);
  deepEqual(cycles.map((cycle) => describeCycle(graph, cycle, name)), ["a.ts -> b.ts -> a.ts", "self.ts -> self.ts"]);
});

Deno.test("the worker, the CLI, the dashboard and the dispatcher reach a backend only through the port and connect()", async () => {
  const graph = await moduleGraph([join(PROJECT, "mod.ts"), join(PROJECT, "cli.ts")]);
  const outside = (
    path: string,
  ) => (path.startsWith("src/worker/") || path.startsWith("src/cli/") || path.startsWith("src/serve/") ||
    path === "src/dispatcher.ts");
  ok([...graph.keys()].some((module) => projectPath(module).startsWith("src/serve/")), "the dashboard is in the graph");
  const crossings: string[] = [];
  for (const [module, imports] of graph) {
    const from = projectPath(module);
    if (!outside(from)) continue;
    for (const target of imports) {
      const to = projectPath(target);
      if (to.startsWith("src/backend/") && to.split("/").length > 3) crossings.push(`${from} -> ${to}`);
    }
  }
  deepEqual(crossings, [], "imports of a backend's own modules (use src/backend/port.ts, operations.ts, connect.ts)");
});

/** Every module specifier `deno info --json` lists for a root (local, npm:, node:...). */
async function allSpecifiers(root: string): Promise<string[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", root],
    stdout: "piped",
    stderr: "piped",
  }).output();
  ok(output.success, `deno info --json ${root} failed: ${new TextDecoder().decode(output.stderr)}`);
  // (Not its `npmPackages`: those are every package deno.json names, reached or not.)
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as DenoInfo;
  const specifiers = info.modules.map((module) => module.specifier);
  for (const module of info.modules) {
    for (const dependency of module.dependencies ?? []) {
      for (const target of [dependency.code?.specifier, dependency.type?.specifier]) {
        if (target) specifiers.push(target);
      }
    }
  }
  return specifiers;
}

Deno.test("mod.ts and cli.ts load no npm: module (the NATS backend's dependencies stay in src/backend/nats/)", async () => {
  for (const root of ["mod.ts", "cli.ts"]) {
    const specifiers = await allSpecifiers(join(PROJECT, root));
    ok(specifiers.length > 40, `${root}: the graph holds the core (found ${specifiers.length})`);
    const npm = specifiers.filter((specifier) => specifier.startsWith("npm:") || specifier.includes("/backend/nats/"));
    deepEqual(npm, [], `${root} reaches npm modules or the NATS backend`);
  }
  // The check can fail: the NATS module's graph does have them.
  const nats = await allSpecifiers(join(PROJECT, "src", "backend", "nats", "mod.ts"));
  ok(nats.some((specifier) => specifier.startsWith("npm:")), "src/backend/nats/mod.ts reaches npm modules");
});

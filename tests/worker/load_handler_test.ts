/**
 * `loadHandler()`: handler modules imported by path or URL, every accepted
 * shape of default export, and one clear line for each way a module can be
 * unusable.
 *
 * @module
 */
import { equal, fail, match, ok } from "node:assert/strict";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { type HandlerLike, HandlerLoadError, loadHandler, type TaskContext } from "../../mod.ts";
import { PROJECT, runCli, tempRoot } from "../_helpers.ts";

/** mod.ts as a URL that handler modules written to a temp directory can import. */
const MOD = pathToFileURL(join(PROJECT, "mod.ts")).href;

/** A task context whose payload tells the handler what to return. */
function context(payload: unknown): TaskContext {
  const record = { payload, sequence: 1, count: 1, delivery: "2026-11-29T03:39:28+00:00" };
  return {
    payload,
    sequence: 1,
    count: 1,
    delivery: record.delivery,
    retryCount: 0,
    eventType: "product/created",
    taskId: undefined,
    eventId: undefined,
    listener: "loader",
    listenerId: "product/created/loader",
    record,
    signal: new AbortController().signal,
    log: () => {},
  };
}

/** Writes a module into `dir` and returns its absolute path. */
async function module(dir: string, file: string, source: string): Promise<string> {
  const path = join(dir, file);
  await Deno.writeTextFile(path, source);
  return path;
}

const FUNCTION_SOURCE = "export default (context) => context.payload.code;\n";

Deno.test("loadHandler() imports a relative path, an absolute path and a file: URL", async (t) => {
  await using root = await tempRoot();
  await Deno.mkdir(join(root.path, "handlers"));
  const path = await module(join(root.path, "handlers"), "by_path.ts", FUNCTION_SOURCE);
  const specifiers: [string, string, string | undefined][] = [
    ["a path relative to the given directory", "./handlers/by_path.ts", root.path],
    ["a bare relative path", "handlers/by_path.ts", root.path],
    ["a path relative to the working directory", relative(Deno.cwd(), path), undefined],
    ["an absolute path", path, "/nonexistent"],
    ["a file: URL", pathToFileURL(path).href, "/nonexistent"],
  ];
  for (const [what, specifier, cwd] of specifiers) {
    await t.step(what, async () => {
      const handler = await loadHandler(specifier, cwd);
      equal(await handler.handleTask(context({ code: 2 })), 2);
    });
  }
});

Deno.test("loadHandler() accepts each shape of default export", async (t) => {
  await using root = await tempRoot();
  const shapes: { what: string; source: string; maxAttempts: number | undefined }[] = [
    {
      what: "a Handler subclass, constructed with no arguments",
      source: `import { Handler } from "${MOD}";
export default class Scaler extends Handler {
  #calls = 0;
  override maxAttempts() { return 3; }
  handleTask(context) { this.#calls++; return this.#calls === 1 ? context.payload.code : 99; }
}
`,
      maxAttempts: 3,
    },
    {
      what: "a Handler instance",
      source: `import { Handler } from "${MOD}";
class Scaler extends Handler {
  handleTask(context) { return context.payload.code; }
}
export default new Scaler();
`,
      maxAttempts: 0,
    },
    {
      what: "a plain object with handleTask and maxAttempts",
      source: `export default {
  maxAttempts: () => 5,
  handleTask: async (context) => await Promise.resolve(context.payload.code),
};
`,
      maxAttempts: 5,
    },
    { what: "a plain function", source: FUNCTION_SOURCE, maxAttempts: undefined },
    {
      what: "a named async function",
      source: "export default async function handle(context) { return context.payload.code; }\n",
      maxAttempts: undefined,
    },
  ];
  for (const [index, { what, source, maxAttempts }] of shapes.entries()) {
    await t.step(what, async () => {
      const path = await module(root.path, `shape_${index}.ts`, source);
      const handler: HandlerLike = await loadHandler(path);
      equal(typeof handler.handleTask, "function");
      equal(await handler.handleTask(context({ code: 3 })), 3);
      equal(handler.maxAttempts?.(), maxAttempts);
    });
  }
});

Deno.test("loadHandler() fails with one line naming the specifier and what was expected", async (t) => {
  await using root = await tempRoot();
  const cases: { what: string; source?: string; expected: RegExp }[] = [
    { what: "a missing file", expected: /module not found at file:\/\/\/.*\/bad_0\.ts$/ },
    {
      what: "no default export",
      source: "export const limit = 3;\nexport function handleTask() { return 0; }\n",
      expected:
        /the module has no default export \(it exports handleTask, limit\); expected `export default` of a Handler subclass, a handler object or a function$/,
    },
    {
      what: "no export at all",
      source: "const x = 1;\nconsole.assert(x);\n",
      expected: /the module has no default export; expected `export default`/,
    },
    {
      what: "a number",
      source: "export default 42;\n",
      expected: /the default export is a number; expected a Handler subclass, a handler object or a function$/,
    },
    {
      what: "null",
      source: "export default null;\n",
      expected: /the default export is null; expected a Handler subclass/,
    },
    {
      what: "an object without handleTask",
      source: "export default { handle() { return 0; } };\n",
      expected: /the default export is an object without handleTask\(\); expected a Handler subclass/,
    },
    {
      what: "a class without handleTask",
      source: "export default class Mailer { handle() { return 0; } }\n",
      expected: /the default export class Mailer has no handleTask\(\) method$/,
    },
    {
      what: "a constructor that throws",
      source: `export default class Mailer {
  constructor() { throw new Error("MAIL_HOST is not set"); }
  handleTask() { return 0; }
}
`,
      expected: /constructing Mailer failed: Error: MAIL_HOST is not set$/,
    },
    {
      what: "a syntax error",
      source: "export default class {\n  handleTask( {\n}\n",
      expected: /SyntaxError: .* at file:\/\/\/.*\/bad_8\.ts:\d+:\d+$/,
    },
    {
      what: "an error thrown while the module loads",
      source: "throw new Error('no config\\nsecond line');\n",
      expected: /: no config$/,
    },
  ];
  for (const [index, { what, source, expected }] of cases.entries()) {
    await t.step(what, async () => {
      const file = `bad_${index}.ts`;
      if (source !== undefined) await module(root.path, file, source);
      const specifier = `./${file}`;
      try {
        await loadHandler(specifier, root.path);
        fail(`loaded ${what}`);
      } catch (error) {
        ok(error instanceof HandlerLoadError, String(error));
        equal(error.specifier, specifier);
        ok(!error.message.includes("\n"), `one line: ${JSON.stringify(error.message)}`);
        ok(error.message.startsWith(`Cannot load handler "./${file}": `), error.message);
        match(error.message, expected);
      }
    });
  }
});

Deno.test("loadHandler() names an https: URL that it may not import", async () => {
  // The test runner has no --allow-import for 127.0.0.1, so Deno refuses before any connection.
  const url = "https://127.0.0.1:9/handler.ts";
  try {
    await loadHandler(url);
    fail("loaded an unreachable URL");
  } catch (error) {
    ok(error instanceof HandlerLoadError, String(error));
    ok(!error.message.includes("\n"), error.message);
    match(error.message, /^Cannot load handler "https:\/\/127\.0\.0\.1:9\/handler\.ts": .*--allow-import/);
  }
});

Deno.test("hurah run with an https: handler that cannot be fetched exits 2 naming the URL", async () => {
  await using root = await tempRoot();
  const url = "https://127.0.0.1:9/handler.ts";
  const result = await runCli(["run", "remote", "product", url, root.path]);
  equal(result.code, 2, result.stderr);
  const lines = result.stderr.split("\n");
  equal(lines.length, 2, result.stderr); // one line, with no usage hint: the message says what is wrong
  const prefix = `hurah run: remote: Cannot load handler "${url}": cannot fetch ${url} (no network?): `;
  ok(lines[0].startsWith(prefix), lines[0]);
  equal(result.stdout, "");
});

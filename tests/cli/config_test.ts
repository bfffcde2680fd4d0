/**
 * `hurah run --config` and `hurah watch --config`: several listeners, module
 * and exec handlers, in one process; a plain JSON file or a deno.json `hurah`
 * key; relative paths resolved against the config file's directory; every
 * mistake refused with exit 2 before anything is registered.
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher, Layout, listenerPath } from "../../mod.ts";
import { parseConfig } from "../../src/cli/_config.ts";
import { exists, runCli, spawnCli, stopChild, tempRoot, untimed, waitUntil } from "../_helpers.ts";

/** The directories of one test: the config file's, the event root, a working directory apart, and the audit output. */
interface Dirs {
  conf: string;
  events: string;
  elsewhere: string;
  /** Where the exec handler copies each task it gets. */
  audit: string;
}

async function dirs(base: string): Promise<Dirs> {
  const layout = {
    conf: join(base, "conf"),
    events: join(base, "events"),
    elsewhere: join(base, "elsewhere"),
    audit: join(base, "audit"),
  };
  for (const dir of Object.values(layout)) await Deno.mkdir(dir);
  await Deno.mkdir(join(layout.conf, "handlers"));
  await Deno.writeTextFile(
    join(layout.conf, "handlers", "mailer.ts"),
    "export default (context) => context.payload.ok ? 0 : 3;\n",
  );
  return layout;
}

/** Two listeners of one config: a module handler on user/signup and an exec handler on user. */
function handlers(audit: string): unknown[] {
  return [
    { name: "mailer", eventType: "user/signup", module: "./handlers/mailer.ts", timeout: "30s" },
    { name: "audit", eventType: "user", exec: `cat > '${audit}'/$HURAH_LISTENER-$HURAH_SEQUENCE.json`, maxAttempts: 2 },
  ];
}

async function entries(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
}

function archived(events: string, name: string, eventType: string, sequence: number): string {
  return join(events, listenerPath(name, eventType), Layout.ARCHIVE, `${sequence}.json`);
}

/** Checks that both listeners archived task 1, and that the exec handler got it on stdin. */
async function assertBothHandled(layout: Dirs): Promise<void> {
  const mailer = archived(layout.events, "mailer", "user/signup", 1);
  const audit = archived(layout.events, "audit", "user", 1);
  ok(await exists(mailer), "mailer archived task 1");
  ok(await exists(audit), "audit archived task 1");
  equal(await Deno.readTextFile(join(layout.audit, "audit-1.json")), (await Deno.readTextFile(audit)) + "\n");
}

Deno.test("hurah run --config runs a module and an exec handler in one process", async (t) => {
  const variants: { what: string; file: string; content: (layout: Dirs) => unknown }[] = [
    {
      what: "a plain JSON file",
      file: "hurah.json",
      content: (layout) => ({ root: "../events", handlers: handlers(layout.audit) }),
    },
    {
      what: "a deno.json with a hurah key",
      file: "deno.json",
      content: (layout) => ({
        tasks: { worker: "hurah watch --config deno.json" },
        hurah: { root: "../events", handlers: handlers(layout.audit) },
      }),
    },
  ];
  for (const { what, file, content } of variants) {
    await t.step(what, async () => {
      await using root = await tempRoot();
      const layout = await dirs(root.path);
      const config = join(layout.conf, file);
      await Deno.writeTextFile(config, JSON.stringify(content(layout), null, 2));
      // From another directory: the module path and the root are relative to the config file.
      const register = await runCli(["run", "--config", config], { cwd: layout.elsewhere });
      equal(register.code, 0, register.stderr);
      equal(
        register.stdout,
        [
          "user/signup/mailer: 0 handled, 0 archived, 0 to error, 0 to retry, 0 quarantined",
          "user/audit: 0 handled, 0 archived, 0 to error, 0 to retry, 0 quarantined",
          "",
        ].join("\n"),
      );
      deepEqual(await entries(layout.elsewhere), [], "nothing written to the working directory");
      const deliveries = await new Dispatcher(layout.events, { durable: false }).dispatch("user/signup", { ok: true });
      deepEqual(deliveries.map((d) => d.listener), ["mailer", "audit"]);

      const run = await runCli(["run", "--config", config], { cwd: layout.elsewhere });
      equal(run.code, 0, run.stderr);
      match(run.stdout, /^user\/signup\/mailer: 1 handled, 1 archived.*\nuser\/audit: 1 handled, 1 archived/);
      await assertBothHandled(layout);
    });
  }
});

Deno.test("hurah run --config: an event root argument wins over the file's root", async () => {
  await using root = await tempRoot();
  const layout = await dirs(root.path);
  const other = join(root.path, "other");
  const config = join(layout.conf, "hurah.json");
  await Deno.writeTextFile(config, JSON.stringify({ root: "../events", handlers: handlers(layout.audit) }));
  const result = await runCli(["run", "--config", config, other, "--create-root"]);
  equal(result.code, 0, result.stderr);
  ok(await exists(join(other, listenerPath("mailer", "user/signup"))));
  deepEqual(await entries(layout.events), []);
});

/** Reads a stream to its end, keeping what was read so far visible. */
function collect(stream: ReadableStream<Uint8Array>): { readonly text: string; done: Promise<void> } {
  let text = "";
  const done = (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  })();
  return {
    get text() {
      return text;
    },
    done,
  };
}

Deno.test("hurah watch --config handles both listeners as tasks arrive, and exits 0 on SIGTERM", async () => {
  await using root = await tempRoot();
  const layout = await dirs(root.path);
  const config = join(layout.conf, "hurah.json");
  await Deno.writeTextFile(config, JSON.stringify({ root: "../events", handlers: handlers(layout.audit) }));
  const child = spawnCli(["watch", "--config", config, "--grace", "1s"]);
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  let exited = false;
  try {
    await waitUntil(
      `the watcher to start; stderr: ${stderr.text}`,
      () => stderr.text.includes("hurah watch: watching"),
    );
    match(stderr.text, /watching mailer \("user\/signup"\), audit \("user"\) under /);
    await new Dispatcher(layout.events, { durable: false }).dispatch("user/signup", { ok: true });
    await waitUntil(
      "both tasks to be archived",
      async () =>
        await exists(archived(layout.events, "mailer", "user/signup", 1)) &&
        await exists(archived(layout.events, "audit", "user", 1)),
    );
    child.kill("SIGTERM");
    const status = await child.status;
    exited = true;
    await Promise.all([stdout.done, stderr.done]);
    equal(status.code, 0, stderr.text);
    match(stderr.text, /hurah watch: stopped\n$/);
    await assertBothHandled(layout);
  } finally {
    if (!exited) {
      await stopChild(child);
      await Promise.all([stdout.done, stderr.done]);
    }
  }
});

Deno.test("hurah run --config refuses a bad config with exit 2 and one line, touching nothing", async (t) => {
  await using root = await tempRoot();
  const layout = await dirs(root.path);
  const good = { name: "mailer", eventType: "user", exec: "exit 0" };
  const cases: { what: string; text: string; expected: RegExp }[] = [
    {
      what: "an unknown top-level key",
      text: JSON.stringify({ root: "../events", handler: [good] }),
      expected: /unknown key "handler"; allowed: root, handlers, schedules$/,
    },
    {
      what: "an unknown handler key",
      text: JSON.stringify({ handlers: [{ ...good, retries: 3 }] }),
      expected:
        /unknown key "retries" in handlers\[0\]; allowed: name, eventType, module, exec, maxAttempts, maxLost, timeout, concurrency$/,
    },
    {
      what: "a missing name",
      text: JSON.stringify({ handlers: [good, { eventType: "user", exec: "exit 0" }] }),
      expected: /handlers\[1\]\.name must be a string$/,
    },
    {
      what: "both module and exec",
      text: JSON.stringify({ handlers: [{ ...good, module: "./h.ts" }] }),
      expected: /handlers\[0\] needs exactly one of 'module' \(a module path or URL\) and 'exec' \(a shell command\)$/,
    },
    {
      what: "neither module nor exec",
      text: JSON.stringify({ handlers: [{ name: "mailer", eventType: "user" }] }),
      expected: /handlers\[0\] needs exactly one of 'module'/,
    },
    {
      what: "a bad timeout",
      text: JSON.stringify({ handlers: [{ ...good, timeout: "soon" }] }),
      expected: /handlers\[0\]\.timeout must be a duration like 500ms, 10s, 5m, 2h or 7d, found "soon"$/,
    },
    {
      what: "a negative maxAttempts",
      text: JSON.stringify({ handlers: [{ ...good, maxAttempts: -1 }] }),
      expected: /handlers\[0\]\.maxAttempts must be a non-negative integer$/,
    },
    {
      what: "a maxLost that is not a whole number",
      text: JSON.stringify({ handlers: [{ ...good, maxLost: 1.5 }] }),
      expected: /handlers\[0\]\.maxLost must be a non-negative integer$/,
    },
    {
      what: "no handlers",
      text: JSON.stringify({ hurah: { handlers: [] } }),
      expected: /'handlers' must be a non-empty array$/,
    },
    { what: "text that is not JSON", text: "{ handlers: [] }", expected: /is not valid JSON/ },
    {
      what: "the same listener twice (same name, same event type)",
      text: JSON.stringify({ handlers: [good, { name: "other", eventType: "user", exec: "exit 0" }, good] }),
      expected: /handlers\[2\] is listener "user\/mailer" again \(as handlers\[0\]\); a listener may be listed once$/,
    },
    {
      what: "an invalid handler name",
      text: JSON.stringify({ handlers: [{ ...good, name: "mail/er" }] }),
      expected: /handlers\[0\]\.name: Invalid handler name "mail\/er": /,
    },
    {
      what: "an invalid event type",
      text: JSON.stringify({ handlers: [{ ...good, eventType: "user//signup" }] }),
      expected: /handlers\[0\]\.eventType: Invalid event type "user\/\/signup": empty segment 2$/,
    },
  ];
  for (const [index, { what, text, expected }] of cases.entries()) {
    await t.step(what, async () => {
      const config = join(layout.conf, `bad_${index}.json`);
      await Deno.writeTextFile(config, text);
      const result = await runCli(["run", "--config", config, layout.events]);
      equal(result.code, 2, result.stderr);
      const lines = result.stderr.split("\n");
      deepEqual(lines.slice(1), ["Run 'hurah run --help' for usage.", ""], result.stderr);
      ok(lines[0].startsWith(`hurah run: config file ${config}`), lines[0]);
      match(lines[0], expected);
      equal(result.stdout, "");
    });
  }
  await t.step("a config file that does not exist", async () => {
    const config = join(layout.conf, "missing.json");
    const result = await runCli(["run", "--config", config, layout.events]);
    equal(result.code, 2, result.stderr);
    match(
      result.stderr,
      /^hurah run: cannot read config file .*missing\.json: .*\nRun 'hurah run --help' for usage\.\n$/,
    );
  });
  deepEqual(await entries(layout.events), [], "nothing registered");
});

Deno.test("run and watch --config with two handler modules missing: exit 2 listing both, nothing started", async (t) => {
  await using root = await tempRoot();
  const layout = await dirs(root.path);
  const config = join(layout.conf, "hurah.json");
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      root: "../events",
      handlers: [
        { name: "first", eventType: "user", exec: "exit 0" },
        { name: "lost_one", eventType: "user", module: "./handlers/lost_one.ts" },
        { name: "mailer", eventType: "user/signup", module: "./handlers/mailer.ts" },
        { name: "lost_two", eventType: "order", module: "file:///nonexistent/lost_two.ts" },
      ],
    }),
  );
  for (const command of ["run", "watch"]) {
    await t.step(command, async () => {
      const child = spawnCli([command, "--config", config]);
      const stdout = collect(child.stdout);
      const stderr = collect(child.stderr);
      const guard = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const status = await child.status;
      clearTimeout(guard);
      await Promise.all([stdout.done, stderr.done]);
      equal(status.code, 2, stderr.text);
      const lines = stderr.text.split("\n");
      // No "Run 'hurah <command> --help'": the lines say what is wrong with each handler.
      equal(lines.length, 4, stderr.text);
      equal(lines[0], `hurah ${command}: 2 handlers cannot be loaded:`);
      match(
        lines[1],
        /^ {2}lost_one: Cannot load handler ".*\/conf\/handlers\/lost_one\.ts": module not found at file:/,
      );
      match(lines[2], /^ {2}lost_two: Cannot load handler "file:\/\/\/nonexistent\/lost_two\.ts": module not found/);
      equal(lines[3], "");
      equal(stdout.text, "");
      deepEqual(await entries(layout.events), [], "no listener registered");
    });
  }
});

Deno.test("parseConfig() resolves relative paths against the config file's directory", () => {
  const config = parseConfig(
    {
      hurah: {
        root: "../events",
        handlers: [
          { name: "a", eventType: "x", module: "./handlers/a.ts" },
          { name: "b", eventType: "x", module: "https://example.com/b.ts" },
          { name: "c", eventType: "", exec: "php handle.php", maxAttempts: 3, maxLost: 0, timeout: 90 },
        ],
      },
    },
    "/srv/app/conf/deno.json",
  );
  equal(config.root, "/srv/app/events");
  deepEqual(config.handlers.map((h) => [h.name, h.module, h.exec, h.maxAttempts, h.maxLost, h.timeoutMs]), [
    ["a", "/srv/app/conf/handlers/a.ts", undefined, undefined, undefined, 0],
    ["b", "https://example.com/b.ts", undefined, undefined, undefined, 0],
    ["c", undefined, "php handle.php", 3, 0, 90_000],
  ]);
});

Deno.test("run and watch --config with two listeners of one name on different event types: both work, told apart", async (t) => {
  await using root = await tempRoot();
  const layout = await dirs(root.path);
  const config = join(layout.conf, "hurah.json");
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      root: "../events",
      handlers: [
        { name: "mailer", eventType: "a", exec: "exit 0" },
        { name: "mailer", eventType: "b", exec: "exit 0" },
      ],
    }),
  );
  const register = await runCli(["run", "--config", config]);
  equal(register.code, 0, register.stderr);
  const dispatcher = new Dispatcher(layout.events, { durable: false });
  await t.step("text logs and reports", async () => {
    for (const type of ["a", "b"]) await dispatcher.dispatch(type, { type });
    const run = await runCli(["run", "--config", config]);
    equal(run.code, 0, run.stderr);
    // Each line starts with the time (no JOURNAL_STREAM here): then the listener, told apart by its event type.
    ok(run.stderr.split("\n").filter(Boolean).every((line) => /^\d{4}-\d\d-\d\dT[\d:.]+Z /.test(line)), run.stderr);
    const logs = untimed(run.stderr).split("\n").filter((line) => line !== "");
    deepEqual(logs.map((line) => line.replace(/\(.* ms\)$/, "(ms)")), [
      "a/mailer #1 SUCCESS -> archive (ms)",
      "b/mailer #1 SUCCESS -> archive (ms)",
    ]);
    deepEqual(run.stdout.split("\n"), [
      "a/mailer: 1 handled, 1 archived, 0 to error, 0 to retry, 0 quarantined",
      "b/mailer: 1 handled, 1 archived, 0 to error, 0 to retry, 0 quarantined",
      "",
    ]);
  });
  await t.step("JSON logs and reports", async () => {
    for (const type of ["a", "b"]) await dispatcher.dispatch(type, { type });
    const run = await runCli(["run", "--config", config, "--log-format", "json", "--json"]);
    equal(run.code, 0, run.stderr);
    const records = run.stderr.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line));
    // A start record (version, options, the listener set) first, a stop record last.
    const [start, stop] = [records[0], records.at(-1)];
    deepEqual([start.type, start.command, start.listeners, typeof start.version], ["start", "run", [
      "a/mailer",
      "b/mailer",
    ], "string"]);
    equal(start.options.config, config);
    deepEqual([stop.type, stop.exitCode], ["stop", 0]);
    const logs = records.slice(1, -1);
    ok(logs.every((log) => /^\d+(\.\d{1,3})?$/.test(String(log.durationMs))), "durations to the microsecond");
    deepEqual(logs.map(({ type, listener, sequence, result }) => ({ type, listener, sequence, result })), [
      { type: "task", listener: "a/mailer", sequence: 2, result: "SUCCESS" },
      { type: "task", listener: "b/mailer", sequence: 2, result: "SUCCESS" },
    ]);
    // One JSON document for the whole invocation.
    const { listeners: reports } = JSON.parse(run.stdout) as { listeners: { listener: string; archived: number }[] };
    deepEqual(reports.map(({ listener, archived }) => ({ listener, archived })), [
      { listener: "a/mailer", archived: 1 },
      { listener: "b/mailer", archived: 1 },
    ]);
  });
  await t.step("hurah watch: JSON logs", async () => {
    const child = spawnCli(["watch", "--config", config, "--log-format", "json", "--grace", "1s"]);
    const stdout = collect(child.stdout);
    const stderr = collect(child.stderr);
    let exited = false;
    try {
      // Both listeners are registered already; the watcher finds the tasks in its backlog pass or as they arrive.
      for (const type of ["a", "b"]) await dispatcher.dispatch(type, { type });
      await waitUntil(
        `both tasks handled; stderr: ${stderr.text}`,
        () => stderr.text.split("\n").filter((line) => line.includes('"type":"task"')).length === 2,
      );
      child.kill("SIGTERM");
      const status = await child.status;
      exited = true;
      await Promise.all([stdout.done, stderr.done]);
      equal(status.code, 0, stderr.text);
      const records = stderr.text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line));
      deepEqual([records[0].type, records[0].command, records[0].listeners], ["start", "watch", [
        "a/mailer",
        "b/mailer",
      ]]);
      equal(records.at(-1).type, "stop");
      const logs = records.filter((record) => record.type === "task");
      deepEqual(
        logs.map(({ type, listener, sequence, result }) => ({ type, listener, sequence, result }))
          .sort((x, y) => x.listener < y.listener ? -1 : 1),
        [
          { type: "task", listener: "a/mailer", sequence: 3, result: "SUCCESS" },
          { type: "task", listener: "b/mailer", sequence: 3, result: "SUCCESS" },
        ],
      );
    } finally {
      if (!exited) {
        await stopChild(child);
        await Promise.all([stdout.done, stderr.done]);
      }
    }
  });
  for (const type of ["a", "b"]) {
    deepEqual(
      await entries(join(layout.events, listenerPath("mailer", type), Layout.ARCHIVE)),
      ["1.json", "2.json", "3.json"],
      `${type}/mailer archived each of its tasks`,
    );
  }
});

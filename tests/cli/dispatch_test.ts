/**
 * `hurah dispatch --batch`: events as JSON lines from a file or stdin, every
 * line checked before anything is written.
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { decodeTask, Layout } from "../../mod.ts";
import { listDirs, namesIn, runCli, sequencesIn, spawnCli, tempRoot, waitUntil } from "../_helpers.ts";
import { smallTmpfs } from "../_tmpfs.ts";

async function registeredRoot() {
  const root = await tempRoot();
  for (const [name, type] of [["mailer", "product/created"], ["audit", ""]]) {
    const registered = await runCli(["run", name, type, "--exec", "true", root.path]);
    equal(registered.code, 0, registered.stderr);
  }
  return root;
}

Deno.test("hurah dispatch --batch delivers every line's event, in order, from a file or stdin", async (t) => {
  const lines = [
    '{"event_type":"product/created","payload":{"id":1}}',
    "",
    '{"event_type":"order/paid"}',
    '{"payload":[3],"event_type":"product/created"}',
  ].join("\n") + "\n";
  for (const from of ["file", "stdin"]) {
    await t.step(from, async () => {
      await using root = await registeredRoot();
      const file = join(root.path, "events.jsonl");
      await Deno.writeTextFile(file, lines);
      const result = from === "file"
        ? await runCli(["dispatch", "--batch", file, "--root", root.path])
        : await runCli(["dispatch", "--batch", "-", "--root", root.path], { stdin: lines });
      equal(result.code, 0, result.stderr);
      deepEqual(result.stdout.trim().split("\n").map((line) => line.split(" ").slice(0, 2).join(" ")), [
        "mailer 1",
        "audit 1",
        "audit 2",
        "mailer 2",
        "audit 3",
      ]);
      match(result.stderr, /^hurah dispatch: 3 events, 5 deliveries under /);
      const mailer = join(root.path, "product", "created", "mailer_listener", Layout.INBOX);
      const audit = join(root.path, "audit_listener", Layout.INBOX);
      const payloads = (dir: string) =>
        sequencesIn(dir).map((n) => decodeTask(Deno.readTextFileSync(join(dir, `${n}.json`)), n).payload);
      deepEqual(payloads(mailer), [{ id: 1 }, [3]]);
      deepEqual(payloads(audit), [{ id: 1 }, null, [3]]);
    });
  }
});

Deno.test("hurah dispatch --batch --json prints one array of deliveries per event", async () => {
  await using root = await registeredRoot();
  const stdin = '{"event_type":"product/created"}\n{"event_type":"order/paid"}\n';
  const result = await runCli(["dispatch", "--batch", "-", "--json", "--root", root.path], { stdin });
  equal(result.code, 0, result.stderr);
  const parsed = JSON.parse(result.stdout) as { listener: string; sequence: number }[][];
  deepEqual(parsed.map((each) => each.map((d) => `${d.listener} ${d.sequence}`)), [["mailer 1", "audit 1"], [
    "audit 2",
  ]]);
  const empty = await runCli(["dispatch", "--batch", "-", "--json", "--root", root.path], { stdin: "\n" });
  equal(empty.code, 0, empty.stderr);
  deepEqual(JSON.parse(empty.stdout), []);
});

Deno.test("hurah dispatch --batch refuses the whole batch for one bad line, naming it, and writes nothing", async (t) => {
  const good = '{"event_type":"product/created","payload":1}';
  const cases = [
    { line: "{not json", expected: /standard input line 2 is not valid JSON/ },
    { line: "[1]", expected: /standard input line 2: expected an object/ },
    {
      line: '{"type":"product"}',
      expected: /standard input line 2: unknown field "type"; expected event_type and payload/,
    },
    { line: '{"event_type":7}', expected: /standard input line 2: "event_type" must be a string/ },
    { line: '{"event_type":"../etc"}', expected: /standard input line 2: Invalid event type "\.\.\/etc"/ },
    {
      line: '{"event_type":"product","payload":1e999}',
      expected: /standard input line 2: Payload cannot be stored as JSON/,
    },
  ];
  for (const { line, expected } of cases) {
    await t.step(line, async () => {
      await using root = await registeredRoot();
      const before = namesIn(root.path);
      const result = await runCli(["dispatch", "--batch", "-", "--root", root.path], {
        stdin: `${good}\n${line}\n${good}\n`,
      });
      equal(result.code, 2, result.stderr);
      match(result.stderr, expected);
      equal(result.stdout, "");
      deepEqual(namesIn(join(root.path, "product", "created", "mailer_listener", Layout.INBOX)), []);
      deepEqual(namesIn(join(root.path, "audit_listener", Layout.INBOX)), []);
      deepEqual(namesIn(root.path), before, "no directory created for any event type");
    });
  }
  await t.step("arguments beside --batch", async () => {
    await using root = await registeredRoot();
    const result = await runCli(["dispatch", "product", "--batch", "-", "--root", root.path], { stdin: good });
    equal(result.code, 2);
    match(result.stderr, /--batch takes its events from -; found arguments product/);
  });
});

Deno.test("hurah dispatch exits 1 with one line when a listener's sequence numbers are used up", async () => {
  await using root = await registeredRoot();
  const tracking = join(root.path, "product", "created", "mailer_listener", Layout.TRACKING);
  await Deno.writeTextFile(tracking, '{"sequence":999999999999999,"count":999999999999999,"first":"","last":""}');
  const result = await runCli(["dispatch", "product/created", "{}", "--root", root.path]);
  equal(result.code, 1);
  match(result.stderr, /^hurah dispatch: .*product\/created\/mailer.*1000000000000000[^\n]*\n$/);
});

Deno.test("hurah dispatch --batch on a full disk prints what it delivered before the error, and the error on stderr", async (t) => {
  const disk = await smallTmpfs("3m");
  if ("skipped" in disk) {
    console.log(`skipped: ${disk.skipped}`);
    return;
  }
  await using _disk = disk;
  const registered = await runCli(["run", "mailer", "product/created", "--exec", "true", disk.path]);
  equal(registered.code, 0, registered.stderr);
  const batch = Array.from(
    { length: 1_000 },
    (_, i) => JSON.stringify({ event_type: "product/created", payload: { i } }),
  );
  const result = await runCli(["dispatch", "--batch", "-", "--root", disk.path, "--no-fsync"], {
    stdin: batch.join("\n"),
  });
  const dir = join(disk.path, "product", "created", "mailer_listener");
  const delivered = sequencesIn(join(dir, Layout.INBOX));
  await t.step(
    "the disk filled part-way",
    () => ok(delivered.length > 0 && delivered.length < 1_000, `${delivered.length}`),
  );
  equal(result.code, 1);
  const lines = result.stdout.split("\n").filter(Boolean);
  deepEqual(lines.map((line) => Number(line.split(" ")[1])), delivered, "every delivery reported, and only those");
  match(result.stderr, /No space left on device/);
  match(result.stderr, new RegExp(`after ${delivered.length} deliveries`));
  deepEqual(namesIn(join(dir, Layout.TMP)), [], "no staging file left");
});

Deno.test("hurah dispatch never gives the number of a task in flight, when tracking.json is behind", async () => {
  await using root = await tempRoot();
  const registered = await runCli(["run", "l", "ev", "--exec", "exit 0", root.path]);
  equal(registered.code, 0, registered.stderr);
  equal((await runCli(["dispatch", "ev", '{"who":"A"}', "--root", root.path])).code, 0);
  const dir = join(root.path, "ev", "l_listener");
  // A parallel worker claims task 1 (inflight/1.json~<worker>) and holds it for 2 s.
  const worker = spawnCli([
    "run",
    "l",
    "ev",
    "--concurrency",
    "2",
    "--no-fsync",
    "--exec",
    "sleep 2; exit 0",
    root.path,
  ]);
  try {
    await waitUntil(
      "task 1 in flight",
      () => namesIn(join(dir, Layout.INFLIGHT)).some((name) => name.startsWith("1.json~")),
    );
    // tracking.json behind the files, as after a restore or a power loss.
    await Deno.writeTextFile(join(dir, Layout.TRACKING), '{"sequence":0,"count":0,"first":"","last":""}');
    const result = await runCli(["dispatch", "ev", '{"who":"B"}', "--root", root.path]);
    equal(result.code, 0, result.stderr);
    match(result.stdout, /^l 2 /);
  } finally {
    await worker.status;
    await worker.stdout.cancel();
    await worker.stderr.cancel();
  }
  const who = (state: string) =>
    namesIn(join(dir, state)).map((name) => JSON.parse(Deno.readTextFileSync(join(dir, state, name))).payload.who);
  deepEqual([...who(Layout.ARCHIVE), ...who(Layout.INBOX)].sort(), ["A", "B"], "both tasks kept");
});

Deno.test("hurah dispatch to a type with no listener of its own says so, and leaves no directory behind", async (t) => {
  await using root = await registeredRoot();
  const before = await listDirs(root.path);
  await t.step("only ancestor listeners: delivered, with a note naming them", async () => {
    const result = await runCli(["dispatch", "product/created/late", "{}", "--root", root.path]);
    equal(result.code, 0, result.stderr);
    deepEqual(result.stdout.trim().split("\n").map((line) => line.split(" ")[0]), ["mailer", "audit"]);
    equal(
      result.stderr,
      `hurah dispatch: note: "product/created/late" has no listener of its own; ` +
        "delivered to listeners of product/created, the root type only\n",
    );
  });
  await t.step("its own listener: no note", async () => {
    const result = await runCli(["dispatch", "product/created", "{}", "--root", root.path]);
    equal(result.code, 0, result.stderr);
    equal(result.stderr, "");
  });
  await t.step("a batch names the events that reached no listener, the first 5, then a count", async () => {
    await Deno.remove(join(root.path, "audit_listener"), { recursive: true });
    const lines = ["product/created", ...Array.from({ length: 7 }, (_, k) => `typo${k}`)]
      .map((type) => JSON.stringify({ event_type: type })).join("\n");
    const result = await runCli(["dispatch", "--batch", "-", "--root", root.path], { stdin: lines });
    equal(result.code, 0, result.stderr);
    match(
      result.stderr,
      /\nhurah dispatch: 7 events reached no listener: typo0 \(line 2\), typo1 \(line 3\), typo2 \(line 4\), typo3 \(line 5\), typo4 \(line 6\), and 2 more\n$/,
    );
  });
  // No directory was made for the types nobody listens to (PHP's dispatcher makes them; nothing needs them).
  deepEqual(
    (await listDirs(root.path)).filter((dir) => !dir.startsWith("./audit_listener")),
    before.filter((dir) => !dir.startsWith("./audit_listener")),
  );
});

Deno.test("hurah dispatch --key delivers once; a second dispatch prints the first deliveries as duplicates", async () => {
  await using root = await registeredRoot();
  const args = ["dispatch", "product/created", '{"id":1}', "--root", root.path, "--key", "create-1"];
  const first = await runCli([...args, "--key-window", "1h"]);
  equal(first.code, 0, first.stderr);
  const lines = first.stdout.trim().split("\n");
  deepEqual(lines.map((line) => line.split(" ").slice(0, 2).join(" ")), ["mailer 1", "audit 1"]);
  const second = await runCli(args);
  equal(second.code, 0, second.stderr);
  deepEqual(second.stdout.trim().split("\n"), lines.map((line) => `${line} duplicate`));
  match(second.stderr, /duplicate: key "create-1" of "product\/created" was dispatched before/);
  const json = await runCli([...args, "--json"]);
  deepEqual(JSON.parse(json.stdout).map((each: { duplicate?: boolean }) => each.duplicate), [true, true]);
  // The same key for another event type is another event.
  const other = await runCli(["dispatch", "order/paid", "--root", root.path, "--key", "create-1"]);
  equal(other.stdout.trim().split("\n").map((line) => line.split(" ").slice(0, 2).join(" "))[0], "audit 2");
  deepEqual(sequencesIn(join(root.path, "product", "created", "mailer_listener", Layout.INBOX)), [1]);
  // The key store under .hurah/ is not a listener to status (nor to listener discovery).
  const status = await runCli(["status", "--root", root.path, "--json"]);
  equal(status.code, 0, status.stderr);
  deepEqual(JSON.parse(status.stdout).listeners.map((each: { listener: string }) => each.listener).sort(), [
    "audit",
    "product/created/mailer",
  ]);
  const misuse = await runCli(["dispatch", "product/created", "--root", root.path, "--key-window", "1h"]);
  equal(misuse.code, 2);
  match(misuse.stderr, /--key-window is the window of --key/);
});

Deno.test("hurah dispatch --ordering-key writes the task's ordering_key (and --batch an ordering_key per line)", async () => {
  await using root = await registeredRoot();
  const one = await runCli(["dispatch", "product/created", "--root", root.path, "--ordering-key", "customer-7"]);
  equal(one.code, 0, one.stderr);
  const lines = '{"event_type":"product/created","ordering_key":"customer-8"}\n{"event_type":"product/created"}\n';
  const batch = await runCli(["dispatch", "--batch", "-", "--root", root.path], { stdin: lines });
  equal(batch.code, 0, batch.stderr);
  const mailer = join(root.path, "product", "created", "mailer_listener", Layout.INBOX);
  const keys = sequencesIn(mailer).map((n) =>
    decodeTask(Deno.readTextFileSync(join(mailer, `${n}.json`)), n).ordering_key
  );
  deepEqual(keys, ["customer-7", "customer-8", undefined]);
});

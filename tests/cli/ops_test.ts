/** The operations commands through the real CLI: status, inspect, requeue, prune. */
import { deepEqual, equal, match, notEqual, ok } from "node:assert/strict";
import { join } from "node:path";
import { buildOpsRoot, GONE_WORKER, LIVE_WORKER } from "../_ops_root.ts";
import { runCli, tempRoot, untimed } from "../_helpers.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Replaces what changes from run to run (times, ages, the temporary root) with placeholders. */
function normalize(value: Json, root: string, key = ""): Json {
  if (Array.isArray(value)) return value.map((item) => normalize(item, root));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v, root, k)]));
  }
  if (value === null) return null;
  if (["time", "since", "lastDelivery"].includes(key)) return `<${key}>`;
  if (key.endsWith("AgeMs") || key === "ageMs") return typeof value === "number" && value >= 0 ? "<ms>" : value;
  if (typeof value === "string" && value.startsWith(root)) return "<root>" + value.slice(root.length);
  if (key === "message" && typeof value === "string") return value.replace(/is \d+(ms|s) old/, "is <age> old");
  return value;
}

/** Every key path in order, so that the order of the keys is pinned too. */
function keyPaths(value: Json, prefix = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((item, index) => keyPaths(item, `${prefix}[${index}]`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, item]) => [`${prefix}.${key}`, ...keyPaths(item, `${prefix}.${key}`)]);
}

Deno.test("hurah status prints JSON when stdout is not a terminal, in a pinned shape", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  const result = await runCli(["status", "--check", "--json", "--max-errors", "3"], {
    env: { HURAH_ROOT: root.path },
  });
  equal(result.code, 1, result.stderr);
  const report = normalize(JSON.parse(result.stdout), root.path);
  const expected: Json = {
    root: "<root>",
    time: "<time>",
    listeners: [
      {
        listener: "audit",
        name: "audit",
        eventType: "",
        dir: "<root>/audit_listener",
        state: "failing",
        failingAt: 5,
        pending: 3,
        scanned: 3,
        retrying: 0,
        waiting: 0,
        nextDueAt: null,
        oldestPending: 5,
        oldestPendingAgeMs: "<ms>",
        inFlight: [],
        errors: 3,
        quarantined: 1,
        archived: 1,
        lastDelivery: "<lastDelivery>",
        lastSequence: 7,
      },
      {
        listener: "product/created/image_scaler",
        name: "image_scaler",
        eventType: "product/created",
        dir: "<root>/product/created/image_scaler_listener",
        state: "ok",
        failingAt: null,
        pending: 1,
        scanned: 1,
        retrying: 0,
        waiting: 0,
        nextDueAt: null,
        oldestPending: 5,
        oldestPendingAgeMs: "<ms>",
        inFlight: [
          { sequence: 6, worker: LIVE_WORKER, since: "<since>", ageMs: "<ms>", lease: "live" },
          { sequence: 7, worker: GONE_WORKER, since: "<since>", ageMs: "<ms>", lease: "missing" },
        ],
        errors: 0,
        quarantined: 0,
        archived: 4,
        lastDelivery: "<lastDelivery>",
        lastSequence: 7,
      },
    ],
    violations: [
      {
        listener: "audit",
        threshold: "max-errors",
        limit: 3,
        found: 4,
        message: "audit: 4 entries in error/ (1 quarantined); at most 3 allowed (max-errors)",
      },
    ],
  };
  deepEqual(report, expected);
  deepEqual(keyPaths(report), keyPaths(expected), "the keys and their order");
  equal(result.stderr, "audit: 4 entries in error/ (1 quarantined); at most 3 allowed (max-errors)\n");

  // Without --json or --check, JSON too (stdout is a pipe here), with no violations.
  const plain = await runCli(["status"], { env: { HURAH_ROOT: root.path } });
  equal(plain.code, 0, plain.stderr);
  deepEqual(normalize(JSON.parse(plain.stdout), root.path), { ...expected, violations: [] });
});

Deno.test("hurah status prints an aligned table with --table", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  const result = await runCli(["status", "--table", "--root", root.path]);
  equal(result.code, 0, result.stderr);
  const lines = result.stdout.split("\n");
  match(lines[0], /^LISTENER +STATE +PENDING +OLDEST +IN FLIGHT +ERRORS +ARCHIVED +LAST DELIVERY$/);
  match(lines[1], /^audit +failing at #5 +3 +\S+( \S+)? +0 +3 \+ 1 quarantined +1 +\d{4}-\d\d-\d\dT/);
  match(lines[2], /^product\/created\/image_scaler +ok +1 +\S+( \S+)? +2 \(1 lost\) +0 +4 +\d{4}-/);
  // Columns line up: every row starts its STATE column where the header does.
  const column = lines[0].indexOf("STATE");
  equal(lines[1].slice(column).startsWith("failing"), true);
  equal(lines[2].slice(column).startsWith("ok"), true);
  equal(lines[3], "");
  match(lines[4], /^IN FLIGHT +FOR +WORKER +LEASE$/);
  match(lines[5], new RegExp(`^product/created/image_scaler #6 +\\S+( \\S+)? +${LIVE_WORKER} +lease live$`));
  match(lines[6], new RegExp(`^product/created/image_scaler #7 +\\S+( \\S+)? +${GONE_WORKER} +lease missing$`));
});

Deno.test("hurah status --check exits 0 within the limits, 1 past them, 2 on usage errors", async (t) => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  const env = { HURAH_ROOT: root.path };
  await t.step("within the limits", async () => {
    const result = await runCli(
      [
        "status",
        "--check",
        "--max-pending",
        "3",
        "--max-errors",
        "4",
        "--max-oldest",
        "1h",
        "--max-in-flight-age",
        "1h",
      ],
      { env },
    );
    equal(result.code, 0, result.stderr);
    equal(result.stdout, "OK: 2 listeners within limits\n");
    equal(result.stderr, "");
  });
  await t.step("past them: one line per violation on stderr", async () => {
    const result = await runCli(
      [
        "status",
        "--check",
        "--max-pending",
        "2",
        "--max-errors",
        "0",
        "--max-oldest",
        "0s",
        "--max-in-flight-age",
        "0s",
      ],
      { env },
    );
    equal(result.code, 1);
    match(result.stdout, /^WARNING: 5 limits crossed in 2 listeners: audit: 3 pending tasks; at most 2 allowed/);
    const lines = result.stderr.trimEnd().split("\n");
    equal(lines.length, 5, result.stderr);
    equal(lines[0], "audit: 3 pending tasks; at most 2 allowed (max-pending)");
    match(lines[1], /^audit: the oldest pending task, #5, is \S+ old; at most 0s allowed \(max-oldest\)$/);
    equal(lines[2], "audit: 4 entries in error/ (1 quarantined); at most 0 allowed (max-errors)");
    match(lines[3], /^product\/created\/image_scaler: the oldest pending task, #5, is/);
    match(
      lines[4],
      new RegExp(
        "^product/created/image_scaler: task #\\d has been in flight for \\S+ \\(and 1 other\\), " +
          "claimed by host[AB]-\\S+ \\(lease (live|missing)\\); at most 0s allowed \\(max-in-flight-age\\)$",
      ),
    );
  });
  await t.step("only the listeners named", async () => {
    const result = await runCli(["status", "--check", "--max-pending", "2", "product/created/image_scaler"], { env });
    equal(result.code, 0, result.stderr);
    equal(result.stdout, "OK: 1 listener within limits\n");
  });
  for (
    const [args, message] of [
      [["--check"], /--check needs at least one limit: --max-pending, --max-oldest/],
      [["--max-pending", "3"], /--max-pending is a limit for --check; add --check/],
      [["--check", "--max-pending=-1"], /--max-pending must be a non-negative integer, found "-1"/],
      [["--check", "--max-oldest", "soon"], /--max-oldest must be a duration like 500ms/],
      [["--json", "--table"], /--json and --table exclude each other/],
      [["--bogus"], /unknown option --bogus/],
    ] as const
  ) {
    await t.step(`usage error: ${args.join(" ")}`, async () => {
      const result = await runCli(["status", ...args], { env });
      equal(result.code, 2, result.stderr);
      match(result.stderr, message);
      match(result.stderr, /\nRun 'hurah status --help' for usage\.\n$/);
      equal(result.stderr.split("\n").length, 3, "one line, then the hint");
    });
  }
});

Deno.test("hurah inspect finds a task wherever it is and prints its history", async (t) => {
  await using root = await tempRoot();
  const { audit } = await buildOpsRoot(root.path);
  const env = { HURAH_ROOT: root.path };
  await t.step("pending in inbox/, stopped on FAILURE", async () => {
    const result = await runCli(["inspect", "audit", "5"], { env });
    equal(result.code, 0, result.stderr);
    const lines = result.stdout.split("\n");
    match(lines[0], /^audit #5: pending in inbox\/ since \d{4}-/);
    equal(lines[1], `  path         ${join(audit, "inbox", "5.json")}`);
    equal(lines[2], "  event_type   product/created");
    match(lines[3], /^ {2}event_id {5}[0-9a-f-]{36}$/);
    match(lines[5], /^ {2}delivery {5}\d{4}-/);
    equal(lines[6], "  retry_count  -");
    equal(lines[7], "  not_before   -");
    deepEqual(lines.slice(8, 13), ["  payload", "    {", '      "n": 5,', '      "audit": "failure"', "    }"]);
    equal(lines[13], "  history");
    match(lines[14], /^ {4}\S+Z {2}attempt 1 {2}FAILURE {2}\S+ {2}the handler returned Task\.FAILURE/);
  });
  await t.step("in error/, with its stack indented", async () => {
    const result = await runCli(["inspect", "audit", "3"], { env });
    equal(result.code, 0, result.stderr);
    match(result.stdout, /^audit #3: in error\/ since /);
    match(
      result.stdout,
      /\n {4}\S+Z {2}attempt 1 {2}ERROR -> error {2}\S+ {2}Error: audit exploded\n {6}Error: audit exploded\n {10}at /,
    );
  });
  await t.step("in error/ after its retries, with retry_count", async () => {
    const result = await runCli(["inspect", "audit", "4"], { env });
    match(result.stdout, /\n {2}retry_count {2}1\n/);
    match(result.stdout, /attempt 1 {2}RETRY -> error {2}/);
  });
  await t.step("in archive/", async () => {
    const result = await runCli(["inspect", "audit", "1"], { env });
    equal(result.code, 0, result.stderr);
    match(result.stdout, /^audit #1: in archive\/ since /);
    match(result.stdout, /\n {2}history {6}-\n$/);
  });
  await t.step("in flight, with its worker", async () => {
    const result = await runCli(["inspect", "product/created/image_scaler", "6"], { env });
    equal(result.code, 0, result.stderr);
    match(result.stdout, new RegExp(`^product/created/image_scaler #6: in flight \\(claimed by ${LIVE_WORKER}\\)`));
    match(result.stdout, new RegExp(`inflight/6\\.json~${LIVE_WORKER}\\n`));
  });
  await t.step("a quarantined file, with its reason", async () => {
    await Deno.writeTextFile(join(audit, "error", "9.json"), "{not json");
    await Deno.writeTextFile(join(audit, "error", "9.json.reason.txt"), "corrupt task file: not valid JSON\n");
    const result = await runCli(["inspect", "audit", "9", "--json"], { env });
    equal(result.code, 0, result.stderr);
    const inspection = JSON.parse(result.stdout);
    equal(inspection.found.length, 1);
    const [found] = inspection.found;
    equal(found.location, "error");
    equal(found.task, null);
    match(found.problem, /^corrupt task file: not valid JSON/);
    equal(found.reason, "corrupt task file: not valid JSON");
    equal(found.text, "{not json");
    const text = await runCli(["inspect", "audit", "9"], { env });
    match(
      text.stdout,
      /\n {2}problem {6}corrupt task file: not valid JSON.*\n {2}reason {7}corrupt task file: not valid JSON\n {2}text\n {4}\{not json\n$/,
    );
  });
  await t.step("not found: exit 1", async () => {
    const result = await runCli(["inspect", "audit", "42"], { env });
    equal(result.code, 1);
    equal(result.stdout, "");
    match(result.stderr, /^hurah inspect: task 42 of audit not found in inbox\/, inflight\/, archive\/ or error\/ of /);
  });
  await t.step("no such listener: exit 1", async () => {
    const result = await runCli(["inspect", "product/created/mailer", "1"], { env });
    equal(result.code, 1);
    match(
      result.stderr,
      /^hurah inspect: No listener "product\/created\/mailer": expected the directory .*mailer_listener, found nothing; run 'hurah status' to list the listeners\n$/,
    );
  });
  await t.step("usage errors: exit 2", async () => {
    for (const args of [["audit"], ["audit", "0"], ["audit", "x"], ["a//b/c", "1"]]) {
      const result = await runCli(["inspect", ...args], { env });
      equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      match(result.stderr, /\nRun 'hurah inspect --help' for usage\.\n$/);
    }
  });
});

Deno.test("hurah requeue puts tasks back with their history, and hurah run then handles them", async (t) => {
  await using root = await tempRoot();
  const { audit } = await buildOpsRoot(root.path);
  const env = { HURAH_ROOT: root.path, USER: "alice" };
  const read = async (...path: string[]) => JSON.parse(await Deno.readTextFile(join(audit, ...path)));
  const before = await read("error", "4.json");
  await t.step("one task", async () => {
    const result = await runCli(["requeue", "audit", "4"], { env });
    equal(result.code, 0, result.stderr);
    equal(result.stdout, "audit #4 error/ -> inbox/\n");
    equal(result.stderr, "");
    const task = await read("inbox", "4.json");
    equal("retry_count" in task, false, "retry_count removed");
    deepEqual(task.failures.slice(0, -1), before.failures, "history kept");
    const last = task.failures.at(-1);
    equal(last.result, "REQUEUED");
    equal("fate" in last, false);
    match(last.message, /^put back into inbox\/ from error\/ by alice \(hurah requeue\) at \S+Z; retry_count 1 reset$/);
    deepEqual(Object.keys(task), Object.keys(before).filter((key) => key !== "retry_count"), "fields in place");
    await Deno.lstat(join(audit, "error", "4.json")).then(() => ok(false, "still in error/"), () => {});
  });
  await t.step("refused when the inbox holds the number", async () => {
    const copy = await Deno.readTextFile(join(audit, "inbox", "6.json"));
    await Deno.writeTextFile(join(audit, "error", "6.json"), copy);
    const result = await runCli(["requeue", "audit", "6"], { env });
    equal(result.code, 1);
    equal(result.stdout, "");
    equal(result.stderr, "hurah requeue: audit #6 not put back: inbox/6.json already exists; left in error/\n");
    equal(await Deno.readTextFile(join(audit, "error", "6.json")), copy, "left untouched");
    await Deno.remove(join(audit, "error", "6.json"));
  });
  await t.step("several, one of them missing: the others go, exit 1", async () => {
    const result = await runCli(["requeue", "audit", "2", "42", "3"], { env });
    equal(result.code, 1);
    equal(result.stdout, "audit #2 error/ -> inbox/\naudit #3 error/ -> inbox/\n");
    equal(result.stderr, "hurah requeue: audit #42 not put back: not found: expected error/42.json\n");
  });
  await t.step("hurah run handles the requeued tasks instead of sending them back to error/", async () => {
    const handler = join(root.path, "handler.ts");
    await Deno.writeTextFile(handler, "export default () => 0;\n");
    const result = await runCli(["run", "audit", "", handler], { env });
    equal(result.code, 0, result.stderr);
    match(
      untimed(result.stderr),
      /^audit #2 SUCCESS -> archive .*\naudit #3 SUCCESS -> archive .*\naudit #4 SUCCESS -> archive/,
    );
    const archived = await read("archive", "4.json");
    deepEqual(archived.failures.map((failure: { result: string }) => failure.result), ["RETRY", "REQUEUED"]);
    const { listeners: [status] } = JSON.parse((await runCli(["status", "audit"], { env })).stdout);
    equal(status.errors, 0);
    equal(status.pending, 0);
    equal(status.archived, 7);
  });
  await t.step("usage errors: exit 2", async () => {
    for (const args of [["audit"], ["audit", "1", "--all"], [], ["audit", "-3"]]) {
      const result = await runCli(["requeue", ...args], { env });
      equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      match(result.stderr, /\nRun 'hurah requeue --help' for usage\.\n$/);
    }
  });
});

Deno.test("hurah requeue --all puts back every task and leaves quarantined files", async () => {
  await using root = await tempRoot();
  const { audit } = await buildOpsRoot(root.path);
  const result = await runCli(["requeue", "audit", "--all", "--root", root.path]);
  equal(result.code, 0, result.stderr);
  equal(result.stdout, "audit #2 error/ -> inbox/\naudit #3 error/ -> inbox/\naudit #4 error/ -> inbox/\n");
  match(
    result.stderr,
    /^hurah requeue: audit: skipped error\/junk\.txt is not a task file, so it is not put back \(quarantined: not a task file: .*\)\n$/,
  );
  const inbox = (await Array.fromAsync(Deno.readDir(join(audit, "inbox")))).map((entry) => entry.name).sort();
  deepEqual(inbox, ["2.json", "3.json", "4.json", "5.json", "6.json", "7.json"]);
  const error = (await Array.fromAsync(Deno.readDir(join(audit, "error")))).map((entry) => entry.name).sort();
  deepEqual(error, ["junk.txt", "junk.txt.reason.txt"]);
});

Deno.test("hurah prune removes old files from archive/ (default) or error/", async (t) => {
  await using root = await tempRoot();
  const { audit, scaler } = await buildOpsRoot(root.path);
  const env = { HURAH_ROOT: root.path };
  const names = async (dir: string) => (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
  await t.step("a dry run removes nothing", async () => {
    const result = await runCli(["prune", "--older-than", "0s", "--dry-run"], { env });
    equal(result.code, 0, result.stderr);
    equal(
      result.stdout,
      "audit: would remove 1 from archive/\nproduct/created/image_scaler: would remove 4 from archive/\n" +
        "would remove 5 files from archive/ of 2 listeners\n",
    );
    equal((await names(join(scaler, "archive"))).length, 4);
  });
  await t.step("nothing is old enough", async () => {
    const result = await runCli(["prune", "--older-than", "1h"], { env });
    equal(result.code, 0, result.stderr);
    equal(result.stdout, "removed 0 files from archive/ of 2 listeners\n");
  });
  await t.step("--error, for one listener", async () => {
    const result = await runCli(["prune", "--older-than", "0s", "--error", "audit"], { env });
    equal(result.code, 0, result.stderr);
    equal(result.stdout, "audit: removed 4 from error/\nremoved 4 files from error/ of 1 listener\n");
    deepEqual(await names(join(audit, "error")), []);
    equal((await names(join(audit, "archive"))).length, 1, "archive/ untouched");
  });
  await t.step("archive/ by default; pending and in-flight tasks stay", async () => {
    const result = await runCli(["prune", "--older-than", "0s", "--json"], { env });
    equal(result.code, 0, result.stderr);
    deepEqual(JSON.parse(result.stdout), {
      listeners: [
        { listener: "audit", archive: 1, error: 0 },
        { listener: "product/created/image_scaler", archive: 4, error: 0 },
      ],
      removed: 5,
      dryRun: false,
    });
    deepEqual(await names(join(scaler, "archive")), []);
    deepEqual(await names(join(scaler, "inbox")), ["5.json"]);
    deepEqual(await names(join(scaler, "inflight")), [`6.json~${LIVE_WORKER}`, `7.json~${GONE_WORKER}`]);
    deepEqual(await names(join(audit, "inbox")), ["5.json", "6.json", "7.json"]);
  });
  await t.step("usage errors: exit 2", async () => {
    for (const args of [[], ["--older-than", "later"]]) {
      const result = await runCli(["prune", ...args], { env });
      equal(result.code, 2, result.stderr);
      match(result.stderr, /\nRun 'hurah prune --help' for usage\.\n$/);
    }
    notEqual((await runCli(["prune", "--older-than", "1d", "nobody"], { env })).code, 0);
  });
});

Deno.test("hurah status, inspect, requeue and prune are listed and have their help", async (t) => {
  const main = await runCli(["--help"]);
  for (const command of ["status", "inspect", "requeue", "prune"]) {
    match(main.stdout, new RegExp(`^  ${command} `, "m"));
    await t.step(command, async () => {
      const result = await runCli([command, "--help"]);
      equal(result.code, 0, result.stderr);
      equal(result.stderr, "");
      ok(result.stdout.startsWith(`Usage: hurah ${command} `), result.stdout);
      match(result.stdout, /\nExit codes: /);
      equal((await runCli([command, "-h"])).stdout, result.stdout);
      equal((await runCli(["help", command])).stdout, result.stdout);
    });
  }
});

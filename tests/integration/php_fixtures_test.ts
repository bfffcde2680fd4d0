/**
 * The PHP library's fixture trees (tests/fixtures/php-hurah-events, a copy of
 * the workplace's ../shared/fixtures), replayed with the real `hurah` CLI.
 *
 * Every expectation comes from a fixture file: trees hurah writes must have PHP's layout, file names, field names,
 * key order and JSON types, and trees PHP wrote must be processed with PHP's results. Where hurah deliberately
 * differs (FAILURE follows the PHP README, not PHP's code; tasks run in sequence order, not `readdir` order), the
 * difference is asserted explicitly against the fixture.
 *
 * Allowed differences everywhere: hurah's own entries in a listener directory (`tmp/`, `dispatch.lock`,
 * `run.lock`) and hurah's own task fields (`event_type`, `event_id`, `task_id`, `failures`).
 */
import { deepEqual, equal, match, notEqual, ok } from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CliResult, copyFixture, FIXTURES, listDirs, listFiles, runCli, tempRoot } from "../_helpers.ts";

const HANDLER = fileURLToPath(new URL("./handlers/configurable_handler.ts", import.meta.url));

/** The four listeners of the fixtures, in the order PHP registered them (00-registered). */
const LISTENERS = {
  audit: { eventType: "", dir: "audit_listener" },
  price_calculator: { eventType: "product", dir: "product/price_calculator_listener" },
  image_scaler: { eventType: "product/created", dir: "product/created/image_scaler_listener" },
  translation: { eventType: "product/created", dir: "product/created/translation_listener" },
} as const;
type ListenerName = keyof typeof LISTENERS;
const LISTENER_NAMES = Object.keys(LISTENERS) as ListenerName[];

/** hurah's own names inside a listener directory (src/protocol/layout.ts); PHP never has them. */
const HURAH_ONLY_NAMES = ["tmp", "dispatch.lock", "run.lock"];
/** hurah's own task fields; PHP reads past them. */
const HURAH_FIELDS = ["event_type", "event_id", "task_id", "failures"];
/** The inbox filter of PHP's runner, unanchored at the start and with an unescaped dot, as PHP has it. */
const PHP_INBOX_FILTER = /[0-9]+.json$/;
/** PHP's `DateTime::format('c')`. */
const PHP_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/;

// ---------------------------------------------------------------------------------------------------------------
// Running the CLI

interface RunResult extends CliResult {
  /** The pass report printed by `--json`. */
  report: Record<string, unknown>;
}

/** `hurah run <name> <event_type> <handler> <root> --json` with the configurable handler. */
async function run(root: string, name: ListenerName, env: Record<string, string>): Promise<RunResult> {
  const result = await runCli(["run", name, LISTENERS[name].eventType, HANDLER, root, "--json"], { env });
  let report: Record<string, unknown> = {};
  try {
    report = JSON.parse(result.stdout);
  } catch {
    ok(false, `hurah run ${name} printed no JSON report (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
  return { ...result, report };
}

/** The four registration runs of 00-registered: each handler once on an empty queue. */
async function registerAll(root: string): Promise<void> {
  // PHP's runner creates a missing root; `hurah run` refuses one unless asked (--create-root). The tree is the same.
  await Deno.mkdir(root, { recursive: true });
  for (const name of LISTENER_NAMES) {
    const result = await run(root, name, { HE_CODE: "0" });
    equal(result.code, 0, result.stderr);
    equal(result.report.handled, 0);
  }
}

interface DispatchedTo {
  listener: string;
  listenerEventType: string;
  sequence: number;
  path: string;
}

/** `hurah dispatch <event_type> <payload> --root <root> --json`. */
async function dispatch(root: string, eventType: string, payload: unknown): Promise<DispatchedTo[]> {
  const result = await runCli(["dispatch", eventType, JSON.stringify(payload), "--root", root, "--json"]);
  equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

// ---------------------------------------------------------------------------------------------------------------
// Reading trees

/** Whether a path (`./a/b_listener/tmp` or `a/b_listener/run.lock`) is one of hurah's own listener entries. */
function isHurahOnly(path: string): boolean {
  const parts = path.split("/");
  const parent = parts.at(-2);
  return parent !== undefined && parent.endsWith("_listener") && HURAH_ONLY_NAMES.includes(parts.at(-1)!);
}

interface TreeView {
  /** Directories as `./a/b`, sorted (the `.dirs` form). */
  dirs: string[];
  /** Files as `a/b.json`, sorted. */
  files: string[];
}

/** What PHP sees of a tree hurah worked on: everything but hurah's own listener entries. */
async function phpView(root: string): Promise<TreeView> {
  const dirs = await listDirs(root);
  const files = await listFiles(root);
  for (const path of [...dirs, ...files].filter(isHurahOnly)) {
    ok(!PHP_INBOX_FILTER.test(path.split("/").at(-1)!), `${path} would pass PHP's inbox filter`);
  }
  return { dirs: dirs.filter((d) => !isHurahOnly(d)), files: files.filter((f) => !isHurahOnly(f)) };
}

/** A fixture tree as PHP left it: the `.dirs` list (empty dirs included) and its files. */
async function fixtureView(name: string): Promise<TreeView> {
  const dirs = (await Deno.readTextFile(join(FIXTURES, `${name}.dirs`))).split("\n").filter(Boolean);
  let files: string[] = [];
  try {
    files = await listFiles(join(FIXTURES, name));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error; // 00-registered has no files, so no tree
  }
  return { dirs, files };
}

const decoder = new TextDecoder("utf-8", { fatal: true });

async function readText(path: string): Promise<string> {
  return decoder.decode(await Deno.readFile(path));
}

function fixtureText(name: string, file: string): Promise<string> {
  return readText(join(FIXTURES, name, file));
}

/** The sequence number in a task file path, as `3` for `a/inbox/3.json`. */
function sequenceOfPath(file: string): number {
  return Number(/(\d+)\.json$/.exec(file)![1]);
}

/** The highest task number a listener has in any state directory of a fixture. */
function maxSequenceIn(view: TreeView, listenerDir: string): number {
  const task = new RegExp(`^${listenerDir}/(inbox|archive|error)/\\d+\\.json$`);
  return Math.max(0, ...view.files.filter((f) => task.test(f)).map(sequenceOfPath));
}

// ---------------------------------------------------------------------------------------------------------------
// Comparing files

/** `json_encode` with PHP's default flags: compact, `/` as `\/`, non-ASCII as `\uXXXX`. */
function phpJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\/\u0080-\uffff]/g,
    (c) => c === "/" ? "\\/" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The JSON type of every field, telling integers from other numbers as PHP does. */
function typesOf(record: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record).map(([key, value]) => [
      key,
      value === null
        ? "null"
        : Array.isArray(value)
        ? "array"
        : typeof value === "number"
        ? (Number.isInteger(value) ? "int" : "float")
        : typeof value,
    ]),
  );
}

/** Checks a file is one compact `json_encode` line with PHP's escaping, and returns it parsed. */
function assertPhpJsonLine(text: string, label: string): Record<string, unknown> {
  ok(!text.includes("\n"), `${label}: one line, no trailing newline`);
  const record = JSON.parse(text);
  equal(text, phpJson(record), `${label}: compact, with PHP's escaping`);
  return record;
}

/** The record without hurah's fields. */
function stripHurah(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([key]) => !HURAH_FIELDS.includes(key)));
}

/** A task file hurah rewrote is the fixture's once hurah's fields are removed: same keys, order, types and bytes. */
function assertSameTask(actual: string, fixture: string, label: string): void {
  const stripped = stripHurah(assertPhpJsonLine(actual, label));
  const expected = JSON.parse(fixture);
  deepEqual(Object.keys(stripped), Object.keys(expected), `${label}: fields and their order`);
  deepEqual(typesOf(stripped), typesOf(expected), `${label}: field types`);
  equal(phpJson(stripped), fixture, `${label}: the fixture's file once hurah's fields are removed`);
}

/** Asserts the last failure record of a task says why it went to `error/`. */
function assertErrorRecorded(
  text: string,
  label: string,
  expected: { result: string; message: RegExp; attempt: number },
): void {
  const task = JSON.parse(text);
  ok(Array.isArray(task.failures) && task.failures.length > 0, `${label}: has a failures list`);
  const last = task.failures.at(-1);
  equal(last.result, expected.result, `${label}: failures[-1].result`);
  equal(typeof last.message, "string");
  match(last.message, expected.message, `${label}: failures[-1].message`);
  match(last.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/, `${label}: failures[-1].time`);
  ok(!Number.isNaN(Date.parse(last.time)), `${label}: failures[-1].time parses`);
  equal(last.attempt, expected.attempt, `${label}: failures[-1].attempt`);
  equal(last.fate, "error", `${label}: failures[-1].fate`);
}

interface TreeOptions {
  /** Files hurah rewrote; compared after removing hurah's fields. All others must be byte-identical. */
  rewritten?: string[];
  /** A listener directory left out of the comparison, for a test to compare itself. */
  except?: string;
}

/**
 * Compares the tree under `root` with a fixture tree: directory list (empty dirs included), file list, and every
 * file's contents.
 */
async function assertTree(root: string, fixture: string, options: TreeOptions = {}): Promise<void> {
  const rewritten = options.rewritten ?? [];
  const inScope = (path: string) =>
    options.except === undefined ||
    !(path.replace(/^\.\//, "") + "/").startsWith(`${options.except}/`) ||
    path.replace(/^\.\//, "") === options.except;
  const actual = await phpView(root);
  const expected = await fixtureView(fixture);
  deepEqual(actual.dirs.filter(inScope), expected.dirs.filter(inScope), `directories of ${fixture}`);
  deepEqual(actual.files.filter(inScope), expected.files.filter(inScope), `files of ${fixture}`);
  for (const file of rewritten) ok(expected.files.includes(file), `${file} is in ${fixture}`);
  for (const file of expected.files.filter(inScope)) {
    const text = await readText(join(root, file));
    const wanted = await fixtureText(fixture, file);
    if (rewritten.includes(file)) assertSameTask(text, wanted, file);
    else equal(text, wanted, `${file} must be byte-identical to ${fixture}/${file}`);
  }
}

/** The fixture files in one state directory (`inbox`, `archive`, `error`) of a listener. */
function filesIn(view: TreeView, listenerDir: string, state: string): string[] {
  return view.files.filter((f) => f.startsWith(`${listenerDir}/${state}/`));
}

/** The sequence numbers a handler was called with, from the handler's `HE_SEQ_LOG`. */
async function calledWith(log: string): Promise<number[]> {
  try {
    return (await Deno.readTextFile(log)).split("\n").filter(Boolean).map(Number);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** The order PHP processed the inbox in, from a fixture log's `Processing .../inbox/N.json` lines. */
async function phpProcessingOrder(scenario: string): Promise<number[]> {
  const log = await Deno.readTextFile(join(FIXTURES, "_logs", `${scenario}.txt`));
  return [...log.matchAll(/Processing \S*\/inbox\/(\d+)\.json/g)].map((m) => Number(m[1]));
}

// ---------------------------------------------------------------------------------------------------------------
// 00 and 01: trees written by hurah

Deno.test("hurah run on an empty root registers the listeners as PHP did (00-registered)", async () => {
  await using root = await tempRoot();
  const events = join(root.path, "events");
  await registerAll(events);
  await assertTree(events, "00-registered");

  // hurah's own entries are there, and PHP's inbox filter would skip every one of them.
  const hurahOnly = [...await listDirs(events), ...await listFiles(events)].filter(isHurahOnly);
  ok(hurahOnly.length > 0, "hurah keeps its own entries in the listener directories");
  for (const name of HURAH_ONLY_NAMES) ok(!PHP_INBOX_FILTER.test(name), `${name} passes PHP's inbox filter`);
  for (const name of LISTENER_NAMES) {
    const entries = await Array.fromAsync(Deno.readDir(join(events, LISTENERS[name].dir)));
    for (const entry of entries) {
      ok(entry.name === "inbox" || HURAH_ONLY_NAMES.includes(entry.name), `unexpected ${name}/${entry.name}`);
    }
    deepEqual(await Array.fromAsync(Deno.readDir(join(events, LISTENERS[name].dir, "tmp"))), [], "tmp/ is empty");
  }
});

Deno.test("hurah dispatch writes the files PHP wrote, with PHP's names, fields and types (01-dispatched)", async () => {
  await using root = await tempRoot();
  const events = join(root.path, "events");
  const fixture = "01-dispatched";
  await registerAll(events);

  // The fixture's payloads, read from its audit inbox (audit got every event, in order).
  const expected = await fixtureView(fixture);
  const payloads = await Promise.all(
    filesIn(expected, LISTENERS.audit.dir, "inbox").sort((a, b) => sequenceOfPath(a) - sequenceOfPath(b))
      .map(async (file) => JSON.parse(await fixtureText(fixture, file)).payload),
  );
  deepEqual(payloads.length, 4);
  const types = ["product/created", "product/created", "product/created", "product/deleted"];
  for (const [i, eventType] of types.entries()) {
    const deliveries = await dispatch(events, eventType, payloads[i]);
    // Deepest level first; every delivery's number is the file the fixture has for that listener.
    const reached = eventType === "product/created"
      ? ["image_scaler", "translation", "price_calculator", "audit"]
      : ["price_calculator", "audit"];
    deepEqual(deliveries.map((d) => d.listener), reached, `listeners reached by ${eventType}`);
    for (const d of deliveries) {
      const dir = LISTENERS[d.listener as ListenerName].dir;
      const file = `${dir}/inbox/${d.sequence}.json`;
      ok(expected.files.includes(file), `${file} is in ${fixture}`);
      deepEqual(JSON.parse(await fixtureText(fixture, file)).payload, payloads[i], `${file} has this event`);
    }
  }

  const actual = await phpView(events);
  // The same directories but one: PHP's dispatcher made the empty product/deleted/ (a type nobody listens to), which
  // hurah does not make, so that a dispatch to an unlistened type (a typo) leaves nothing behind.
  deepEqual(expected.dirs.filter((dir) => !actual.dirs.includes(dir)), ["./product/deleted"]);
  deepEqual(actual.dirs, expected.dirs.filter((dir) => dir !== "./product/deleted"), "the same directories otherwise");
  deepEqual(actual.files, expected.files, "the same files");
  for (const file of expected.files) {
    const text = await readText(join(events, file));
    const wanted = JSON.parse(await fixtureText(fixture, file));
    const record = assertPhpJsonLine(text, file);
    const stripped = stripHurah(record);
    deepEqual(Object.keys(stripped), Object.keys(wanted), `${file}: fields and their order`);
    deepEqual(typesOf(stripped), typesOf(wanted), `${file}: field types`);
    if (file.endsWith("/tracking.json")) {
      deepEqual(Object.keys(record), Object.keys(wanted), "tracking.json has no hurah fields");
      equal(record.sequence, wanted.sequence, `${file}: sequence`);
      equal(record.count, wanted.count, `${file}: count`);
      equal(record.count, record.sequence, `${file}: count == sequence`);
      match(String(record.first), PHP_DATE, `${file}: first`);
      match(String(record.last), PHP_DATE, `${file}: last`);
      continue;
    }
    for (const key of Object.keys(wanted)) {
      if (key === "delivery") match(String(stripped.delivery), PHP_DATE, `${file}: delivery in PHP's format`);
      else deepEqual(stripped[key], wanted[key], `${file}: ${key}`);
    }
    equal(record.count, record.sequence, `${file}: count == sequence`);
    equal(record.sequence, sequenceOfPath(file), `${file}: sequence == file name`);
    // hurah's own event_type shows PHP's escaping of '/'.
    match(text, /"event_type":"product\\\/(created|deleted)"/, `${file}: '/' escaped as PHP does`);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// 02, 03, 05, 07: one run on a copy of 01-dispatched

interface SingleRun {
  fixture: string;
  listener: ListenerName;
  env: Record<string, string>;
  report: Record<string, number>;
  /** What the failure record of each task moved to `error/` says, by sequence. */
  error?: (sequence: number) => { result: string; message: RegExp; attempt: number };
}

const SINGLE_RUNS: SingleRun[] = [
  { fixture: "02-success", listener: "image_scaler", env: { HE_CODE: "0" }, report: { handled: 3, archived: 3 } },
  {
    fixture: "03-invalid",
    listener: "translation",
    env: { HE_CODE: "3" },
    report: { handled: 3, errored: 3 },
    error: () => ({ result: "INVALID", message: /INVALID/, attempt: 1 }),
  },
  {
    fixture: "05-retry-max0",
    listener: "audit",
    env: { HE_CODE: "2", HE_MAX_ATTEMPTS: "0" },
    report: { handled: 4, errored: 4, retried: 0 },
    error: () => ({ result: "RETRY", message: /RETRY.*maxAttempts\(\) is 0/, attempt: 1 }),
  },
  {
    fixture: "07-exception",
    listener: "image_scaler",
    env: { HE_THROW: "1" },
    report: { handled: 3, errored: 3 },
    error: (sequence) => ({
      result: "ERROR",
      message: new RegExp(`RuntimeException: handler exploded on sequence ${sequence}$`),
      attempt: 1,
    }),
  },
];

for (const scenario of SINGLE_RUNS) {
  Deno.test(`hurah run on a copy of 01-dispatched gives ${scenario.fixture}`, async () => {
    await using root = await tempRoot();
    const events = join(root.path, "events");
    await copyFixture("01-dispatched", events);
    const result = await run(events, scenario.listener, scenario.env);
    equal(result.code, 0, result.stderr);
    for (const [key, value] of Object.entries(scenario.report)) equal(result.report[key], value, `report.${key}`);

    const errorFiles = filesIn(await fixtureView(scenario.fixture), LISTENERS[scenario.listener].dir, "error");
    equal(errorFiles.length > 0, scenario.error !== undefined, "tasks went to error/ in the fixture");
    // hurah records the reason in the task before moving it to error/; files moved elsewhere are untouched.
    await assertTree(events, scenario.fixture, { rewritten: errorFiles });
    for (const file of errorFiles) {
      assertErrorRecorded(await readText(join(events, file)), file, scenario.error!(sequenceOfPath(file)));
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// 06: RETRY with maxAttempts() 2, four runs

Deno.test("hurah run with RETRY and maxAttempts() 2 gives 06-retry-max2 after every run", async () => {
  await using root = await tempRoot();
  const events = join(root.path, "events");
  const log = join(root.path, "seq.log");
  await copyFixture("01-dispatched", events);
  const audit = LISTENERS.audit.dir;
  const env = { HE_CODE: "2", HE_MAX_ATTEMPTS: "2", HE_SEQ_LOG: log };
  let afterRun3: Map<string, string> | undefined;
  for (const n of [1, 2, 3, 4]) {
    const fixture = `06-retry-max2/after-run-${n}`;
    const result = await run(events, "audit", env);
    equal(result.code, 0, result.stderr);
    const view = await fixtureView(fixture);
    const auditFiles = [...filesIn(view, audit, "inbox"), ...filesIn(view, audit, "error")];
    equal(result.report.handled, n <= 3 ? auditFiles.length : 0, `run ${n}: report.handled`);
    await assertTree(events, fixture, { rewritten: auditFiles });
    if (n === 3) {
      afterRun3 = new Map();
      for (const file of auditFiles) {
        const text = await readText(join(events, file));
        assertErrorRecorded(text, file, {
          result: "RETRY",
          message: /RETRY 3 times.*maxAttempts\(\) is 2/,
          attempt: 3,
        });
        afterRun3.set(file, text);
      }
    }
    if (n === 4) {
      for (const [file, text] of afterRun3!) {
        equal(await readText(join(events, file)), text, `run 4 left ${file} alone`);
      }
    }
  }
  // As in PHP, the handler ran maxAttempts() + 1 = 3 times per task.
  const calls = await calledWith(log);
  for (const sequence of [1, 2, 3, 4]) equal(calls.filter((s) => s === sequence).length, 3, `calls for ${sequence}`);
});

// ---------------------------------------------------------------------------------------------------------------
// 04 and 08: FAILURE follows the README (stays first in the inbox, the pass stops), not PHP's code

Deno.test("hurah run with FAILURE keeps the task first in the inbox and stops (README, not 04-failure)", async () => {
  await using root = await tempRoot();
  const events = join(root.path, "events");
  const log = join(root.path, "seq.log");
  const fixture = "04-failure";
  const dir = LISTENERS.price_calculator.dir;
  await copyFixture("01-dispatched", events);
  const result = await run(events, "price_calculator", { HE_CODE: "1", HE_SEQ_LOG: log });
  equal(result.code, 1, "a FAILURE makes the exit code 1");
  equal(result.report.failedAt, 1);
  equal(result.report.handled, 1);
  deepEqual(await calledWith(log), [1], "the pass stopped at the first task");

  // Everything but price_calculator's listener is as in the fixture.
  await assertTree(events, fixture, { except: dir });

  // The documented difference: PHP moved all 4 to error/ in one run; hurah keeps them all in the inbox.
  const expected = await fixtureView(fixture);
  const phpError = filesIn(expected, dir, "error");
  deepEqual(phpError.map(sequenceOfPath), [1, 2, 3, 4], "PHP moved every task to error/");
  deepEqual(filesIn(expected, dir, "inbox"), [], "PHP left the inbox empty");
  const actual = await phpView(events);
  deepEqual(actual.dirs.filter((d) => d.startsWith(`./${dir}`)), [`./${dir}`, `./${dir}/inbox`], "no error/ yet");
  deepEqual(filesIn(actual, dir, "error"), []);
  deepEqual(filesIn(actual, dir, "inbox"), phpError.map((f) => f.replace("/error/", "/inbox/")));
  equal(await readText(join(events, dir, "tracking.json")), await fixtureText(fixture, `${dir}/tracking.json`));

  // Their contents are the fixture's: the failed one carries hurah's FAILURE record, the rest are untouched.
  for (const file of phpError) {
    const inbox = file.replace("/error/", "/inbox/");
    const text = await readText(join(events, inbox));
    const wanted = await fixtureText(fixture, file);
    if (sequenceOfPath(file) !== 1) {
      equal(text, wanted, `${inbox} is untouched`);
      continue;
    }
    assertSameTask(text, wanted, inbox);
    const last = JSON.parse(text).failures.at(-1);
    equal(last.result, "FAILURE");
    equal(last.attempt, 1);
    equal(last.fate, undefined, "a FAILURE is not sent to error/");
  }

  // Once the cause is fixed, the next run starts with that task, in sequence order.
  const fixed = await run(events, "price_calculator", { HE_CODE: "0", HE_SEQ_LOG: log });
  equal(fixed.code, 0, fixed.stderr);
  deepEqual(await calledWith(log), [1, 1, 2, 3, 4]);
  deepEqual(filesIn(await phpView(events), dir, "archive").map(sequenceOfPath).sort(), [1, 2, 3, 4]);
});

Deno.test("hurah run on the mixed scenario archives 1, errors 2 and stops at 3 (README, not 08-mixed)", async () => {
  await using root = await tempRoot();
  const events = join(root.path, "events");
  const log = join(root.path, "seq.log");
  const fixture = "08-mixed";
  const dir = LISTENERS.price_calculator.dir;
  await copyFixture("01-dispatched", events);
  const result = await run(events, "price_calculator", {
    HE_CODE_BY_SEQ: JSON.stringify({ 1: "0", 2: "3", 3: "1", 4: "throw" }),
    HE_SEQ_LOG: log,
  });
  equal(result.code, 1, "a FAILURE makes the exit code 1");
  equal(result.report.failedAt, 3);
  equal(result.report.archived, 1);
  equal(result.report.errored, 1);

  // The documented difference in order: PHP took readdir order, hurah takes sequence order and stops at 3.
  deepEqual(await phpProcessingOrder(fixture), [3, 1, 2, 4], "PHP's order, from the fixture log");
  deepEqual(await calledWith(log), [1, 2, 3]);

  // Everything but price_calculator's files is as in the fixture, its directories included.
  await assertTree(events, fixture, { except: dir });
  const expected = await fixtureView(fixture);
  const actual = await phpView(events);
  deepEqual(actual.dirs.filter((d) => d.startsWith(`./${dir}`)), expected.dirs.filter((d) => d.startsWith(`./${dir}`)));
  equal(await readText(join(events, dir, "tracking.json")), await fixtureText(fixture, `${dir}/tracking.json`));

  // Where hurah agrees with PHP: 1 archived byte-identical, 2 in error/ with hurah's reason.
  deepEqual(filesIn(expected, dir, "archive"), [`${dir}/archive/1.json`]);
  deepEqual(filesIn(actual, dir, "archive"), [`${dir}/archive/1.json`]);
  equal(await readText(join(events, dir, "archive/1.json")), await fixtureText(fixture, `${dir}/archive/1.json`));
  deepEqual(filesIn(actual, dir, "error"), [`${dir}/error/2.json`]);
  const error2 = await readText(join(events, dir, "error/2.json"));
  assertSameTask(error2, await fixtureText(fixture, `${dir}/error/2.json`), "error/2.json");
  assertErrorRecorded(error2, "error/2.json", { result: "INVALID", message: /INVALID/, attempt: 1 });

  // Where hurah differs: PHP put 3 (FAILURE) and 4 (thrown) in error/; hurah keeps 3 first in the inbox, 4 untried.
  deepEqual(filesIn(expected, dir, "error"), [2, 3, 4].map((n) => `${dir}/error/${n}.json`));
  deepEqual(filesIn(expected, dir, "inbox"), []);
  deepEqual(filesIn(actual, dir, "inbox"), [`${dir}/inbox/3.json`, `${dir}/inbox/4.json`]);
  const inbox3 = await readText(join(events, dir, "inbox/3.json"));
  assertSameTask(inbox3, await fixtureText(fixture, `${dir}/error/3.json`), "inbox/3.json");
  const last = JSON.parse(inbox3).failures.at(-1);
  equal(last.result, "FAILURE");
  equal(last.fate, undefined, "a FAILURE is not sent to error/");
  equal(await readText(join(events, dir, "inbox/4.json")), await fixtureText(fixture, `${dir}/error/4.json`));
  equal(await readText(join(events, dir, "inbox/4.json")), await fixtureText("01-dispatched", `${dir}/inbox/4.json`));
});

// ---------------------------------------------------------------------------------------------------------------
// Reading PHP-written state: sequence numbers

/** What a dispatch of `product/created` onto `fixture` must give each listener: one past its highest file. */
async function nextSequences(fixture: string): Promise<Map<string, number>> {
  const view = await fixtureView(fixture);
  return new Map(LISTENER_NAMES.map((name) => [name, maxSequenceIn(view, LISTENERS[name].dir) + 1]));
}

/** Checks the tracking.json hurah wrote after one delivery numbered `sequence`. */
async function assertTracking(events: string, name: ListenerName, fixture: string, sequence: number) {
  const file = `${LISTENERS[name].dir}/tracking.json`;
  const text = await readText(join(events, file));
  const record = assertPhpJsonLine(text, file);
  const wanted = JSON.parse(await fixtureText(fixture, file));
  deepEqual(Object.keys(record), Object.keys(wanted), `${file}: fields and their order`);
  deepEqual(typesOf(record), typesOf(wanted), `${file}: field types`);
  equal(record.sequence, sequence, `${file}: sequence`);
  equal(record.count, sequence, `${file}: count`);
  match(String(record.first), PHP_DATE);
  match(String(record.last), PHP_DATE);
  return { record, wanted };
}

Deno.test("hurah dispatch continues the sequence of each listener PHP wrote (01-dispatched)", async () => {
  await using root = await tempRoot();
  const events = join(root.path, "events");
  const fixture = "01-dispatched";
  await copyFixture(fixture, events);
  const deliveries = await dispatch(events, "product/created", { product_id: 5 });

  const next = await nextSequences(fixture);
  deepEqual(Object.fromEntries(next), { audit: 5, price_calculator: 5, image_scaler: 4, translation: 4 });
  deepEqual(Object.fromEntries(deliveries.map((d) => [d.listener, d.sequence])), Object.fromEntries(next));
  for (const name of LISTENER_NAMES) {
    const sequence = next.get(name)!;
    const { record, wanted } = await assertTracking(events, name, fixture, sequence);
    equal(wanted.sequence + 1, sequence, "one past PHP's tracking.json");
    equal(record.first, wanted.first, "PHP's 'first' is kept");
    const task = JSON.parse(await readText(join(events, LISTENERS[name].dir, "inbox", `${sequence}.json`)));
    deepEqual([task.payload, task.sequence, task.count], [{ product_id: 5 }, sequence, sequence]);
  }
  // PHP's files are untouched.
  const view = await fixtureView(fixture);
  for (const file of view.files.filter((f) => !f.endsWith("tracking.json"))) {
    equal(await readText(join(events, file)), await fixtureText(fixture, file), `${file} is untouched`);
  }
});

Deno.test("hurah dispatch recovers the sequence from the files when tracking.json is lost (02-success)", async (t) => {
  const fixture = "02-success";
  const next = await nextSequences(fixture);
  // image_scaler's inbox is empty and its archive holds 1..3: the files, not the inbox, say where to go on.
  const view = await fixtureView(fixture);
  deepEqual(filesIn(view, LISTENERS.image_scaler.dir, "inbox"), []);
  deepEqual(filesIn(view, LISTENERS.image_scaler.dir, "archive").map(sequenceOfPath), [1, 2, 3]);
  equal(next.get("image_scaler"), 4);

  const damages: [string, ((path: string) => Promise<void>)][] = [
    ["deleted", (path) => Deno.remove(path)],
    ["empty", (path) => Deno.writeTextFile(path, "")],
    ["truncated", async (path) => Deno.writeTextFile(path, (await Deno.readTextFile(path)).slice(0, 15))],
    ["not an object", (path) => Deno.writeTextFile(path, "[]")],
    ["sequence as a string", (path) => Deno.writeTextFile(path, '{"sequence":"x","count":"x"}')],
    // A valid tracking.json from an old backup: number 1 was issued, yet archive/ already holds 2 and 3.
    ["behind the files", async (path) => {
      const tracking = JSON.parse(await Deno.readTextFile(path));
      await Deno.writeTextFile(path, phpJson({ ...tracking, sequence: 1, count: 1 }));
    }],
  ];
  for (const [damage, apply] of damages) {
    await t.step(`tracking.json ${damage}`, async () => {
      await using root = await tempRoot();
      const events = join(root.path, "events");
      await copyFixture(fixture, events);
      for (const name of LISTENER_NAMES) await apply(join(events, LISTENERS[name].dir, "tracking.json"));
      const deliveries = await dispatch(events, "product/created", { product_id: 5 });
      deepEqual(Object.fromEntries(deliveries.map((d) => [d.listener, d.sequence])), Object.fromEntries(next));
      for (const name of LISTENER_NAMES) {
        notEqual(next.get(name), 1);
        await assertTracking(events, name, fixture, next.get(name)!);
      }
      // Nothing PHP wrote was overwritten.
      for (const file of view.files.filter((f) => !f.endsWith("tracking.json"))) {
        equal(await readText(join(events, file)), await fixtureText(fixture, file), `${file} is untouched`);
      }
    });
  }
});

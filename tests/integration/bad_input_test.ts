/**
 * Bad input, through the real CLI and through the library: every case ends
 * in a clear error or a quarantined file, never writes outside the event
 * root, and never costs the valid task already waiting in the same listener.
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import {
  Dispatcher,
  InvalidNameError,
  PayloadError,
  type RunEvent,
  runOnce,
  Task,
  UnsafePathError,
} from "../../mod.ts";
import { FileStore } from "../../src/backend/file/file_store.ts";
import { passSettings } from "../../src/worker/_settings.ts";
import { checkListener } from "../../src/protocol/listener_id.ts";
import { TaskRunner } from "../../src/worker/_task_runner.ts";
import type { TaskSpot } from "../../src/backend/file/task_queue.ts";
import { emptyReport } from "../../src/worker/report.ts";
import { FileTaskQueue } from "../../src/backend/file/task_queue.ts";
import { type CliResult, exists, runCli, tempRoot } from "../_helpers.ts";

/** A temporary directory holding the event root, and a sibling that no case may touch. */
interface Sandbox {
  /** The temporary directory holding everything below. */
  parent: string;
  /** The event root: the keeper listener is registered and holds one valid task, `1.json`. */
  root: string;
  /** Files and a directory outside the root, for links to point at. */
  outside: string;
  /** A handler module that returns SUCCESS, for `hurah run`. */
  handler: string;
  /** The keeper listener's inbox. */
  inbox: string;
  /** The keeper listener's error directory. */
  error: string;
}

/** One row of the table: does something bad and asserts the clear error or the quarantine. */
interface BadInputCase {
  name: string;
  check(box: Sandbox): Promise<void>;
}

/** The root listener: every dispatch reaches it, so a delivery that should not happen shows up here. */
const KEEPER = "keeper";
const KEPT_PAYLOAD = { keep: "me" };
const AN_HOUR_AGO = new Date(Date.now() - 60 * 60 * 1000);

function dispatcher(root: string): Dispatcher {
  return new Dispatcher(root, { durable: false });
}

function keeper(
  options: { incompleteGraceMs?: number; maxTaskSize?: number; onEvent?: (event: RunEvent) => void } = {},
) {
  return { name: KEEPER, eventType: "", handler: () => Task.SUCCESS, durable: false, ...options };
}

/** Every entry below `dir` with its content; links are recorded, not followed, and `skip` is not entered. */
async function snapshot(dir: string, skip?: string): Promise<Record<string, string>> {
  const entries: Record<string, string> = {};
  const walk = async (relative: string) => {
    for await (const entry of Deno.readDir(join(dir, relative))) {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      entries[path] = await describe(join(dir, path), path === skip);
      if (entry.isDirectory && path !== skip) await walk(path);
    }
  };
  await walk("");
  return entries;
}

async function describe(path: string, shallow = true): Promise<string> {
  const info = await Deno.lstat(path);
  if (info.isSymlink) return `link to ${await Deno.readLink(path)}`;
  if (info.isDirectory) return shallow ? "dir" : `dir ${JSON.stringify(await snapshot(path))}`;
  if (info.isFifo) return "fifo"; // opening it would block
  return `file ${JSON.stringify(await Deno.readTextFile(path))}`;
}

/**
 * Runs one case in a fresh sandbox, then checks what every case must keep:
 * nothing outside the root changed, and the valid task dispatched before the
 * bad input is still handled.
 */
async function inSandbox(check: (box: Sandbox) => Promise<void>): Promise<void> {
  await using parent = await tempRoot();
  const root = join(parent.path, "root");
  const listener = join(root, `${KEEPER}_listener`);
  const box: Sandbox = {
    parent: parent.path,
    root,
    outside: join(parent.path, "outside"),
    handler: join(parent.path, "handler.ts"),
    inbox: join(listener, "inbox"),
    error: join(listener, "error"),
  };
  await Deno.mkdir(root);
  await Deno.mkdir(join(box.outside, "dir"), { recursive: true });
  await Deno.writeTextFile(join(box.outside, "secret.txt"), "not hurah's\n");
  await Deno.writeTextFile(join(box.outside, "dir", "kept.txt"), "also not hurah's\n");
  await Deno.writeTextFile(box.handler, "export default () => 0;\n");
  await runOnce(root, keeper());
  deepEqual(await dispatcher(root).dispatch("product/created", KEPT_PAYLOAD), [
    { listener: KEEPER, listenerEventType: "", sequence: 1, path: join(box.inbox, "1.json") },
  ]);
  const outsideBefore = await snapshot(box.parent, "root");

  await check(box);

  deepEqual(await snapshot(box.parent, "root"), outsideBefore, "something outside the event root changed");
  await runOnce(root, keeper());
  const kept = JSON.parse(await Deno.readTextFile(join(listener, "archive", "1.json")));
  deepEqual(kept.payload, KEPT_PAYLOAD, "the valid task dispatched before the bad input was lost");
}

/** Runs `act` and asserts that nothing under the root changed, not even a new directory. */
async function leavesRootAlone(box: Sandbox, act: () => Promise<void>): Promise<void> {
  const before = await snapshot(box.root);
  await act();
  deepEqual(await snapshot(box.root), before, "the event root changed");
}

/** Asserts that `text` (its trailing newline aside) matches `pattern`. */
function match(text: string, pattern: RegExp): void {
  text = text.replace(/\n$/, "");
  ok(pattern.test(text), `${JSON.stringify(text)} does not match ${pattern}`);
}

function matches(text: string, expected: string | RegExp): boolean {
  return typeof expected === "string" ? text.includes(expected) : expected.test(text);
}

/** Asserts that `promise` rejects with an `ErrorClass` whose message holds every `expected`. */
async function refuses(
  promise: Promise<unknown>,
  ErrorClass: new (...args: never[]) => Error,
  ...expected: (string | RegExp)[]
): Promise<void> {
  await rejects(promise, (error: unknown) => {
    ok(error instanceof ErrorClass, `expected ${ErrorClass.name}, got ${error}`);
    for (const part of expected) ok(matches(error.message, part), `${JSON.stringify(error.message)} lacks ${part}`);
    return true;
  });
}

/** Asserts exit code 2 and a one-line message on stderr (plus at most a hint) holding every `expected`. */
function assertUsageError(result: CliResult, command: string, ...expected: (string | RegExp)[]): void {
  equal(result.code, 2, `exit code ${result.code}, stderr: ${result.stderr}`);
  equal(result.stdout, "");
  const [message, ...rest] = result.stderr.trimEnd().split("\n");
  ok(message.startsWith(`hurah ${command}: `), message);
  for (const part of expected) ok(matches(message, part), `${JSON.stringify(message)} lacks ${part}`);
  ok(rest.length <= 1, `more than a message and a hint on stderr:\n${result.stderr}`);
}

/**
 * Asserts exit code 1 and one line on stderr holding every `expected`, with no usage hint: what the CLI
 * says of a symbolic link or a file found inside the root (the root's state is wrong, not the command line).
 */
function assertRefused(result: CliResult, command: string, ...expected: (string | RegExp)[]): void {
  equal(result.code, 1, `exit code ${result.code}, stderr: ${result.stderr}`);
  equal(result.stdout, "");
  const [message, ...rest] = result.stderr.trimEnd().split("\n");
  ok(message.startsWith(`hurah ${command}: `), message);
  for (const part of expected) ok(matches(message, part), `${JSON.stringify(message)} lacks ${part}`);
  equal(rest.length, 0, `more than one line on stderr:\n${result.stderr}`);
}

// ---------------------------------------------------------------- names

function badEventType(label: string, eventType: string, reason: RegExp, viaCli = true): BadInputCase {
  return {
    name: `event type ${label}`,
    check: (box) =>
      leavesRootAlone(box, async () => {
        const quoted = JSON.stringify(eventType);
        await refuses(dispatcher(box.root).dispatch(eventType, {}), InvalidNameError, quoted, reason);
        const listening = { name: "listener", eventType, handler: () => Task.SUCCESS };
        await refuses(runOnce(box.root, listening), InvalidNameError, quoted, reason);
        if (viaCli) {
          assertUsageError(await runCli(["dispatch", eventType, "{}", "--root", box.root]), "dispatch", quoted, reason);
        }
      }),
  };
}

function badHandlerName(label: string, name: string, reason: RegExp): BadInputCase {
  return {
    name: `handler name ${label}`,
    check: (box) =>
      leavesRootAlone(box, async () => {
        const quoted = JSON.stringify(name);
        const options = { name, eventType: "product", handler: () => Task.SUCCESS };
        await refuses(runOnce(box.root, options), InvalidNameError, quoted, reason);
        assertUsageError(await runCli(["run", name, "product", box.handler, box.root]), "run", quoted, reason);
      }),
  };
}

// ---------------------------------------------------------------- payloads

/** `depth` arrays, one inside the other. */
function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let k = 0; k < depth; k++) value = [value];
  return value;
}

function badPayload(label: string, make: () => unknown, path: string, reason: RegExp): BadInputCase {
  return {
    name: `library payload ${label}`,
    check: (box) =>
      leavesRootAlone(box, async () => {
        await refuses(dispatcher(box.root).dispatch("product/created", make()), PayloadError, `: ${path} `, reason);
      }),
  };
}

function badCliPayload(label: string, payload: string, ...expected: (string | RegExp)[]): BadInputCase {
  return {
    name: `CLI payload ${label}`,
    check: (box) =>
      leavesRootAlone(box, async () => {
        const result = await runCli(["dispatch", "product/created", payload, "--root", box.root], { cwd: box.parent });
        assertUsageError(result, "dispatch", ...expected);
      }),
  };
}

// ---------------------------------------------------------------- inbox files

/** A bad entry to put in the keeper's inbox, and what its quarantine note must say. */
interface InboxEntry {
  label: string;
  file: string;
  make(path: string, box: Sandbox): Promise<void>;
  reason: RegExp;
}

function text(content: string): InboxEntry["make"] {
  return (path) => Deno.writeTextFile(path, content);
}

const DELIVERY = '"count":1,"delivery":"2026-11-29T03:39:28+00:00"';

/** Text and raw bytes, concatenated: UTF-8 text around bytes that may not be UTF-8. */
function bytes(before: string, raw: number[], after: string): Uint8Array {
  const encoder = new TextEncoder();
  return new Uint8Array([...encoder.encode(before), ...raw, ...encoder.encode(after)]);
}

async function mkfifo(path: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("mkfifo", { args: [path], stderr: "piped" }).output();
  equal(code, 0, new TextDecoder().decode(stderr));
}

/** The sandbox's secret, as bytes that must appear nowhere under the root. */
const SECRET = "not hurah's";

/** Asserts that no file under `dir` holds `needle` (links are not followed). */
async function assertNowhere(dir: string, needle: string): Promise<void> {
  for (const [path, content] of Object.entries(await snapshot(dir))) {
    ok(!content.includes(needle) || content.startsWith("link to "), `${path} holds ${JSON.stringify(needle)}`);
  }
}

/**
 * A runner of the keeper listener, to hand it a task spot directly: as if
 * the listing had found a regular file that was then swapped for something
 * else before the read.
 */
async function keeperRunner(box: Sandbox, events: RunEvent[] = []): Promise<TaskRunner<TaskSpot>> {
  const store = new FileStore(box.root, { durable: false });
  const listener = await store.register(checkListener(KEEPER, ""));
  const settings = passSettings({ incompleteGraceMs: 0, durable: false, onEvent: (event) => events.push(event) });
  const queue = new FileTaskQueue(store, listener, { maxTaskSize: settings.maxTaskSize, archive: settings.archive });
  return new TaskRunner(queue, listener, { handleTask: () => Task.SUCCESS }, settings);
}

/** Opens a FIFO for writing after `ms`, writes a line and closes it: ends a read that blocked on it. */
function unblockLater(path: string, ms: number): Deno.ChildProcess {
  return new Deno.Command("sh", {
    args: ["-c", `sleep ${ms / 1000}; printf 'written into the fifo' > "$1"`, "sh", path],
    stdout: "null",
    stderr: "null",
  }).spawn();
}

const BAD_INBOX_ENTRIES: InboxEntry[] = [
  { label: "empty file", file: "6.json", make: text(""), reason: /^corrupt task file: empty file/ },
  { label: "not JSON", file: "7.json", make: text("{not json"), reason: /^corrupt task file: not valid JSON/ },
  {
    label: "cut short mid-write",
    file: "8.json",
    make: text('{"payload":{"product_id":1},"sequ'),
    reason: /^corrupt task file: not valid JSON/,
  },
  { label: "whitespace only", file: "9.json", make: text(" \n"), reason: /^corrupt task file: not valid JSON/ },
  {
    label: "JSON array",
    file: "10.json",
    make: text("[1,2,3]"),
    reason: /^corrupt task file: expected a JSON object, found an array/,
  },
  {
    label: "missing payload",
    file: "11.json",
    make: text(`{"sequence":11,${DELIVERY}}`),
    reason: /^corrupt task file: no 'payload' field/,
  },
  {
    label: "sequence mismatch (5.json holding sequence 6)",
    file: "5.json",
    make: text(`{"payload":{},"sequence":6,${DELIVERY}}`),
    reason: /^corrupt task file: 'sequence' is 6 but the file is named 5\.json/,
  },
  {
    label: "negative retry_count",
    file: "12.json",
    make: text(`{"payload":{},"sequence":12,${DELIVERY},"retry_count":-1}`),
    reason: /^corrupt task file: 'retry_count' must be a non-negative integer, found -1/,
  },
  {
    label: "huge retry_count",
    file: "13.json",
    make: text(`{"payload":{},"sequence":13,${DELIVERY},"retry_count":99999999999999999999}`),
    reason: /^corrupt task file: 'retry_count' must be a non-negative integer, found 100000000000000000000/,
  },
  {
    label: "invalid UTF-8 (would be replaced by U+FFFD, then lost on a rewrite)",
    file: "15.json",
    make: (path) => Deno.writeFile(path, bytes(`{"payload":{"name":"`, [0xff, 0xfe], `"},"sequence":15,${DELIVERY}}`)),
    reason: /^corrupt task file: not valid UTF-8/,
  },
  {
    label: "nested 150,000 deep (parses, but cannot be written again)",
    file: "16.json",
    make: text(`{"payload":${"[".repeat(150_000)}${"]".repeat(150_000)},"sequence":16,${DELIVERY}}`),
    reason: /^corrupt task file: arrays and objects nested deeper than 511 levels/,
  },
  {
    label: "a FIFO named 17.json",
    file: "17.json",
    make: (path) => mkfifo(path),
    reason: /^not a task file: .* found a special file \(FIFO, socket or device\)$/,
  },
  { label: "abc.json", file: "abc.json", make: text("{}"), reason: /^not a task file: .* found a file$/ },
  { label: "1.json.tmp", file: "1.json.tmp", make: text("{}"), reason: /^not a task file: .* found a file$/ },
  { label: "x12.json", file: "x12.json", make: text("{}"), reason: /^not a task file: .* found a file$/ },
  { label: "0.json (no sequence 0)", file: "0.json", make: text("{}"), reason: /^not a task file: .* found a file$/ },
  {
    label: "a directory named 3.json",
    file: "3.json",
    make: async (path) => {
      await Deno.mkdir(path);
      await Deno.writeTextFile(join(path, "inner.json"), "{}");
    },
    reason: /^not a task file: .* found a directory$/,
  },
  {
    label: "a link named 4.json pointing outside the root",
    file: "4.json",
    make: (path, box) => Deno.symlink(join(box.outside, "secret.txt"), path),
    reason: /^not a task file: .* found a symbolic link$/,
  },
  {
    label: "a dangling link named 14.json pointing outside the root",
    file: "14.json",
    make: (path, box) => Deno.symlink(join(box.outside, "created-by-hurah.json"), path),
    reason: /^not a task file: .* found a symbolic link$/,
  },
];

/** Asserts that an inbox entry now sits in `error/`, unchanged, with a note beside it saying why. */
async function assertQuarantined(box: Sandbox, entry: InboxEntry, before: string): Promise<void> {
  equal(await exists(join(box.inbox, entry.file)), false, `${entry.file} is still in the inbox`);
  const target = join(box.error, entry.file);
  equal(await describe(target, false), before, `${entry.file} changed on its way to error/`);
  const reasonFile = join(box.error, `${entry.file}.reason.txt`);
  ok((await Deno.lstat(reasonFile)).isFile, `no reason file beside ${entry.file}`);
  const reason = await Deno.readTextFile(reasonFile);
  ok(reason.endsWith("\n"), "the reason file should end with a newline");
  ok(entry.reason.test(reason.trimEnd()), `reason ${JSON.stringify(reason)} does not match ${entry.reason}`);
}

function quarantined(entry: InboxEntry): BadInputCase {
  return {
    name: `inbox ${entry.label} is quarantined`,
    check: async (box) => {
      const path = join(box.inbox, entry.file);
      await entry.make(path, box);
      const before = await describe(path, false);
      const events: RunEvent[] = [];
      const report = await runOnce(box.root, keeper({ incompleteGraceMs: 0, onEvent: (e) => events.push(e) }));
      equal(report.quarantined, 1);
      equal(report.archived, 1, "the valid task was not handled in the same pass");
      deepEqual(events.filter((e) => e.type === "quarantine").map((e) => e.file), [entry.file]);
      await assertQuarantined(box, entry, before);
    },
  };
}

/** Ages the regular files among `entries` past the incomplete-file grace period, without following links. */
async function age(box: Sandbox, files: string[]): Promise<void> {
  for (const file of files) {
    const path = join(box.inbox, file);
    if ((await Deno.lstat(path)).isFile) await Deno.utime(path, AN_HOUR_AGO, AN_HOUR_AGO);
  }
}

const DOTFILE = ".partial.json";

const INBOX_CASES: BadInputCase[] = [
  ...BAD_INBOX_ENTRIES.map(quarantined),
  {
    name: "inbox corrupt file with its mtime an hour in the future is quarantined, not waited for",
    check: async (box) => {
      const path = join(box.inbox, "2.json");
      await Deno.writeTextFile(path, "{not json");
      const future = new Date(Date.now() + 60 * 60 * 1000);
      await Deno.utime(path, future, future);
      const report = await runOnce(box.root, keeper()); // the default grace period
      equal(report.waitingFor, undefined, "a file from the future was taken for one being written");
      equal(report.quarantined, 1);
      equal(report.archived, 1);
      match(
        await Deno.readTextFile(join(box.error, "2.json.reason.txt")),
        /^corrupt task file: not valid JSON .*; its mtime is (59m 59s|1h) ahead of this host's clock$/,
      );
    },
  },
  {
    name: "inbox task file over maxTaskSize is quarantined unread (library, then CLI --max-task-size)",
    check: async (box) => {
      const big = `{"payload":"${"x".repeat(2000)}","sequence":2,${DELIVERY}}`;
      await Deno.writeTextFile(join(box.inbox, "2.json"), big);
      const report = await runOnce(box.root, keeper({ maxTaskSize: 1024 }));
      equal(report.quarantined, 1);
      equal(report.archived, 1);
      equal(await Deno.readTextFile(join(box.error, "2.json")), big);
      match(
        await Deno.readTextFile(join(box.error, "2.json.reason.txt")),
        new RegExp(`^task file too large: ${big.length} bytes, over the limit of 1024 bytes \\(maxTaskSize\\)`),
      );
      await Deno.writeTextFile(join(box.inbox, "3.json"), big.replace('"sequence":2', '"sequence":3'));
      const cli = await runCli(["run", KEEPER, "", box.handler, box.root, "--json", "--max-task-size", "1KiB"]);
      equal(cli.code, 0, cli.stderr);
      equal(JSON.parse(cli.stdout).quarantined, 1);
      match(await Deno.readTextFile(join(box.error, "3.json.reason.txt")), /^task file too large: /);
    },
  },
  {
    name: "a FIFO swapped in between listing and reading is quarantined without blocking (ordered, in flight)",
    check: async (box) => {
      const events: RunEvent[] = [];
      const runner = await keeperRunner(box, events);
      for (const [dir, file] of [["inbox", "2.json"], ["inflight", "3.json~w1"]] as const) {
        await Deno.mkdir(join(box.root, `${KEEPER}_listener`, dir), { recursive: true });
        const path = join(box.root, `${KEEPER}_listener`, dir, file);
        await mkfifo(path);
        const writer = unblockLater(path, 1500); // should the read block, this ends it (and the test fails)
        try {
          const task = file.replace(/~.*/, "");
          const report = emptyReport(box.root);
          const spot = { dir, file, task, sequence: Number.parseInt(task) };
          if (dir === "inbox") deepEqual(await runner.handle(report, spot), { kind: "next" });
          else await runner.recover(report, spot, "test");
          equal(report.quarantined, 1);
          equal(await describe(join(box.error, task)), "fifo");
          match(
            await Deno.readTextFile(join(box.error, `${task}.reason.txt`)),
            /^not a task file: expected a regular file named <sequence>\.json, found a FIFO$/,
          );
        } finally {
          writer.kill();
          await writer.status;
        }
      }
    },
  },
  {
    name: "a link swapped in between listing and reading is not followed; none of its target's bytes are kept",
    check: async (box) => {
      const runner = await keeperRunner(box);
      for (const [dir, file] of [["inbox", "2.json"], ["inflight", "3.json~w1"]] as const) {
        await Deno.mkdir(join(box.root, `${KEEPER}_listener`, dir), { recursive: true });
        const link = join(box.root, `${KEEPER}_listener`, dir, file);
        await Deno.symlink(join(box.outside, "secret.txt"), link);
        const task = file.replace(/~.*/, "");
        const report = emptyReport(box.root);
        const spot = { dir, file, task, sequence: Number.parseInt(task) };
        if (dir === "inbox") await runner.handle(report, spot);
        else await runner.recover(report, spot, "test");
        equal(report.quarantined, 1);
        ok((await Deno.lstat(join(box.error, task))).isSymlink);
        match(
          await Deno.readTextFile(join(box.error, `${task}.reason.txt`)),
          /^not a task file: expected a regular file named <sequence>\.json, found a symbolic link$/,
        );
      }
      await assertNowhere(box.root, SECRET);
    },
  },
  {
    name: "inbox dotfile is ignored and left in place",
    check: async (box) => {
      await Deno.writeTextFile(join(box.inbox, DOTFILE), "{not json");
      await age(box, [DOTFILE]);
      const report = await runOnce(box.root, keeper({ incompleteGraceMs: 0 }));
      equal(report.quarantined, 0);
      equal(report.archived, 1);
      equal(await Deno.readTextFile(join(box.inbox, DOTFILE)), "{not json");
      equal(await exists(join(box.error, DOTFILE)), false);
    },
  },
  {
    name: "inbox corrupt file younger than the grace period stops the pass and waits (CLI, then library)",
    check: async (box) => {
      // The PHP dispatcher writes in place: a half-written file looks like this for a moment.
      const young = join(box.inbox, "2.json");
      await Deno.writeTextFile(young, '{"payload":{"product_id":');
      const [after] = await dispatcher(box.root).dispatch("product", { after: true });
      equal(after.sequence, 3, "the dispatcher must skip the number of the file being written");

      const cli = await runCli(["run", KEEPER, "", box.handler, box.root, "--json"]);
      equal(cli.code, 0, cli.stderr);
      const report = JSON.parse(cli.stdout.split("\n")[0]);
      equal(report.waitingFor, "2.json");
      equal(report.archived, 1, "tasks before the waiting file are handled");
      equal(report.quarantined, 0);
      equal(await Deno.readTextFile(young), '{"payload":{"product_id":', "the waiting file was touched");
      ok(await exists(join(box.inbox, "3.json")), "the pass must stop at the waiting file");

      await age(box, ["2.json"]);
      const later = await runOnce(box.root, keeper());
      equal(later.waitingFor, undefined);
      equal(later.quarantined, 1);
      equal(later.archived, 1);
      const archived = JSON.parse(await Deno.readTextFile(join(box.root, `${KEEPER}_listener`, "archive", "3.json")));
      deepEqual(archived.payload, { after: true });
      match(await Deno.readTextFile(join(box.error, "2.json.reason.txt")), /^corrupt task file: not valid JSON/);
    },
  },
  {
    name: "inbox: one CLI run quarantines every bad entry at once and ignores the dotfile",
    check: async (box) => {
      const before: Record<string, string> = {};
      for (const entry of BAD_INBOX_ENTRIES) {
        await entry.make(join(box.inbox, entry.file), box);
        before[entry.file] = await describe(join(box.inbox, entry.file), false);
      }
      await Deno.writeTextFile(join(box.inbox, DOTFILE), "{not json");
      await age(box, [...BAD_INBOX_ENTRIES.map((entry) => entry.file), DOTFILE]);

      const result = await runCli(["run", KEEPER, "", box.handler, box.root, "--json"]);
      equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout.split("\n")[0]);
      equal(report.quarantined, BAD_INBOX_ENTRIES.length);
      equal(report.archived, 1);
      equal(report.waitingFor, undefined);
      for (const entry of BAD_INBOX_ENTRIES) await assertQuarantined(box, entry, before[entry.file]);
      equal(await Deno.readTextFile(join(box.inbox, DOTFILE)), "{not json");
    },
  },
];

// ---------------------------------------------------------------- links, roots, tracking

const LINK_AND_ROOT_CASES: BadInputCase[] = [
  {
    name: "a listener directory that is a link outside the root",
    check: async (box) => {
      const link = join(box.root, "product", "evil_listener");
      await Deno.mkdir(join(box.root, "product"), { recursive: true }); // no dispatch makes type directories
      await Deno.symlink(join(box.outside, "dir"), link);
      await leavesRootAlone(box, async () => {
        const reason = /listener directory is a symbolic link/;
        await refuses(dispatcher(box.root).dispatch("product/created", {}), UnsafePathError, link, reason);
        const evil = { name: "evil", eventType: "product", handler: () => Task.SUCCESS };
        await refuses(runOnce(box.root, evil), UnsafePathError, link, /symbolic link/);
        assertRefused(await runCli(["dispatch", "product", "{}", "--root", box.root]), "dispatch", link, reason);
      });
    },
  },
  {
    name: "an event type directory that is a link outside the root",
    check: async (box) => {
      const link = join(box.root, "shop");
      await Deno.symlink(join(box.outside, "dir"), link);
      await leavesRootAlone(box, async () => {
        const reason = /event type directory is a symbolic link/;
        await refuses(dispatcher(box.root).dispatch("shop/order", {}), UnsafePathError, link, reason);
        const clerk = { name: "clerk", eventType: "shop/order", handler: () => Task.SUCCESS };
        await refuses(runOnce(box.root, clerk), UnsafePathError, link, /symbolic link/);
        assertRefused(await runCli(["dispatch", "shop", "{}", "--root", box.root]), "dispatch", link, reason);
      });
    },
  },
  {
    name: "another listener's inbox that is a link outside the root: no listener gets the event",
    check: async (box) => {
      await runOnce(box.root, { name: "victim", eventType: "", handler: () => Task.SUCCESS });
      const inbox = join(box.root, "victim_listener", "inbox");
      await Deno.remove(inbox);
      await Deno.symlink(join(box.outside, "dir"), inbox);
      await leavesRootAlone(box, async () => {
        await refuses(dispatcher(box.root).dispatch("product", {}), UnsafePathError, inbox, /symbolic link/);
      });
    },
  },
  {
    name: "an error directory that is a link outside the root",
    check: async (box) => {
      await Deno.symlink(join(box.outside, "dir"), box.error);
      await Deno.writeTextFile(join(box.inbox, "7.json"), "{not json");
      await leavesRootAlone(box, async () => {
        await refuses(runOnce(box.root, keeper({ incompleteGraceMs: 0 })), UnsafePathError, box.error, /symbolic link/);
      });
      await Deno.remove(box.error);
    },
  },
  {
    name: "a reason file name taken by a link outside the root is not written through",
    check: async (box) => {
      await Deno.mkdir(box.error);
      await Deno.symlink(join(box.outside, "secret.txt"), join(box.error, "9.json.reason.txt"));
      await Deno.writeTextFile(join(box.inbox, "9.json"), "{not json");
      const report = await runOnce(box.root, keeper({ incompleteGraceMs: 0 }));
      equal(report.quarantined, 1);
      const moved = [];
      for await (const entry of Deno.readDir(box.error)) {
        if (entry.isFile && !entry.name.endsWith(".reason.txt")) moved.push(entry.name);
      }
      equal(moved.length, 1, `expected the corrupt file in error/, found ${moved}`);
      equal(await Deno.readTextFile(join(box.error, moved[0])), "{not json");
      ok((await Deno.lstat(join(box.error, `${moved[0]}.reason.txt`))).isFile, "no reason file of its own");
    },
  },
  {
    name: "a tracking.json that is a link outside the root is neither read nor written through",
    check: async (box) => {
      const listener = join(box.root, `${KEEPER}_listener`);
      const outside = join(box.outside, "tracking.json");
      await Deno.writeTextFile(outside, '{"sequence":1000,"count":1000}');
      await Deno.remove(join(listener, "tracking.json")).catch(() => {});
      await Deno.symlink(outside, join(listener, "tracking.json"));
      await leavesRootAlone(box, async () => {
        const reason = /tracking\.json.*is a symbolic link/;
        await refuses(dispatcher(box.root).dispatch("product", {}), UnsafePathError, "tracking.json", reason);
        assertRefused(
          await runCli(["dispatch", "product", "{}", "--root", box.root]),
          "dispatch",
          "tracking.json",
          reason,
        );
      });
      await Deno.remove(join(listener, "tracking.json"));
      equal(await Deno.readTextFile(outside), '{"sequence":1000,"count":1000}');
      await Deno.remove(outside); // the sandbox's outside, as it was
    },
  },
  {
    name: "lock files that are links outside the root are not followed",
    check: async (box) => {
      const listener = join(box.root, `${KEEPER}_listener`);
      for (const lock of ["dispatch.lock", "run.lock"]) {
        await Deno.remove(join(listener, lock)).catch(() => {});
        await Deno.symlink(join(box.outside, `created-by-${lock}`), join(listener, lock));
      }
      await leavesRootAlone(box, async () => {
        await refuses(dispatcher(box.root).dispatch("product", {}), UnsafePathError, "dispatch.lock");
        await refuses(runOnce(box.root, keeper()), UnsafePathError, "run.lock");
      });
      for (const lock of ["dispatch.lock", "run.lock"]) await Deno.remove(join(listener, lock));
    },
  },
  {
    name: "dispatch to a root that does not exist",
    check: async (box) => {
      const missing = join(box.parent, "missing");
      const reason = /the event root does not exist/;
      await refuses(dispatcher(missing).dispatch("product", {}), UnsafePathError, missing, reason);
      assertUsageError(await runCli(["dispatch", "product", "{}", "--root", missing]), "dispatch", missing, reason);
      equal(await exists(missing), false);
    },
  },
  {
    name: "dispatch to a root that is a file",
    check: async (box) => {
      await refuses(dispatcher(box.handler).dispatch("product", {}), UnsafePathError, /not a directory/);
    },
  },
  {
    name: "an event type directory that is a file",
    check: async (box) => {
      await Deno.writeTextFile(join(box.root, "report"), "");
      await leavesRootAlone(box, async () => {
        const reason = /expected an event type directory, found a file/;
        await refuses(dispatcher(box.root).dispatch("report/daily", {}), UnsafePathError, reason);
      });
    },
  },
  {
    name: "a corrupt tracking.json: the next number comes from the files, no task is overwritten",
    check: async (box) => {
      await Deno.writeTextFile(join(box.root, `${KEEPER}_listener`, "tracking.json"), "{oops");
      const [delivery] = await dispatcher(box.root).dispatch("product", { second: true });
      equal(delivery.sequence, 2);
      deepEqual(JSON.parse(await Deno.readTextFile(join(box.inbox, "1.json"))).payload, KEPT_PAYLOAD);
    },
  },
  {
    name: "a tracking.json behind the inbox: the number in use is skipped, no task is overwritten",
    check: async (box) => {
      const tracking =
        '{"sequence":0,"count":0,"first":"2026-11-29T03:39:28+00:00","last":"2026-11-29T03:39:28+00:00"}';
      await Deno.writeTextFile(join(box.root, `${KEEPER}_listener`, "tracking.json"), tracking);
      const [delivery] = await dispatcher(box.root).dispatch("product", { second: true });
      equal(delivery.sequence, 2);
      deepEqual(JSON.parse(await Deno.readTextFile(join(box.inbox, "1.json"))).payload, KEPT_PAYLOAD);
    },
  },
];

// ---------------------------------------------------------------- the table

const CASES: BadInputCase[] = [
  badEventType("../x", "../x", /segment 1 is '\.\.'; path traversal is not allowed/),
  badEventType("a/../../b", "a/../../b", /segment 2 is '\.\.'/),
  badEventType("/abs", "/abs", /must not start with '\/'/),
  badEventType("a//b", "a//b", /empty segment 2/),
  badEventType("a/ (trailing slash)", "a/", /empty segment 2/),
  badEventType(". (current dir)", ".", /segment 1 is '\.'/),
  badEventType("a/./b", "a/./b", /segment 2 is '\.'/),
  badEventType("with NUL", "a\0b", /segment 1 .* has characters outside/, false),
  badEventType("with a newline", "a\nb", /segment 1 .* has characters outside/),
  badEventType("with an escape char", "a\x1b[31mb", /segment 1 .* has characters outside/),
  badEventType("with a backslash", "a\\..\\b", /segment 1 .* has characters outside/),
  badEventType("with a foo_listener segment", "product/foo_listener", /segment 2 ends in '_listener'/),
  badEventType("with a 101-character segment", "a".repeat(101), /101 characters long, at most 100 allowed/),
  badEventType("with 17 segments", Array(17).fill("s").join("/"), /17 segments, at most 16 allowed/),
  {
    name: "event type ../x through hurah run",
    check: (box) =>
      leavesRootAlone(box, async () => {
        const result = await runCli(["run", "worker", "../x", box.handler, box.root]);
        assertUsageError(result, "run", '"../x"', /path traversal is not allowed/);
      }),
  },
  badHandlerName("a/b", "a/b", /allowed are letters, digits, '_' and '-'/),
  badHandlerName("..", "..", /allowed are/),
  badHandlerName("../../outside/x", "../../outside/x", /allowed are/),
  badHandlerName("empty", "", /must not be empty/),
  badHandlerName("65 characters", "h".repeat(65), /65 characters long, at most 64 allowed/),
  badHandlerName("with spaces", "image scaler", /allowed are/),
  badPayload("BigInt", () => ({ product_id: 10n }), "payload.product_id", /is a bigint/),
  badPayload(
    "cycle",
    () => {
      const order: Record<string, unknown> = { id: 1 };
      order.self = order;
      return order;
    },
    "payload.self",
    /refers back to itself/,
  ),
  badPayload("function", () => ({ items: [{ id: 1 }, { id: () => 2 }] }), "payload.items[1].id", /is a function/),
  badPayload("top-level undefined", () => undefined, "payload", /is undefined; use null/),
  badPayload("NaN", () => ({ price: NaN }), "payload.price", /is NaN/),
  badPayload("lone surrogate", () => ({ name: "\ud800" }), "payload.name", /lone UTF-16 surrogate/),
  badPayload("Map", () => new Map(), "payload", /is a Map/),
  badPayload("nested 511 deep", () => nested(511), `payload${"[0]".repeat(510)}`, /is nested deeper than 510 levels/),
  badPayload("nested 4,000 deep", () => nested(4000), `payload${"[0]".repeat(510)}`, /is nested deeper than 510/),
  {
    name: "library payload whose task file would exceed maxTaskSize",
    check: (box) =>
      leavesRootAlone(box, async () => {
        const small = new Dispatcher(box.root, { durable: false, maxTaskSize: 1024 });
        const reason = /makes a task file of \d+ bytes, over the limit of 1024 bytes \(maxTaskSize\)/;
        await refuses(small.dispatch("product/created", { text: "x".repeat(2000) }), PayloadError, reason);
        await refuses(small.dispatchMany([{ eventType: "product", payload: "x".repeat(2000) }]), PayloadError, reason);
      }),
  },
  badCliPayload("nested 4,000 deep", JSON.stringify(nested(4000)), /payload\[0\].* is nested deeper than 510/),
  badCliPayload("not JSON", "{not json", /payload argument is not valid JSON/),
  badCliPayload("@missing-file", "@missing-file.json", /cannot read payload file missing-file\.json/),
  badCliPayload("1e400 (Infinity once parsed)", "1e400", /payload is Infinity/),
  badCliPayload("lone surrogate escape", '{"name":"\\ud800"}', /payload\.name is a string with a lone/),
  ...INBOX_CASES,
  ...LINK_AND_ROOT_CASES,
];

Deno.test("bad input gets a clear error or quarantine, writes nothing outside the root, loses no task", async (t) => {
  for (const badCase of CASES) {
    await t.step(badCase.name, () => inSandbox(badCase.check));
  }
});

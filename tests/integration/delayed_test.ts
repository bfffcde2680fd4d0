/**
 * Delayed dispatch end to end: `hurah dispatch --delay/--at` and their bad
 * values; a delayed task is in no inbox before it is due, which the PHP
 * original's runner shows too; two `hurah watch` processes handle each
 * delayed task once; and a SIGKILL of the delivering process in the middle
 * of a delivery, then a restart, still delivers each task once.
 *
 * Completion is awaited by polling with generous deadlines (no assertion on
 * timings).
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeTask, Dispatcher, Layout } from "../../mod.ts";
import { main } from "../../src/cli/main.ts";
import { DelayedLayout } from "../../src/protocol/delayed.ts";
import { namesIn, runCli, sequencesIn, spawnCli, stopChild, tempRoot, waitUntil } from "../_helpers.ts";
import { PHP_ORIGINAL, phpMissing } from "./_php.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const PAYLOAD_LOG = join(HERE, "handlers", "payload_log.ts");
const CRASH = join(HERE, "_delayed_crash.ts");
const DEADLINE_MS = 30_000;

/** The JSON lines of a log; [] when it does not exist. */
function entries(path: string): { at: number; pid: number; payload: { n: number; due: number } }[] {
  try {
    return Deno.readTextFileSync(path).split("\n").filter(Boolean).map((line) => JSON.parse(line));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** Runs `hurah <args>` in this process (the commands that need no handler run fast so). */
async function hurah(args: string[], stdin = ""): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    readStdin: () => Promise.resolve(stdin),
    env: () => undefined,
    signal: new AbortController().signal,
    color: false,
    stderrIsTerminal: false,
    stdoutIsTerminal: false,
  });
  return { code, stdout, stderr };
}

async function register(root: string, name: string, type: string) {
  const result = await runCli(["run", name, type, "--exec", "true", root]);
  equal(result.code, 0, result.stderr);
}

Deno.test("hurah dispatch --delay and --at schedule the event outside every inbox; bad values are refused", async () => {
  await using root = await tempRoot();
  await register(root.path, "mailer", "user");
  const inbox = join(root.path, "user", "mailer_listener", Layout.INBOX);
  const results = [];
  for (
    const args of [
      ["user/signup", '{"id":1}', "--delay", "1h"],
      ["user/signup", "--at", "2099-12-24T18:00:00+01:00"],
      ["user/signup", "--at", "2001-01-01T00:00:00Z"],
      ["user/signup", "--delay", "90s", "--json"],
      ["user/signup", "--delay", "soon"],
      ["user/signup", "--at", "2099-12-24 18:00"],
      ["user/signup", "--at", "2099-12-24T18:00:00Z", "--delay", "1m"],
      ["--batch", "-", "--delay", "1m"],
      ["user/signup", "--delay", "9999999d"],
    ]
  ) {
    results.push(await hurah(["dispatch", ...args, "--root", root.path]));
  }
  const [delay, at, past, json, ...bad] = results;
  for (const result of [delay, at, past, json]) equal(result.code, 0, result.stderr);
  match(
    delay.stdout,
    /^scheduled [0-9a-f-]{36} \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+\/\.hurah\/delayed\/\S+\.json\n$/,
  );
  match(at.stdout, / 2099-12-24T17:00:00\.000Z /);
  match(past.stderr, /--at 2001-01-01T00:00:00Z is .* ago; the event is due at once/);
  const scheduled = JSON.parse(json.stdout);
  deepEqual(Object.keys(scheduled), ["scheduled", "eventType", "eventId", "notBefore", "location"]);
  equal(scheduled.scheduled, true);
  const messages = [
    /--delay must be a duration like 500ms/,
    /--at must be a time in ISO 8601 with a zone/,
    /--delay and --at exclude each other/,
    /--delay delays one event; it does not go with --batch/,
    /--delay: a delayed event must be due before the year 10000/,
  ];
  for (const [k, result] of bad.entries()) {
    equal(result.code, 2, result.stderr);
    match(result.stderr, messages[k]);
  }
  deepEqual(namesIn(inbox), [], "nothing in the inbox");
  equal(namesIn(join(root.path, DelayedLayout.DIR)).filter((name) => name.endsWith(".json")).length, 4);
  const status = await hurah(["status", "--json", "--root", root.path]);
  equal(JSON.parse(status.stdout).delayed.waiting, 4);

  // The one in the past is due: a run delivers it (and handles it), the others wait.
  const run = await runCli(["run", "mailer", "user", "--exec", "true", root.path]);
  equal(run.code, 0, run.stderr);
  match(run.stderr, /delayed events: 1 due, 1 tasks delivered/);
  match(run.stdout, /1 handled, 1 archived/);
});

const skipPhp = await phpMissing("harness/run_handler.php");

Deno.test({
  name: "a delayed task is not in any inbox before it is due: the PHP original's runner handles it only after",
  ignore: skipPhp !== undefined,
  async fn() {
    await using root = await tempRoot();
    const log = join(root.path, "php.log");
    const php = async () => {
      const { code, stderr } = await new Deno.Command("php", {
        args: [join(PHP_ORIGINAL, "harness", "run_handler.php"), "mailer", "product", root.path],
        cwd: join(PHP_ORIGINAL, "hurah-events"),
        env: { HE_CODE: "0", HE_LOG: log, HE_LOG_LEVEL: "none" },
        stdout: "null",
        stderr: "piped",
      }).output();
      equal(code, 0, new TextDecoder().decode(stderr));
      return Deno.readTextFileSync(log).split("\n").filter(Boolean);
    };
    Deno.writeTextFileSync(log, "");
    deepEqual(await php(), [], "PHP registers its listener");
    const dispatcher = new Dispatcher(root.path);
    const scheduled = await dispatcher.dispatch("product/created", { id: 1 }, { delay: 1500 });
    deepEqual(await php(), [], "a PHP run before it is due handles nothing");
    await waitUntil("the due time", () => Date.now() >= Date.parse(scheduled.notBefore), DEADLINE_MS);
    deepEqual(await php(), [], "due, but not delivered yet: no hurah watch or run came by");
    const run = await runCli(["run", "other", "unrelated", "--exec", "true", root.path]); // any run delivers
    equal(run.code, 0, run.stderr);
    deepEqual(await php(), ["1"], "delivered, the PHP runner handles it");
    const archived = join(root.path, "product", "mailer_listener", Layout.ARCHIVE, "1.json");
    equal(decodeTask(Deno.readTextFileSync(archived), 1).event_id, scheduled.eventId);
  },
});
if (skipPhp !== undefined) console.log(`skipped: the PHP runner check: ${skipPhp}`);

Deno.test("two hurah watch processes handle each delayed task exactly once", async () => {
  await using root = await tempRoot();
  const log = join(root.path, "handled.log");
  const env = { HURAH_TEST_LOG: log };
  const watchers = [0, 1].map(() =>
    spawnCli(["watch", "mailer", "user", PAYLOAD_LOG, root.path, "--create-root", "--no-fsync", "--concurrency", "2"], {
      env,
    })
  );
  try {
    await waitUntil("the listener", () => namesIn(join(root.path, "user", "mailer_listener")).includes("inbox"));
    const dispatcher = new Dispatcher(root.path, { durable: false });
    for (let n = 0; n < 8; n++) {
      const due = Date.now() + (n % 4) * 400;
      await dispatcher.dispatch("user/signup", { n, due }, { notBefore: new Date(due) });
    }
    await waitUntil(() => `8 handled, found ${entries(log).length}`, () => entries(log).length >= 8, DEADLINE_MS);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // time for a second delivery, if there were one
    const seen = entries(log);
    deepEqual(seen.map((entry) => entry.payload.n).sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
    for (const entry of seen) ok(entry.at >= entry.payload.due, `task ${entry.payload.n} handled early`);
  } finally {
    for (const watcher of watchers) await stopChild(watcher);
  }
});

Deno.test("a SIGKILL of the delivering process mid-delivery, then a restart, delivers each task once", async (t) => {
  // The crash points: while delivering to the first listener (before and after its tasks are linked into the
  // inbox), and to the second one after the first was done.
  for (const [index, point] of [[0, "before"], [0, "after"], [1, "after"]] as const) {
    await t.step(`listener ${index}, ${point} the link`, async () => {
      await using root = await tempRoot();
      await register(root.path, "a", "t");
      await register(root.path, "b", "t");
      const dispatcher = new Dispatcher(root.path, { durable: false });
      const ids = new Set<string>();
      for (let n = 0; n < 5; n++) {
        ids.add((await dispatcher.dispatch("t", n, { notBefore: new Date(Date.now() - 1000) })).eventId);
      }
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", CRASH, root.path, String(index), point],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      try {
        equal((await reader.read()).value?.trim(), "held");
      } finally {
        await stopChild(child); // SIGKILL
        await reader.cancel();
      }
      ok(namesIn(join(root.path, DelayedLayout.DIR)).includes(DelayedLayout.JOURNAL), "the journal is left");
      const restart = await runCli(["run", "a", "t", "--exec", "true", root.path]);
      equal(restart.code, 0, restart.stderr);
      for (const name of ["a", "b"]) {
        const dir = join(root.path, "t", `${name}_listener`);
        const found = [Layout.INBOX, Layout.ARCHIVE].flatMap((state) =>
          sequencesIn(join(dir, state)).map((n) =>
            decodeTask(Deno.readTextFileSync(join(dir, state, `${n}.json`)), n).event_id as string
          )
        );
        equal(found.length, 5, `${name}: ${found.length} tasks`);
        deepEqual(new Set(found), ids);
      }
      deepEqual(namesIn(join(root.path, DelayedLayout.DIR)).filter((name) => name.endsWith(".json")), []);
      equal(namesIn(join(root.path, DelayedLayout.DIR)).includes(DelayedLayout.JOURNAL), false);
    });
  }
});

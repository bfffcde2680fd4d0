/**
 * Acceptance of defect 5 with real processes: `archive/` not writable by the
 * user the CLI runs as. A handler that returned SUCCESS is not run again:
 * `hurah run` exits 1 with a one-line message, `hurah watch` reports a fault
 * and pauses the listener (its later tasks wait: it is worked in order), and
 * once `archive/` is writable again the next pass only completes the move.
 *
 * Runs the CLI as `nobody` (through `setpriv`), so it needs root; the deno
 * binary is linked (or copied) to a place `nobody` can reach.
 *
 * @module
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { decodeTask, Dispatcher, type FailureRecord, Layout, listenerPath, runOnce, Task } from "../../mod.ts";
import { namesIn, PROJECT, sequencesIn, tempRoot, waitUntil } from "../_helpers.ts";

const NAME = "mover";
const EVENT_TYPE = "job/done";

function setprivPath(): string | undefined {
  for (const path of ["/usr/bin/setpriv", "/bin/setpriv"]) {
    try {
      Deno.statSync(path);
      return path;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return undefined;
}

const SETPRIV = setprivPath();
const SKIP = Deno.uid() !== 0 ? "not root" : SETPRIV === undefined ? "no setpriv" : undefined;
if (SKIP) console.log(`skipped: move_failure_test.ts needs root and setpriv (${SKIP})`);

/** Makes every directory under `path` writable by all, except `except`. */
async function openUp(path: string): Promise<void> {
  await Deno.chmod(path, 0o777);
  for await (const entry of Deno.readDir(path)) {
    if (entry.isDirectory) await openUp(join(path, entry.name));
    else if (entry.isFile) await Deno.chmod(join(path, entry.name), 0o666);
  }
}

/**
 * Copies what `cli.ts` needs into `to`, for a user who may not read the
 * project's own folder (a clone in a private directory).
 */
async function copySources(to: string): Promise<string> {
  const copy = async (from: string, into: string) => {
    const info = await Deno.stat(from);
    if (!info.isDirectory) return await Deno.copyFile(from, into);
    await Deno.mkdir(into, { recursive: true });
    for await (const entry of Deno.readDir(from)) await copy(join(from, entry.name), join(into, entry.name));
  };
  await Deno.mkdir(to, { recursive: true });
  for (const name of ["cli.ts", "deno.json", "src"]) await copy(join(PROJECT, name), join(to, name));
  return join(to, "cli.ts");
}

/** The command line that runs `hurah <args>` as nobody, from the copy `cli`. */
function asNobody(home: string, deno: string, cli: string, args: string[]): Deno.Command {
  return new Deno.Command(SETPRIV!, {
    args: [
      "--reuid=nobody",
      "--regid=nogroup",
      "--clear-groups",
      "env",
      `HOME=${home}`,
      `DENO_DIR=${join(home, "deno")}`,
      "NO_COLOR=1",
      deno,
      "run",
      "-A",
      "--quiet",
      cli,
      ...args,
    ],
    cwd: home, // where the exec handlers run: the test's own directory may be closed to nobody
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

async function output(command: Deno.Command): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await command.output();
  return { code, stdout: new TextDecoder().decode(stdout), stderr: new TextDecoder().decode(stderr) };
}

Deno.test({
  name: "hurah run and watch do not run a task again whose move to archive/ fails; they stop and say why",
  ignore: SKIP !== undefined,
  async fn() {
    await using root = await tempRoot();
    const events = join(root.path, "events");
    const home = join(root.path, "home");
    await Deno.mkdir(home);
    await runOnce(events, { name: NAME, eventType: EVENT_TYPE, handler: () => Task.SUCCESS, durable: false });
    const dispatcher = new Dispatcher(events, { durable: false });
    await dispatcher.dispatch(EVENT_TYPE, { n: 1 });
    const dir = join(events, listenerPath(NAME, EVENT_TYPE));
    const archive = join(dir, Layout.ARCHIVE);
    await openUp(root.path);
    await Deno.mkdir(archive, { recursive: true });
    await Deno.chmod(archive, 0o755); // root's: nobody cannot move a task into it
    // Linked after the chmods above: a hard link shares the binary's mode, which must stay as it is.
    const deno = join(home, "deno-bin");
    try {
      await Deno.link(Deno.execPath(), deno);
    } catch {
      await Deno.copyFile(Deno.execPath(), deno);
    }
    const cli = await copySources(join(home, "hurah"));
    const log = join(home, "runs.log");
    const exec = `echo "$HURAH_SEQUENCE" >> ${log}; exit 0`;
    const runs = () => {
      try {
        return Deno.readTextFileSync(log).split("\n").filter(Boolean);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return [];
        throw error;
      }
    };

    // hurah run: exit 1, one line, the decision recorded in the task file.
    for (let pass = 1; pass <= 2; pass++) {
      const run = await output(asNobody(home, deno, cli, ["run", NAME, EVENT_TYPE, "--exec", exec, events]));
      equal(run.code, 1, run.stderr);
      const lines = run.stderr.split("\n").filter((line) => line.startsWith("hurah run:"));
      equal(lines.length, 1, run.stderr);
      match(lines[0], /task 1 .*was handled \(SUCCESS\) but could not be moved to archive\/: .*[Pp]ermission denied/);
      match(lines[0], /it will not run again/);
      ok(!/^\s+at /m.test(run.stderr), `no stack:\n${run.stderr}`);
      deepEqual(runs(), ["1"], `pass ${pass}: the handler ran once`);
    }
    const task = decodeTask(Deno.readTextFileSync(join(dir, Layout.INBOX, "1.json")), 1);
    const record = (task.failures as FailureRecord[]).at(-1)!;
    deepEqual([record.result, record.fate], ["SUCCESS", "archive"]);

    // hurah watch: the listener pauses on faults (with backoff) instead of running the task again.
    const watcher = asNobody(home, deno, cli, [
      "watch",
      NAME,
      EVENT_TYPE,
      "--exec",
      exec,
      events,
      "--rescan-interval",
      "200ms",
    ]).spawn();
    let stderr = "";
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of watcher.stderr) stderr += decoder.decode(chunk, { stream: true });
    })();
    const stdout = new Response(watcher.stdout).text();
    try {
      await waitUntil("two faults", () => (stderr.match(/ FAULT, /g)?.length ?? 0) >= 2, 30_000);
    } finally {
      watcher.kill("SIGTERM");
      await watcher.status;
      await reading;
      await stdout;
    }
    deepEqual(runs(), ["1"], `the task did not run again:\n${stderr}`);
    match(stderr, /mover FAULT, trying again in .*could not be moved to archive\/: .*it will not run again/);

    // Writable again: the next pass only completes the move, then goes on.
    await Deno.chmod(archive, 0o777);
    await dispatcher.dispatch(EVENT_TYPE, { n: 2 });
    const last = await output(asNobody(home, deno, cli, ["run", NAME, EVENT_TYPE, "--exec", exec, events]));
    equal(last.code, 0, last.stderr);
    deepEqual(runs(), ["1", "2"], "task 1 not run again, task 2 once");
    deepEqual(sequencesIn(archive), [1, 2]);
    deepEqual(namesIn(join(dir, Layout.INBOX)), []);
  },
});

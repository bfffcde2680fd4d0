/**
 * Acceptance: at least 50 SIGKILLs of a dispatcher process at random
 * moments: a third of them dispatching one event at a time, a third making 2
 * to 16 `dispatch()` calls at once, a third in batches of 2 to 20
 * (`dispatchMany()`). After them no partial or corrupt file exists under inbox/,
 * tracking.json is always valid, and every delivery the dispatcher reported
 * before the kill is present.
 *
 * Durable mode is on (the default), on the working disk: that is where the
 * promise "a reported delivery is on disk" means something, and the fsyncs
 * widen the moments a kill can land in. (A tmpfs root would be faster, but
 * the test process could not read it with the test task's permissions; see
 * `_tree.ts`.) Most kills wait until the child has reported a random number of
 * deliveries, then a random fraction of a delivery more, so they land
 * mid-dispatch; the others land at a random time after spawn, some during
 * start-up.
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { decodeTask, Layout, listenerPath, runOnce, Task } from "../../mod.ts";
import { tempRoot } from "../_helpers.ts";
import { type DispatchLoop, spawnDispatchLoop, withTimeout } from "./_dispatch_loop.ts";

const KILLS = 100;
const EVENT_TYPE = "product/created";
/** One listener per level the event reaches, in dispatch order (deepest first). */
const LISTENERS = [
  { name: "mailer", eventType: "product/created" },
  { name: "catalog", eventType: "product" },
  { name: "audit", eventType: "" },
] as const;
const TASK_FILE = /^([1-9][0-9]*)\.json$/;

/** What the test knows of one listener, checked and extended after every kill. */
interface ListenerState {
  dir: string;
  /** Verified inbox files: sequence -> the event it holds. */
  files: Map<number, { writer: number; i: number; taskId: unknown }>;
  /** Every (writer, i) delivered, to catch an event delivered twice. */
  events: Set<string>;
  /** Every sequence some dispatcher reported. */
  reported: Set<number>;
  tracking: number;
}

interface Findings {
  /** Inbox files whose dispatcher was killed before it reported them. */
  unreported: number;
  /** Staging files in tmp/ (left by killed dispatchers; never `.json`). */
  tmpFiles: number;
  /** Whether tracking.json moved on past every task file (killed between the two). */
  trackingAhead: boolean;
}

/**
 * Checks one listener after a kill: every inbox entry is a valid `<N>.json`
 * whose sequence is N, no event is there twice, tracking.json is valid and
 * not behind any file, and every reported delivery is there with the right
 * event. Reads only files it has not verified before.
 */
async function checkListener(
  state: ListenerState,
  name: string,
  writer: number,
  reported: { sequence: number; writer: number; i: number }[],
): Promise<Findings> {
  const findings: Findings = { unreported: 0, tmpFiles: 0, trackingAhead: false };
  let maxFile = 0;
  for await (const entry of Deno.readDir(join(state.dir, Layout.INBOX))) {
    const match = TASK_FILE.exec(entry.name);
    ok(match && entry.isFile, `${name}: inbox/${entry.name} is not a task file`);
    const sequence = Number(match[1]);
    maxFile = Math.max(maxFile, sequence);
    if (state.files.has(sequence)) continue;
    const text = await Deno.readTextFile(join(state.dir, Layout.INBOX, entry.name));
    const task = decodeTask(text, sequence); // throws on a partial or corrupt file
    const { writer, i } = task.payload as { writer: number; i: number };
    const key = `${writer}:${i}`;
    ok(!state.events.has(key), `${name}: event ${key} delivered twice (again as ${sequence}.json)`);
    state.events.add(key);
    state.files.set(sequence, { writer, i, taskId: task.task_id });
  }

  const trackingText = await Deno.readTextFile(join(state.dir, Layout.TRACKING));
  const tracking = JSON.parse(trackingText); // throws when it is not valid JSON
  ok(Number.isSafeInteger(tracking.sequence), `${name}: tracking.json has no sequence: ${trackingText}`);
  equal(tracking.count, tracking.sequence, `${name}: tracking.json count`);
  ok(tracking.sequence >= maxFile, `${name}: tracking.json at ${tracking.sequence}, behind inbox/${maxFile}.json`);
  ok(tracking.sequence >= state.tracking, `${name}: tracking.json went back from ${state.tracking}`);
  findings.trackingAhead = tracking.sequence > maxFile && tracking.sequence > state.tracking;
  state.tracking = tracking.sequence;

  for (const { sequence, writer, i } of reported) {
    ok(!state.reported.has(sequence), `${name}: sequence ${sequence} reported twice`);
    state.reported.add(sequence);
    ok(tracking.sequence >= sequence, `${name}: tracking.json at ${tracking.sequence}, behind reported ${sequence}`);
    const file = state.files.get(sequence);
    ok(file, `${name}: reported delivery ${sequence} is missing from the inbox`);
    deepEqual({ writer: file.writer, i: file.i }, { writer, i }, `${name}: reported ${sequence}.json holds`);
  }
  const reportedHere = new Set(reported.map((r) => r.sequence));
  for (const [sequence, file] of state.files) {
    if (file.writer === writer && !reportedHere.has(sequence)) findings.unreported++;
  }

  for await (const entry of Deno.readDir(join(state.dir, Layout.TMP))) {
    ok(!entry.name.endsWith(".json"), `${name}: tmp/${entry.name} ends in .json`);
    findings.tmpFiles++;
  }
  return findings;
}

/** Which event each reported line is: a dispatch reports one line per listener, deepest first. */
function attribute(loop: DispatchLoop, writer: number): Map<string, { sequence: number; writer: number; i: number }[]> {
  const byListener = new Map<string, { sequence: number; writer: number; i: number }[]>();
  for (const { name } of LISTENERS) byListener.set(name, []);
  for (const [k, { listener, sequence }] of loop.reported.entries()) {
    equal(listener, LISTENERS[k % LISTENERS.length].name, `report line ${k} of dispatcher ${writer}`);
    byListener.get(listener)!.push({ sequence, writer, i: Math.floor(k / LISTENERS.length) });
  }
  return byListener;
}

Deno.test("a dispatcher killed at random moments leaves only whole task files and every reported one", async () => {
  await using root = await tempRoot();
  const states = new Map<string, ListenerState>();
  for (const { name, eventType } of LISTENERS) {
    await runOnce(root.path, { name, eventType, handler: () => Task.SUCCESS });
    const dir = join(root.path, listenerPath(name, eventType));
    states.set(name, { dir, files: new Map(), events: new Set(), reported: new Set(), tracking: 0 });
  }
  // A first, complete dispatch, so that tracking.json exists from the start.
  {
    await using first = spawnDispatchLoop(root.path, EVENT_TYPE, 1, { writer: 0 });
    equal((await withTimeout(first.exited, 60_000, "the first dispatcher")).code, 0, await first.stderr);
    const byListener = attribute(first, 0);
    for (const [name, state] of states) await checkListener(state, name, 0, byListener.get(name)!);
  }

  let midDispatch = 0;
  let duringStartup = 0;
  let interrupted = 0;
  let unreportedFiles = 0;
  let trackingAhead = 0;
  let tmpFiles = 0;
  for (let writer = 1; writer <= KILLS; writer++) {
    // One dispatcher in three sends batches (dispatchMany) and one makes several dispatch() calls at once, so
    // kills land inside a batch and inside a slice of calls served together too.
    const mode = writer % 3 === 0
      ? { batch: 2 + Math.floor(Math.random() * 19) }
      : writer % 3 === 1
      ? { concurrent: 2 + Math.floor(Math.random() * 15) }
      : {};
    await using loop = spawnDispatchLoop(root.path, EVENT_TYPE, 1_000, { writer, ...mode });
    if (Math.random() < 0.25) {
      // By time: from start-up to the first few dispatches.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 150));
    } else {
      // By progress: after a random number of reported deliveries, then a bit more.
      const deliveries = 1 + Math.floor(Math.random() * 12);
      await withTimeout(loop.waitForReports(deliveries), 60_000, `${deliveries} deliveries from dispatcher ${writer}`);
      const until = performance.now() + Math.random() * 3;
      while (performance.now() < until) { /* a fraction of a delivery */ }
    }
    const status = await withTimeout(loop.kill(), 60_000, `dispatcher ${writer} to die`);
    equal(status.signal, "SIGKILL", `dispatcher ${writer} ended before the kill: ${await loop.stderr}`);

    const byListener = attribute(loop, writer);
    let filesOfThisRound = 0;
    let roundInterrupted = false;
    const tmpBefore = tmpFiles;
    tmpFiles = 0;
    for (const [name, state] of states) {
      const before = state.files.size;
      const findings = await checkListener(state, name, writer, byListener.get(name)!);
      filesOfThisRound += state.files.size - before;
      unreportedFiles += findings.unreported;
      tmpFiles += findings.tmpFiles;
      if (findings.trackingAhead) trackingAhead++;
      if (findings.unreported > 0 || findings.trackingAhead) roundInterrupted = true;
    }
    if (tmpFiles > tmpBefore) roundInterrupted = true; // tmp/ is never swept during the test
    if (filesOfThisRound > 0 || loop.reported.length > 0) midDispatch++;
    else duringStartup++;
    if (roundInterrupted) interrupted++;
  }

  // A dispatcher that is not killed carries on after the highest sequence.
  const trackingBefore = new Map([...states].map(([name, state]) => [name, state.tracking]));
  {
    await using last = spawnDispatchLoop(root.path, EVENT_TYPE, 5, { writer: KILLS + 1 });
    equal((await withTimeout(last.exited, 60_000, "the last dispatcher")).code, 0, await last.stderr);
    const byListener = attribute(last, KILLS + 1);
    for (const [name, state] of states) {
      const highest = Math.max(trackingBefore.get(name)!, ...state.files.keys());
      await checkListener(state, name, KILLS + 1, byListener.get(name)!);
      deepEqual(
        byListener.get(name)!.map((r) => r.sequence),
        [1, 2, 3, 4, 5].map((k) => highest + k),
        `${name}: the next dispatcher continues after ${highest}`,
      );
    }
  }

  // A runner takes every file that is there: none is half-written, none is a stray.
  let gaps = 0;
  for (const { name, eventType } of LISTENERS) {
    const state = states.get(name)!;
    equal(state.dir, join(root.path, listenerPath(name, eventType)));
    gaps += state.tracking - state.files.size;
    const report = await runOnce(root.path, { name, eventType, handler: () => Task.SUCCESS });
    equal(report.archived, state.files.size, `${name}: ${JSON.stringify(report)}`);
    equal(report.quarantined, 0);
    equal(report.waitingFor, undefined);
  }
  console.log(
    `${KILLS} SIGKILLs: ${midDispatch} after dispatching began, ${duringStartup} during start-up; ` +
      `${interrupted} caught a delivery or a dispatch half-way (${unreportedFiles} delivered-but-unreported ` +
      `files, ${trackingAhead} times tracking.json ahead of the files, ${tmpFiles} staging files left in tmp/); ` +
      `${gaps} sequence numbers skipped`,
  );
});

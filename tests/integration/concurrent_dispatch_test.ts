/**
 * Acceptance: 8 concurrent dispatcher processes × 2,000 events into 3
 * listeners. Each listener ends with exactly 16,000 task files, sequences
 * 1..16,000 with no gap or duplicate, every file valid JSON, and
 * tracking.json valid. (The PHP library lost events here: two dispatchers
 * read the same counter and wrote the same file.) Two dispatchers call
 * `dispatch()` one event at a time, two make 5 and 40 calls at once, and four
 * call `dispatchMany()` with batches of different sizes (one above the
 * 512-task lock slice); each one's events keep their order in every listener.
 *
 * Disk and durability: the root is on /dev/shm (tmpfs) and the dispatchers
 * run with `--no-fsync`. What is tested is the dispatch lock, the counter
 * and the hard link into the inbox, which are the same code in both modes;
 * fsync only adds waiting (durable mode on the real disk is kill_test.ts's).
 * On this 2-core machine the 48,000 deliveries take ~16 s on tmpfs and
 * 30–70 s on the working disk, whose directory updates are slow. The test
 * process reaches the tmpfs root only through subprocesses (see `_tree.ts`).
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { decodeTask, Layout, listenerPath } from "../../mod.ts";
import { runCli } from "../_helpers.ts";
import { type DispatchLoop, spawnDispatchLoop, withTimeout } from "./_dispatch_loop.ts";
import { dumpTree, shmRoot } from "./_tree.ts";

const WRITERS = 8;
const EVENTS_PER_WRITER = 2_000;
const TOTAL = WRITERS * EVENTS_PER_WRITER;
const EVENT_TYPE = "product/created";
/** How each writer dispatches: `dispatch()` one at a time or `concurrent` at once, or `dispatchMany()` in batches. */
const MODES: { batch?: number; concurrent?: number }[] = [
  {},
  {},
  { concurrent: 5 },
  { concurrent: 40 },
  { batch: 7 },
  { batch: 50 },
  { batch: 300 },
  { batch: 700 },
];
/** One listener per level the event reaches, in dispatch order (deepest first). */
const LISTENERS = [
  { name: "mailer", eventType: "product/created" },
  { name: "catalog", eventType: "product" },
  { name: "audit", eventType: "" },
] as const;

interface FileFacts {
  writer: number;
  i: number;
  eventId: unknown;
}

Deno.test("dispatch() and dispatchMany() from 8 processes at once give every listener 1..16,000 exactly once", async () => {
  await using root = await shmRoot();
  const handler = join(import.meta.dirname!, "handlers", "append_log.ts");
  for (const { name, eventType } of LISTENERS) {
    const registered = await runCli(["run", name, eventType, handler, root.path]); // an empty pass registers
    equal(registered.code, 0, registered.stderr);
  }

  const loops: DispatchLoop[] = [];
  try {
    for (let writer = 1; writer <= WRITERS; writer++) {
      const mode = MODES[writer - 1];
      loops.push(spawnDispatchLoop(root.path, EVENT_TYPE, EVENTS_PER_WRITER, { noFsync: true, writer, ...mode }));
    }
    const statuses = await withTimeout(Promise.all(loops.map((loop) => loop.exited)), 300_000, "the dispatchers");
    for (const [k, status] of statuses.entries()) {
      equal(status.code, 0, `dispatcher ${k + 1} failed: ${await loops[k].stderr}`);
    }
  } finally {
    await Promise.all(loops.map((loop) => loop.kill()));
  }

  // Every file of every listener: named 1..16,000, valid, its payload one (writer, i) seen once.
  const tree = await dumpTree(root.path);
  const facts = new Map<string, FileFacts[]>();
  for (const { name, eventType } of LISTENERS) {
    const dir = listenerPath(name, eventType);
    const inbox = `${dir}/${Layout.INBOX}/`;
    const names = [...tree.keys()].filter((path) => path.startsWith(inbox)).map((path) => path.slice(inbox.length));
    equal(names.length, TOTAL, `${name}: ${names.length} files in the inbox, expected ${TOTAL}`);

    const files: FileFacts[] = [];
    const seen = new Set<string>();
    for (let n = 1; n <= TOTAL; n++) {
      const text = tree.get(`${inbox}${n}.json`);
      ok(text !== undefined, `${name}: inbox/${n}.json is missing`);
      const task = decodeTask(text, n); // throws on invalid JSON or a sequence that disagrees with the name
      equal(task.count, n, `${name}/${n}.json: count`);
      equal(task.event_type, EVENT_TYPE);
      const { writer, i } = task.payload as { writer: number; i: number };
      ok(Number.isInteger(writer) && writer >= 1 && writer <= WRITERS, `${name}/${n}.json: writer ${writer}`);
      ok(Number.isInteger(i) && i >= 0 && i < EVENTS_PER_WRITER, `${name}/${n}.json: i ${i}`);
      const key = `${writer}:${i}`;
      ok(!seen.has(key), `${name}: event ${key} delivered twice`);
      seen.add(key);
      files[n] = { writer, i, eventId: task.event_id };
    }
    equal(seen.size, TOTAL, `${name}: every (writer, i) exactly once`);

    const tracking = JSON.parse(tree.get(`${dir}/${Layout.TRACKING}`) ?? "null");
    equal(tracking?.sequence, TOTAL, `${name}: tracking.json sequence`);
    equal(tracking.count, TOTAL, `${name}: tracking.json count`);
    ok(typeof tracking.first === "string" && typeof tracking.last === "string", `${name}: tracking.json times`);
    const leftovers = [...tree.keys()].filter((path) => path.startsWith(`${dir}/${Layout.TMP}/`));
    deepEqual(leftovers, [], `${name}: staging files left in tmp/`);
    facts.set(name, files);
  }

  // What each dispatcher reported matches the files: for its i-th event, one
  // line per listener, deepest first, naming the file that holds (writer, i).
  for (const [k, loop] of loops.entries()) {
    const writer = k + 1;
    equal(loop.reported.length, EVENTS_PER_WRITER * LISTENERS.length, `dispatcher ${writer}: reported lines`);
    for (let i = 0; i < EVENTS_PER_WRITER; i++) {
      let eventId: unknown;
      for (const [l, { name }] of LISTENERS.entries()) {
        const report = loop.reported[i * LISTENERS.length + l];
        equal(report.listener, name, `dispatcher ${writer}, event ${i}: delivery order`);
        const file = facts.get(name)![report.sequence];
        deepEqual({ writer: file?.writer, i: file?.i }, { writer, i }, `${name}/${report.sequence}.json`);
        if (l === 0) eventId = file.eventId;
        else equal(file.eventId, eventId, `event ${writer}:${i} has one event_id in every listener`);
      }
    }
    for (const [l, { name }] of LISTENERS.entries()) {
      const sequences = loop.reported.filter((_, k) => k % LISTENERS.length === l).map((r) => r.sequence);
      ok(sequences.every((n, k) => k === 0 || n > sequences[k - 1]), `${name}: dispatcher ${writer}'s events in order`);
    }
  }
});

/**
 * `FileStore.deliver()`: calls for one listener that wait while another is
 * served are served together, and share the fate of their slice.
 *
 * @module
 */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { encodeTask, formatDelivery, Layout } from "../../../mod.ts";
import { FileStore, LOCK_FREE_MARGIN, type StateDir, type TaskDir } from "../../../src/backend/file/file_store.ts";
import { checkListener } from "../../../src/protocol/listener_id.ts";
import { namesIn, sequencesIn, tempRoot } from "../../_helpers.ts";
import { fill, smallTmpfs } from "../../_tmpfs.ts";

const build = (tag: string) => (sequence: number) =>
  encodeTask({ payload: tag, sequence, count: sequence, delivery: formatDelivery(new Date()) });

Deno.test("FileStore.deliver() serves waiting calls together; a failed slice fails each call in it, and no other", async () => {
  await using root = await tempRoot();
  const store = new FileStore(root.path, { durable: false });
  const listener = store.register(checkListener("worker", ""));
  const now = formatDelivery(new Date());
  const broken = () => {
    throw new Error("no text for this task");
  };
  // The first call is served alone; the next three wait for it and are served together.
  const first = store.deliver(listener, [build("a1"), build("a2")], now);
  const second = store.deliver(listener, [build("b1")], now);
  const third = store.deliver(listener, [broken], now);
  const fourth = store.deliver(listener, [build("d1")], now);
  deepEqual((await first).map((d) => d.sequence), [1, 2]);
  for (const call of [second, third, fourth]) await rejects(call, /no text for this task/);
  // Nothing of the failed slice was linked. Its numbers (3 to 5) were reserved in tracking.json before its
  // files were staged, so the next delivery comes after them: a gap, never a duplicate.
  deepEqual(sequencesIn(join(listener.dir, Layout.INBOX)), [1, 2]);
  deepEqual((await store.deliver(listener, [build("e1")], now)).map((d) => d.sequence), [6]);
  equal(JSON.parse(Deno.readTextFileSync(join(listener.dir, Layout.TRACKING))).sequence, 6);
  deepEqual(namesIn(join(listener.dir, Layout.TMP)), []);
});

/** A listener with the given task files, as `{ "inbox/1.json": "text" }`. */
async function plant(root: string, files: Record<string, string>) {
  const store = new FileStore(root, { durable: false });
  const listener = store.register(checkListener("worker", "jobs"));
  for (const [name, text] of Object.entries(files)) {
    await Deno.mkdir(join(listener.dir, name, ".."), { recursive: true });
    await Deno.writeTextFile(join(listener.dir, name), text);
  }
  return { store, listener };
}

/** Every file of a listener's state directories with its text (tmp/ and locks left out). */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const state of [Layout.INBOX, Layout.INFLIGHT, Layout.ARCHIVE, Layout.ERROR]) {
    for (const name of namesIn(join(dir, state))) {
      out[`${state}/${name}`] = await Deno.readTextFile(join(dir, state, name));
    }
  }
  return out;
}

Deno.test("FileStore.move() never replaces a task file: the moved one goes to error/ under a free name, with a note", async (t) => {
  const cases: { name: string; files: Record<string, string>; from: [TaskDir, string]; to: StateDir; want: string }[] =
    [
      {
        name: "to archive/",
        files: { "inbox/1.json": "A", "archive/1.json": "B" },
        from: [Layout.INBOX, "1.json"],
        to: Layout.ARCHIVE,
        want: "archive/1.json",
      },
      {
        name: "to error/",
        files: { "inbox/1.json": "A", "error/1.json": "B" },
        from: [Layout.INBOX, "1.json"],
        to: Layout.ERROR,
        want: "error/1.json",
      },
      {
        name: "back to inbox/",
        files: { "inflight/1.json~w": "A", "inbox/1.json": "B" },
        from: [Layout.INFLIGHT, "1.json~w"],
        to: Layout.INBOX,
        want: "inbox/1.json",
      },
    ];
  for (const { name, files, from, to, want } of cases) {
    await t.step(name, async () => {
      await using root = await tempRoot();
      const { store, listener } = await plant(root.path, files);
      const path = await store.move(listener, from[0], from[1], to, "1.json");
      const found = await tree(listener.dir);
      const note = found["error/1.json.1.reason.txt"] ?? found["error/1.json.reason.txt"];
      delete found["error/1.json.1.reason.txt"];
      delete found["error/1.json.reason.txt"];
      const quarantined = to === Layout.ERROR ? "error/1.json.1" : "error/1.json";
      deepEqual(found, { [want]: "B", [quarantined]: "A" }, "both files kept, neither replaced");
      equal(path, join(listener.dir, quarantined));
      match(note, new RegExp(`${want.replace(".", "\\.")} already held`));
    });
  }
});

Deno.test("FileStore.claim() and takeOver() skip a task whose claim name is taken, replacing nothing", async () => {
  await using root = await tempRoot();
  const files = {
    "inbox/1.json": "A",
    "inflight/1.json~me": "B",
    "inflight/2.json~other": "C",
    "inflight/2.json~me": "D",
  };
  const { store, listener } = await plant(root.path, files);
  equal(store.claim(listener, "1.json", "me"), undefined);
  const claim = { file: "2.json~other", sequence: 2, task: "2.json", owner: "other" };
  equal(store.takeOver(listener, claim, "me"), undefined);
  deepEqual(await tree(listener.dir), files);
});

Deno.test("FileStore.rewriteTask() on a full disk throws and leaves no staging file", async () => {
  await using root = await tempRoot();
  const dir = join(root.path, "jobs", "worker_listener");
  const disk = await smallTmpfs("256k", dir);
  if ("skipped" in disk) {
    console.log(`skipped: ${disk.skipped}`);
    return;
  }
  await using _disk = disk;
  const { store, listener } = await plant(root.path, { "inbox/1.json": "A" });
  await fill(dir);
  await rejects(store.rewriteTask(listener, Layout.INBOX, "1.json", "B".repeat(10_000)), /No space left/);
  equal(await Deno.readTextFile(join(dir, Layout.INBOX, "1.json")), "A");
  deepEqual(namesIn(join(dir, Layout.TMP)), [], "no staging file left");
});

Deno.test("FileStore.deliver() numbers past a lock-free dispatcher at work (PHP) by a margin, and only then", async () => {
  await using root = await tempRoot();
  const now = formatDelivery(new Date());
  const tracking = (dir: string) => join(dir, Layout.TRACKING);
  /** What PHP does: read tracking.json, write the next task, write tracking.json in place. */
  const phpDispatch = (dir: string, times: number) => {
    for (let k = 0; k < times; k++) {
      const record = JSON.parse(Deno.readTextFileSync(tracking(dir)));
      const sequence = record.sequence + 1;
      Deno.writeTextFileSync(join(dir, Layout.INBOX, `${sequence}.json`), build("php")(sequence));
      Deno.writeTextFileSync(tracking(dir), JSON.stringify({ ...record, sequence, count: sequence }));
    }
  };
  // A fresh store each time, as each `hurah dispatch` process is.
  const deliver = async () =>
    (await new FileStore(root.path, { durable: false }).deliver(listener, [build("hurah")], now))[0].sequence;
  const listener = new FileStore(root.path).register(checkListener("worker", "jobs"));
  equal(await deliver(), 1);
  equal(await deliver(), 2); // tracking.json as hurah recorded it: no margin
  phpDispatch(listener.dir, 3); // PHP at work: 3 to 5
  equal(await deliver(), 5 + LOCK_FREE_MARGIN);
  equal(JSON.parse(Deno.readTextFileSync(tracking(listener.dir))).sequence, 5 + LOCK_FREE_MARGIN);
  phpDispatch(listener.dir, 1); // PHP goes on after hurah's number
  equal(await deliver(), 6 + 2 * LOCK_FREE_MARGIN);
  // PHP wrote tracking.json a minute ago: not at work any more.
  phpDispatch(listener.dir, 1);
  const minuteAgo = new Date(Date.now() - 60_000);
  Deno.utimeSync(tracking(listener.dir), minuteAgo, minuteAgo);
  equal(await deliver(), 8 + 2 * LOCK_FREE_MARGIN);
  // tracking.json restored to an older number (behind hurah's record): no margin, and past every number in use.
  const record = JSON.parse(Deno.readTextFileSync(tracking(listener.dir)));
  Deno.writeTextFileSync(tracking(listener.dir), JSON.stringify({ ...record, sequence: 3, count: 3 }));
  equal(await deliver(), 9 + 2 * LOCK_FREE_MARGIN);
});

/** PHP dispatching every millisecond from the number after `from` (in place, as PHP writes), until disposed. */
function phpDispatching(dir: string, from: number, now: string): Disposable {
  let php = from;
  const timer = setInterval(() => {
    php++;
    Deno.writeTextFileSync(join(dir, Layout.INBOX, `${php}.json`), build("php")(php));
    Deno.writeTextFileSync(
      join(dir, Layout.TRACKING),
      JSON.stringify({ sequence: php, count: php, first: now, last: now }),
    );
  }, 1);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}

Deno.test("FileStore.deliver() to a listener only PHP wrote takes the margin only if PHP moves tracking.json on", async (t) => {
  const now = formatDelivery(new Date());
  /** A listener PHP wrote: tasks 1 to 3 and tracking.json at 3, just now; no dispatch.lock record. */
  const phpTree = (root: string) => {
    const listener = new FileStore(root).register(checkListener("worker", "jobs"));
    for (let sequence = 1; sequence <= 3; sequence++) {
      Deno.writeTextFileSync(join(listener.dir, Layout.INBOX, `${sequence}.json`), build("php")(sequence));
    }
    const record = { sequence: 3, count: 3, first: now, last: now };
    Deno.writeTextFileSync(join(listener.dir, Layout.TRACKING), JSON.stringify(record));
    return listener;
  };
  await t.step("PHP has stopped: numbering goes on from tracking.json", async () => {
    await using root = await tempRoot();
    const listener = phpTree(root.path);
    const store = new FileStore(root.path, { durable: false });
    deepEqual((await store.deliver(listener, [build("hurah")], now)).map((d) => d.sequence), [4]);
  });
  await t.step("PHP is at work: hurah numbers LOCK_FREE_MARGIN past it", async () => {
    await using root = await tempRoot();
    const listener = phpTree(root.path);
    using _php = phpDispatching(listener.dir, 3, now);
    const [delivered] = await new FileStore(root.path, { durable: false }).deliver(listener, [build("hurah")], now);
    ok(delivered.sequence >= 3 + LOCK_FREE_MARGIN, `numbered ${delivered.sequence}`);
  });
});

Deno.test("FileStore.deliver() with tracking.json behind hurah's record takes the margin only if PHP moves it on", async (t) => {
  const now = formatDelivery(new Date());
  /** A listener hurah dispatched 10 tasks to, then tracking.json set back to 5 (as PHP carrying a lower number over). */
  const behind = async (root: string) => {
    const listener = new FileStore(root).register(checkListener("worker", "jobs"));
    const store = new FileStore(root, { durable: false });
    await store.deliver(listener, Array.from({ length: 10 }, () => build("hurah")), now);
    const path = join(listener.dir, Layout.TRACKING);
    Deno.writeTextFileSync(path, JSON.stringify({ sequence: 5, count: 5, first: now, last: now }));
    return listener;
  };
  await t.step(
    "nobody moves it (a dispatcher killed before its rename, or an edit): past every number in use",
    async () => {
      await using root = await tempRoot();
      const listener = await behind(root.path);
      const store = new FileStore(root.path, { durable: false });
      deepEqual((await store.deliver(listener, [build("hurah")], now)).map((d) => d.sequence), [11]);
    },
  );
  await t.step("PHP goes on from the lower number: hurah numbers LOCK_FREE_MARGIN past it", async () => {
    await using root = await tempRoot();
    const listener = await behind(root.path);
    using _php = phpDispatching(listener.dir, 5, now); // overwriting its way up from the lower number, as PHP does
    const [delivered] = await new FileStore(root.path, { durable: false }).deliver(listener, [build("hurah")], now);
    ok(delivered.sequence >= 5 + LOCK_FREE_MARGIN, `numbered ${delivered.sequence}`);
  });
});

/**
 * Lease files judged by `leaseLapse()` while they change under it (other
 * workers remove a dead worker's lease at any moment, and a worker removes
 * its own on release), a held lock of the same host, and a `Lease` kept by
 * its own thread.
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { Layout } from "../../../src/protocol/layout.ts";
import { FileStore, type ListenerRef } from "../../../src/backend/file/file_store.ts";
import { judgeLease, Lease, leaseLapse, removeLease } from "../../../src/backend/file/lease.ts";
import { namesIn, tempRoot, waitUntil } from "../../_helpers.ts";

Deno.test("leaseLapse() judges a lease that another worker removes at the same time, without failing", async () => {
  await using root = await tempRoot();
  const listener: ListenerRef = { name: "worker", eventType: "", id: "worker", dir: root.path };
  await Deno.mkdir(join(root.path, Layout.WORKERS));
  const path = join(root.path, Layout.WORKERS, "dead-1-abcdef.json");
  const record = {
    worker: "dead-1-abcdef",
    host: "here",
    pid: 999_999,
    started: new Date().toISOString(),
    lease_ms: 60_000,
  };
  const seen = new Set<string | undefined>();
  for (let round = 0; round < 300; round++) {
    await Deno.writeTextFile(path, JSON.stringify(record));
    const [lapse] = await Promise.all([
      leaseLapse(listener, record.worker, "here", new Date()),
      removeLease(listener, record.worker),
    ]);
    seen.add(lapse);
  }
  for (const lapse of seen) {
    ok(lapse === "has no lease file" || lapse === "is no longer running (its lease lock is free)", lapse);
  }
});

Deno.test("leaseLapse() trusts a held lock of the same host, however old the lease file's mtime", async () => {
  await using root = await tempRoot();
  const listener: ListenerRef = { name: "worker", eventType: "", id: "worker", dir: root.path };
  await Deno.mkdir(join(root.path, Layout.WORKERS));
  const path = join(root.path, Layout.WORKERS, "here-1-abcdef.json");
  const record = { worker: "here-1-abcdef", host: "here", pid: 1, started: new Date().toISOString(), lease_ms: 1_000 };
  await Deno.writeTextFile(path, JSON.stringify(record));
  const old = new Date(Date.now() - 3_600_000);
  await Deno.utime(path, old, old);
  const held = await Deno.open(path, { read: true, write: true });
  try {
    await held.lock(true);
    equal(await leaseLapse(listener, record.worker, "here", new Date()), undefined, "the same host, its lock held");
    const lapse = await leaseLapse(listener, record.worker, "elsewhere", new Date());
    ok(lapse?.startsWith("let its lease expire"), lapse);
  } finally {
    held.close();
  }
  equal(
    await leaseLapse(listener, record.worker, "here", new Date()),
    "is no longer running (its lease lock is free)",
  );
});

Deno.test("Lease renews its file from its own thread by writing it, and creates it anew when removed", async () => {
  await using root = await tempRoot();
  const store = new FileStore(root.path);
  const listener: ListenerRef = { name: "worker", eventType: "", id: "worker", dir: root.path };
  await Deno.mkdir(join(root.path, Layout.TMP));
  const record = { worker: "here-1-abcdef", host: "here", pid: Deno.pid, started: "", lease_ms: 60_000 };
  const lease = await Lease.acquire(store, listener, record, { renewIntervalMs: 20 });
  try {
    deepEqual(JSON.parse(await Deno.readTextFile(lease.path)), record);
    const locked = async () => {
      using file = await Deno.open(lease.path, { read: true, write: true });
      return !await file.tryLock(true);
    };
    ok(await locked(), "the lease file is locked");

    // Renewed by the thread without being asked: the mtime moves again after being set an hour back.
    const old = new Date(Date.now() - 3_600_000);
    await Deno.utime(lease.path, old, old);
    await waitUntil("a renewal", async () => (await Deno.stat(lease.path)).mtime!.getTime() > old.getTime() + 60_000);

    // stamp() renews now and gives the file system's time: the mtime of a file just written.
    // (The thread may renew again between stamp() and the stat: the mtime is then later, never earlier.)
    const stamped = await lease.stamp();
    const mtime = (await Deno.stat(lease.path)).mtime!.getTime();
    ok(stamped.getTime() <= mtime && mtime - stamped.getTime() < 5_000, `stamped ${stamped.getTime()}, mtime ${mtime}`);
    const probe = join(root.path, "probe");
    await Deno.writeTextFile(probe, "x");
    ok(Math.abs((await Deno.stat(probe)).mtime!.getTime() - stamped.getTime()) < 5_000);

    // Removed by another worker: created anew, locked, at the next renewal.
    await removeLease(listener, record.worker);
    await waitUntil("the lease file to be created anew", () => namesIn(join(root.path, Layout.WORKERS)).length > 0);
    ok(await locked(), "the new lease file is locked");
    deepEqual(JSON.parse(await Deno.readTextFile(lease.path)), record);
  } finally {
    await lease.release();
  }
  deepEqual(namesIn(join(root.path, Layout.WORKERS)), [], "released: the file is removed");
  deepEqual(namesIn(join(root.path, Layout.TMP)), [], "no staging file left");
  // Released: the lock is free for a new lease of the same worker.
  const again = await Lease.acquire(store, listener, record);
  await again.release();
});

Deno.test("removeLease() leaves a lease file that was renewed or replaced after it was judged", async (t) => {
  const record = { worker: "far-1-abcdef", host: "far", pid: 1, started: "", lease_ms: 1_000 };
  for (const change of ["renewed", "replaced", "unchanged"] as const) {
    await t.step(change, async () => {
      await using root = await tempRoot();
      const listener: ListenerRef = { name: "worker", eventType: "", id: "worker", dir: root.path };
      await Deno.mkdir(join(root.path, Layout.WORKERS));
      await Deno.mkdir(join(root.path, Layout.TMP));
      const path = join(root.path, Layout.WORKERS, `${record.worker}.json`);
      await Deno.writeTextFile(path, JSON.stringify(record));
      const old = new Date(Date.now() - 60_000);
      await Deno.utime(path, old, old);
      const judged = await judgeLease(listener, record.worker, "here", new Date());
      ok(judged.lapse?.startsWith("let its lease expire"), judged.lapse);
      if (change === "renewed") await Deno.writeTextFile(path, JSON.stringify(record)); // the owner resumed
      if (change === "replaced") {
        await Deno.writeTextFile(join(root.path, "fresh"), JSON.stringify(record));
        await Deno.rename(join(root.path, "fresh"), path);
      }
      await removeLease(listener, record.worker, judged.seen);
      deepEqual(namesIn(join(root.path, Layout.WORKERS)), change === "unchanged" ? [] : [`${record.worker}.json`]);
      deepEqual(namesIn(join(root.path, Layout.TMP)), []);
    });
  }
});

/**
 * Lease files judged by `leaseLapse()` while they change under it: other
 * workers remove a dead worker's lease at any moment, and a worker removes
 * its own on release.
 *
 * @module
 */
import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { Layout } from "../../src/protocol/layout.ts";
import type { ListenerRef } from "../../src/store/file_store.ts";
import { leaseLapse, removeLease } from "../../src/store/lease.ts";
import { tempRoot } from "../_helpers.ts";

Deno.test("leaseLapse() judges a lease that another worker removes at the same time, without failing", async () => {
  await using root = await tempRoot();
  const listener: ListenerRef = { name: "worker", eventType: "", dir: root.path };
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
  const listener: ListenerRef = { name: "worker", eventType: "", dir: root.path };
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

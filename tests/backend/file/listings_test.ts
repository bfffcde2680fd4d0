/** Listings: a state directory's summary is reused only while the directory is unchanged and had settled. */
import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher } from "../../../mod.ts";
import { FileOperations } from "../../../src/backend/file/operations.ts";
import { Listings, SETTLED_MS } from "../../../src/backend/file/_listings.ts";
import { tempRoot } from "../../_helpers.ts";

/** Sets a directory's mtime `ms` into the past, as if nothing had changed in it since. */
async function age(dir: string, ms: number): Promise<void> {
  const past = new Date(Date.now() - ms);
  await Deno.utime(dir, past, past);
}

Deno.test("Listings: reuses a settled directory's summary until an entry is added or removed", async () => {
  await using root = await tempRoot();
  const inbox = join(root.path, "inbox");
  await Deno.mkdir(inbox);
  await Deno.writeTextFile(join(inbox, "1.json"), "{}");
  await age(inbox, 2 * SETTLED_MS);
  const listings = new Listings();
  let listed = 0;
  const names = (entries: Deno.DirEntry[]) => {
    listed++;
    return entries.map((entry) => entry.name).sort();
  };
  deepEqual(await listings.summary(root.path, "inbox", "names", names), ["1.json"]);
  deepEqual(await listings.summary(root.path, "inbox", "names", names), ["1.json"]);
  equal(listed, 1, "the second call reused the listing");
  equal(await listings.summary(root.path, "inbox", "count", (entries) => entries.length), 1, "another kind lists");
  await Deno.writeTextFile(join(inbox, "2.json"), "{}");
  deepEqual(await listings.summary(root.path, "inbox", "names", names), ["1.json", "2.json"], "a new entry is seen");
  equal(listed, 2);
  await Deno.remove(join(inbox, "1.json"));
  await age(inbox, 2 * SETTLED_MS);
  deepEqual(await listings.summary(root.path, "inbox", "names", names), ["2.json"], "a removal is seen");
  await Deno.remove(inbox, { recursive: true });
  deepEqual(await listings.summary(root.path, "inbox", "names", names), [], "a directory gone is empty");
});

Deno.test("Listings: a directory changed less than SETTLED_MS before its listing is listed again each time", async () => {
  await using root = await tempRoot();
  await Deno.mkdir(join(root.path, "archive"));
  await Deno.writeTextFile(join(root.path, "archive", "1.json"), "{}");
  const listings = new Listings();
  let listed = 0;
  const count = (entries: Deno.DirEntry[]) => (listed++, entries.length);
  await listings.summary(root.path, "archive", "count", count);
  await listings.summary(root.path, "archive", "count", count);
  equal(listed, 2, "a change within the same millisecond could hide behind an unchanged mtime");
});

Deno.test("FileOperations.status and tasks: a dashboard's repeated scans see every dispatch, settled directories or not", async () => {
  await using root = await tempRoot();
  const operations = new FileOperations(root.path);
  const dispatcher = new Dispatcher(root.path, { durable: false });
  await Deno.mkdir(join(root.path, "a", "worker_listener", "inbox"), { recursive: true });
  for (let k = 1; k <= 3; k++) {
    await dispatcher.dispatch("a", { k });
    const listener = join(root.path, "a", "worker_listener");
    // Settled, and later than the mtime the last scan remembered (a real mtime only moves on).
    for (const dir of [join(listener, "inbox"), listener]) await age(dir, (10 - k) * SETTLED_MS);
    const first = await operations.status();
    equal(first.listeners[0].pending, k);
    equal((await operations.status()).listeners[0].pending, k, "reused, and still right");
    for (let again = 0; again < 2; again++) {
      const list = await operations.tasks({ listener: "a/worker", location: "inbox" });
      equal(list.total, k);
      deepEqual(list.tasks.map((task) => task.task?.payload), Array.from({ length: k }, (_, n) => ({ k: n + 1 })));
    }
  }
});

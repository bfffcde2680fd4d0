/**
 * `FileStore.deliver()`: calls for one listener that wait while another is
 * served are served together, and share the fate of their slice.
 *
 * @module
 */
import { deepEqual, equal, rejects } from "node:assert/strict";
import { join } from "node:path";
import { encodeTask, formatDelivery, Layout } from "../../mod.ts";
import { FileStore } from "../../src/store/file_store.ts";
import { namesIn, sequencesIn, tempRoot } from "../_helpers.ts";

const build = (tag: string) => (sequence: number) =>
  encodeTask({ payload: tag, sequence, count: sequence, delivery: formatDelivery(new Date()) });

Deno.test("FileStore.deliver() serves waiting calls together; a failed slice fails each call in it, and no other", async () => {
  await using root = await tempRoot();
  const store = new FileStore(root.path, { durable: false });
  const listener = store.register("worker", "");
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
  // Nothing of the failed slice was linked, and the number it would have used is used next.
  deepEqual(sequencesIn(join(listener.dir, Layout.INBOX)), [1, 2]);
  deepEqual((await store.deliver(listener, [build("e1")], now)).map((d) => d.sequence), [3]);
  equal(JSON.parse(Deno.readTextFileSync(join(listener.dir, Layout.TRACKING))).sequence, 3);
  deepEqual(namesIn(join(listener.dir, Layout.TMP)), []);
});

/**
 * The checked floors (scripts/_bench_floors.ts) do the work they stand for:
 * the checked protocol floor leaves the inbox and `tracking.json` as hurah's
 * dispatch does, and the checked drain floor archives every task and stops
 * where hurah's checks would (a pause marker, a taken archive name). No
 * timing is asserted.
 *
 * @module
 */
import { deepEqual, equal, throws } from "node:assert/strict";
import { join } from "node:path";
import { checkedProtocolFloorSync, floorDrainCheckedSync, taskText } from "../../scripts/_bench_floors.ts";
import { tempRoot } from "../_helpers.ts";

/** A listener directory `<root>/bench/l00_listener` with inbox/, tmp/ and archive/. */
function listenerDir(root: string): string {
  const dir = join(root, "bench", "l00_listener");
  for (const sub of ["inbox", "tmp", "archive"]) Deno.mkdirSync(join(dir, sub), { recursive: true });
  return dir;
}

const names = (dir: string) => [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();

Deno.test("checkedProtocolFloorSync() numbers its tasks 1..N in the inbox, tracking.json at N, tmp/ empty", async () => {
  await using root = await tempRoot();
  const dir = listenerDir(root.path);
  for (const durable of [false, true]) {
    const writer = durable ? "d" : "n";
    const timing = checkedProtocolFloorSync({ dirs: [dir], events: 3, durable, writer });
    equal(timing.count, 3);
  }
  deepEqual(names(join(dir, "inbox")), ["1.json", "2.json", "3.json", "4.json", "5.json", "6.json"]);
  equal(Deno.readTextFileSync(join(dir, "inbox", "5.json")), taskText(5));
  equal(JSON.parse(Deno.readTextFileSync(join(dir, "tracking.json"))).sequence, 6);
  deepEqual(names(join(dir, "tmp")), []);
});

Deno.test("floorDrainCheckedSync() archives every task, and stops at a pause marker or a taken archive name", async () => {
  await using root = await tempRoot();
  const dir = listenerDir(root.path);
  const write = (sequence: number) =>
    Deno.writeTextFileSync(join(dir, "inbox", `${sequence}.json`), taskText(sequence));
  for (const sequence of [1, 2, 3]) write(sequence);
  equal(floorDrainCheckedSync({ dir, fsync: false }).count, 3);
  deepEqual(names(join(dir, "inbox")), []);
  deepEqual(names(join(dir, "archive")), ["1.json", "2.json", "3.json"]);

  write(3); // archive/3.json exists: never replaced
  throws(() => floorDrainCheckedSync({ dir, fsync: false }), /archive\/3\.json is taken/);
  deepEqual(names(join(dir, "inbox")), ["3.json"]);

  Deno.writeTextFileSync(join(dir, "paused.json"), "{}\n");
  throws(() => floorDrainCheckedSync({ dir, fsync: false }), /paused\.json appeared/);
});

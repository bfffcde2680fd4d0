/**
 * A process that delivers the due delayed events of a root and stops dead in
 * the middle, for the kill -9 test: the real `deliverDue()` of the file
 * backend runs (journal, numbering, links), and the listener delivery named
 * by the arguments is held, before or after its tasks are linked into the
 * inbox, until the test SIGKILLs the process. It prints `held` on stdout
 * when it is there.
 *
 * Usage: deno run -A _delayed_crash.ts <root> <listener index from 0> <before|after>
 *
 * @module
 */
import { FileBackend } from "../../src/backend/file/backend.ts";

const [root, index, point] = Deno.args;
const backend = new FileBackend(root);
const deliver = backend.store.deliver.bind(backend.store);
let calls = 0;
const hold = () => {
  console.log("held");
  return new Promise<never>(() => setInterval(() => {}, 1000)); // until killed
};
backend.store.deliver = async (listener, builds, now) => {
  const mine = calls++ === Number(index);
  if (mine && point === "before") await hold();
  const delivered = await deliver(listener, builds, now);
  if (mine && point === "after") await hold();
  return delivered;
};
await backend.deliverDue(new Date());
console.log("not held: fewer listeners than the index");

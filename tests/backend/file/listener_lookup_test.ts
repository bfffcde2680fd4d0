import { deepEqual } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher } from "../../../mod.ts";
import { tempRoot } from "../../_helpers.ts";

/** The listener ids a dispatch of `order/paid` reached, sorted. */
async function reached(dispatcher: Dispatcher): Promise<string[]> {
  const deliveries = await dispatcher.dispatch("order/paid", { n: 1 });
  return deliveries.map((d) => d.listenerEventType === "" ? d.listener : `${d.listenerEventType}/${d.listener}`).sort();
}

/** Where a listener of `order/paid`'s levels lives: `""` (root), `order` or `order/paid`. */
function listenerDir(root: string, level: string, name: string): string {
  return join(root, ...(level === "" ? [] : level.split("/")), `${name}_listener`);
}

/** Runs a shell command in another process: what a runner registering a listener, or an operator, does. */
async function sh(script: string, ...args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command("sh", { args: ["-c", script, "sh", ...args], stderr: "piped" })
    .output();
  if (!success) throw new Error(new TextDecoder().decode(stderr));
}

Deno.test("dispatch() reaches exactly the listeners there, when another process adds and removes them between dispatches", async () => {
  await using root = await tempRoot();
  await Deno.mkdir(join(root.path, "order", "paid"), { recursive: true });
  const dispatcher = new Dispatcher(root.path, { durable: false });
  const levels = ["", "order", "order/paid"];
  const present = new Set<string>();
  // A fixed pseudo-random walk: adds and removes at every level, some right after a dispatch (the same
  // millisecond as its look at the directories), some after a pause longer than the lookup's settle time.
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let step = 0; step < 24; step++) {
    const level = levels[Math.floor(random() * levels.length)];
    const name = `l${Math.floor(random() * 3)}`;
    const id = level === "" ? name : `${level}/${name}`;
    const dir = listenerDir(root.path, level, name);
    if (present.has(id)) {
      await sh('rm -rf "$1"', dir);
      present.delete(id);
    } else {
      await sh('mkdir -p "$1/inbox"', dir);
      present.add(id);
    }
    if (random() < 0.3) await new Promise((resolve) => setTimeout(resolve, 60));
    deepEqual(await reached(dispatcher), [...present].sort(), `step ${step}: ${id}`);
    deepEqual(await reached(dispatcher), [...present].sort(), `step ${step}, dispatched again: ${id}`);
  }
});

Deno.test("dispatch() sees a listener added in the same millisecond as the last dispatch looked", async () => {
  await using root = await tempRoot();
  const dispatcher = new Dispatcher(root.path, { durable: false });
  // Changes right after a look, over and over: some fall within the same millisecond (Deno's mtime resolution).
  for (let round = 0; round < 30; round++) {
    await reached(dispatcher);
    const name = `l${round}`;
    Deno.mkdirSync(join(root.path, `${name}_listener`));
    deepEqual((await reached(dispatcher)).includes(name), true, `round ${round}: ${name} was not reached`);
    Deno.removeSync(join(root.path, `${name}_listener`), { recursive: true });
    deepEqual((await reached(dispatcher)).includes(name), false, `round ${round}: ${name} was reached once removed`);
  }
});

Deno.test("dispatch() after a listener directory was removed and made again delivers into the new one", async () => {
  await using root = await tempRoot();
  const dir = join(root.path, "order", "a_listener");
  await sh('mkdir -p "$1/inbox"', dir);
  await new Promise((resolve) => setTimeout(resolve, 60));
  const dispatcher = new Dispatcher(root.path, { durable: false });
  deepEqual((await dispatcher.dispatch("order")).map((d) => d.sequence), [1]);
  await sh('rm -rf "$1" && mkdir -p "$1/inbox"', dir);
  await new Promise((resolve) => setTimeout(resolve, 60));
  const [delivery] = await dispatcher.dispatch("order");
  deepEqual([delivery.sequence, delivery.path], [1, join(dir, "inbox", "1.json")]);
  deepEqual([...Deno.readDirSync(join(dir, "inbox"))].map((e) => e.name), ["1.json"]);
});

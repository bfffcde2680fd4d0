import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher } from "../../../mod.ts";
import { tempRoot } from "../../_helpers.ts";

/** How many descriptors of this process have `path` open (read by another process: Deno lets only -A read /proc/self). */
function openCount(path: string): number {
  const script = 'for fd in /proc/"$1"/fd/*; do readlink "$fd"; done';
  const { stdout } = new Deno.Command("sh", { args: ["-c", script, "sh", String(Deno.pid)] }).outputSync();
  return new TextDecoder().decode(stdout).split("\n").filter((line) => line === path).length;
}

/** Whether another open file description can take the lock now (flock locks are per description). */
function free(path: string): boolean {
  using file = Deno.openSync(path, { read: true, write: true });
  const taken = file.tryLockSync(true);
  if (taken) file.unlockSync();
  return taken;
}

const linux = Deno.build.os === "linux";

Deno.test({
  name: "Dispatcher keeps dispatch.lock open and unlocked between dispatches, and close() closes it",
  ignore: !linux,
  fn: async () => {
    await using root = await tempRoot();
    const dir = join(root.path, "order", "a_listener");
    Deno.mkdirSync(join(dir, "inbox"), { recursive: true });
    const lock = join(dir, "dispatch.lock");
    const dispatcher = new Dispatcher(root.path, { durable: false });
    for (let n = 1; n <= 3; n++) {
      deepEqual((await dispatcher.dispatch("order", { n })).map((d) => d.sequence), [n]);
      equal(openCount(lock), 1, "one descriptor, kept from the first dispatch");
      equal(free(lock), true, "unlocked between dispatches");
    }
    await dispatcher.close();
    equal(openCount(lock), 0);
    deepEqual((await dispatcher.dispatch("order")).map((d) => d.sequence), [4]); // dispatches on after close()
    await dispatcher[Symbol.asyncDispose]();
    equal(openCount(lock), 0);
  },
});

Deno.test({
  name: "Dispatcher not closed closes dispatch.lock by itself once unused for a while",
  ignore: !linux,
  fn: async () => {
    await using root = await tempRoot();
    const dir = join(root.path, "a_listener");
    Deno.mkdirSync(join(dir, "inbox"), { recursive: true });
    await new Dispatcher(root.path, { durable: false }).dispatch("order");
    equal(openCount(join(dir, "dispatch.lock")), 1);
    // Closed at the second sweep after the last hold (a sweep a second): looked at from 2.5 s on, a few times at
    // most, as each look starts a process (slow on a loaded machine).
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    for (let look = 0; look < 5 && openCount(join(dir, "dispatch.lock")) > 0; look++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    equal(openCount(join(dir, "dispatch.lock")), 0);
  },
});

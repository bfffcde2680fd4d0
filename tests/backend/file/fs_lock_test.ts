/**
 * Waiting for a flock that another holder keeps: `lockFile()` polls, so the
 * wait answers an abort signal, ends at its deadline, and says once what it
 * waits for. A second open file description of the same file stands in for
 * the other process (flocks conflict between descriptions, even in one
 * process), so the holder's pid is this process's.
 *
 * @module
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { LockTimeoutError } from "../../../src/errors.ts";
import { lockFile, type LockWait } from "../../../src/backend/file/_fs.ts";
import { tempRoot } from "../../_helpers.ts";

/**
 * Whether this process may read /proc/locks: Deno asks for `--allow-all`
 * for it, which the test task does not grant (the CLI runs with `-A`).
 * Without it the holder is unknown.
 */
const CAN_READ_LOCKS = (() => {
  try {
    Deno.readTextFileSync("/proc/locks");
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
})();
/** The holder `lockHolder()` can see of a lock this process holds. */
const SEEN_HOLDER = CAN_READ_LOCKS ? Deno.pid : undefined;

/** Holds an exclusive flock on `path` until disposed. */
function holdLock(path: string): Disposable {
  const file = Deno.openSync(path, { read: true, write: true, create: true });
  file.lockSync(true);
  return { [Symbol.dispose]: () => file.close() };
}

Deno.test("lockFile() ends with the signal's reason when aborted while another holds the lock", async () => {
  await using root = await tempRoot();
  const path = join(root.path, "dispatch.lock");
  using _held = holdLock(path);
  const controller = new AbortController();
  const reason = new Error("stop waiting");
  setTimeout(() => controller.abort(reason), 100);
  const started = Date.now();
  await rejects(lockFile(path, { signal: controller.signal, onWait: () => {} }), (error) => error === reason);
  ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms after the abort`);
});

Deno.test("lockFile() throws LockTimeoutError naming the path, the wait and the holder at its deadline", async () => {
  await using root = await tempRoot();
  const path = join(root.path, "dispatch.lock");
  using _held = holdLock(path);
  try {
    await lockFile(path, { timeoutMs: 200, onWait: () => {} });
    ok(false, "the lock was taken while held");
  } catch (thrown) {
    ok(thrown instanceof LockTimeoutError, String(thrown));
    equal(thrown.path, path);
    ok(thrown.waitedMs >= 200, `waited ${thrown.waitedMs} ms`);
    equal(thrown.holderPid, SEEN_HOLDER);
    ok(thrown.message.includes(path), thrown.message);
    ok(thrown.message.includes(CAN_READ_LOCKS ? `pid ${Deno.pid}` : "another process"), thrown.message);
  }
});

Deno.test("lockFile() with timeoutMs 0 tries once and throws LockTimeoutError at once", async () => {
  await using root = await tempRoot();
  const path = join(root.path, "run.lock");
  using _held = holdLock(path);
  const notices: LockWait[] = [];
  await rejects(lockFile(path, { timeoutMs: 0, onWait: (wait) => notices.push(wait) }), LockTimeoutError);
  deepEqual(notices, []);
});

Deno.test("lockFile() says once, after noticeMs, what it waits for and who holds it", async () => {
  await using root = await tempRoot();
  const path = join(root.path, "dispatch.lock");
  const held = holdLock(path);
  const notices: LockWait[] = [];
  setTimeout(() => held[Symbol.dispose](), 600);
  const file = await lockFile(path, { noticeMs: 150, onWait: (wait) => notices.push(wait) });
  file.close();
  equal(notices.length, 1);
  equal(notices[0].path, path);
  equal(notices[0].holderPid, SEEN_HOLDER);
  ok(notices[0].waitedMs >= 150, `noticed after ${notices[0].waitedMs} ms`);
});

Deno.test("lockFile() takes a free lock, and a shared lock beside another shared holder, without a notice", async () => {
  await using root = await tempRoot();
  const path = join(root.path, "run.lock");
  const onWait = () => ok(false, "waited for a free lock");
  const first = await lockFile(path, { shared: true, onWait, noticeMs: 0 });
  const second = await lockFile(path, { shared: true, onWait, noticeMs: 0 });
  second.close();
  first.close();
  // Freed a moment ago: the kernel may take a moment to see the descriptors go (seen once under load), so no
  // notice within the usual second rather than at once.
  const exclusive = await lockFile(path, { onWait, noticeMs: 1_000 });
  exclusive.close();
});

Deno.test("lockHolder() finds the pid holding a flock in /proc/locks, and undefined for a free lock", async () => {
  if (Deno.build.os !== "linux") {
    console.log("skipped: /proc/locks is Linux's");
    return;
  }
  await using root = await tempRoot();
  const path = join(root.path, "dispatch.lock");
  // In a process of its own with every permission: Deno reads /proc/locks only with --allow-all.
  const script = `
    import { lockHolder } from ${JSON.stringify(new URL("../../../src/backend/file/_fs.ts", import.meta.url).href)};
    const path = ${JSON.stringify(path)};
    const file = Deno.openSync(path, { read: true, write: true, create: true });
    file.lockSync(true);
    const held = lockHolder(path);
    file.close();
    console.log(JSON.stringify({ pid: Deno.pid, held, free: lockHolder(path) ?? null }));
  `;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  equal(code, 0, decoder.decode(stderr));
  const { pid, held, free } = JSON.parse(decoder.decode(stdout));
  equal(held, pid);
  equal(free, null);
});

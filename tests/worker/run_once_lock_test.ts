/**
 * The library side of the lock waits: `Dispatcher` and `runOnce()` pass
 * `lockTimeoutMs`, `signal` and `onLockWait` down to the wait for a lock
 * that another holder keeps (here a second open file description of the
 * lock file, which conflicts with the library's as another process's would).
 *
 * @module
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher, Layout, listenerPath, LockTimeoutError, type LockWait, runOnce, Task } from "../../mod.ts";
import { namesIn, tempRoot } from "../_helpers.ts";

const NAME = "mailer";
const EVENT_TYPE = "order/placed";

/** Registers the listener and holds its `lock` file exclusively until disposed. */
async function heldLock(root: string, lock: string): Promise<Disposable & { dir: string }> {
  await runOnce(root, { name: NAME, eventType: EVENT_TYPE, handler: () => Task.SUCCESS });
  const dir = join(root, listenerPath(NAME, EVENT_TYPE));
  const file = Deno.openSync(join(dir, lock), { read: true, write: true, create: true });
  file.lockSync(true);
  return { dir, [Symbol.dispose]: () => file.close() };
}

Deno.test("Dispatcher lockTimeoutMs and signal end a wait for a held dispatch lock, nothing written", async (t) => {
  await using root = await tempRoot();
  using held = await heldLock(root.path, Layout.DISPATCH_LOCK);
  await t.step("lockTimeoutMs", async () => {
    const dispatcher = new Dispatcher(root.path, { durable: false, lockTimeoutMs: 100 });
    await rejects(dispatcher.dispatch(EVENT_TYPE, { order: 1 }), LockTimeoutError);
  });
  await t.step("signal", async () => {
    const signal = AbortSignal.timeout(100);
    const dispatcher = new Dispatcher(root.path, { durable: false, signal, onLockWait: () => {} });
    await rejects(
      dispatcher.dispatch(EVENT_TYPE, { order: 1 }),
      (error) => error === signal.reason,
    );
  });
  deepEqual(namesIn(join(held.dir, Layout.INBOX)), []);
  deepEqual(namesIn(join(held.dir, Layout.TMP)), []);
});

Deno.test("runOnce() lockTimeoutMs ends a wait for a held run lock after onLockWait, nothing handled", async () => {
  await using root = await tempRoot();
  using held = await heldLock(root.path, Layout.RUN_LOCK);
  await new Dispatcher(root.path, { durable: false }).dispatch(EVENT_TYPE, { order: 1 });
  const notices: LockWait[] = [];
  let ran = 0;
  const started = Date.now();
  await rejects(
    runOnce(root.path, {
      name: NAME,
      eventType: EVENT_TYPE,
      handler: () => (ran++, Task.SUCCESS),
      lockTimeoutMs: 1_300,
      onLockWait: (wait) => notices.push(wait),
    }),
    (error) => error instanceof LockTimeoutError && error.path === join(held.dir, Layout.RUN_LOCK),
  );
  ok(Date.now() - started >= 1_300);
  equal(notices.length, 1);
  equal(notices[0].path, join(held.dir, Layout.RUN_LOCK));
  equal(ran, 0);
  deepEqual(namesIn(join(held.dir, Layout.INBOX)), ["1.json"]);
});

Deno.test("runOnce() with lockTimeoutMs 0 fails at once while another runner holds the run lock", async () => {
  await using root = await tempRoot();
  using _held = await heldLock(root.path, Layout.RUN_LOCK);
  const onLockWait = () => ok(false, "waited");
  await rejects(
    runOnce(root.path, {
      name: NAME,
      eventType: EVENT_TYPE,
      handler: () => Task.SUCCESS,
      lockTimeoutMs: 0,
      onLockWait,
    }),
    (error) => error instanceof LockTimeoutError && error.waitedMs === 0,
  );
  await rejects(
    runOnce(root.path, {
      name: NAME,
      eventType: EVENT_TYPE,
      handler: () => Task.SUCCESS,
      lockTimeoutMs: 0,
      concurrency: 2,
      onLockWait,
    }),
    LockTimeoutError,
  );
});

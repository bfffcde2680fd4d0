/**
 * An event root in every state the operations commands report on, built
 * with the real Dispatcher and runOnce, plus hand-made `inflight/` claims
 * and `workers/` leases (the parallel worker's layout).
 *
 * | listener                       | pending      | in flight                  | error/                       | archive/ |
 * | ------------------------------ | ------------ | -------------------------- | ---------------------------- | -------- |
 * | `audit` (root type)            | 5 (FAILURE), 6, 7 | -                     | 2 INVALID, 3 ERROR, 4 RETRY, junk.txt quarantined | 1 |
 * | `product/created/image_scaler` | 5            | 6 (hostA, live), 7 (hostB, no lease) | -                  | 1-4      |
 */
import { join } from "node:path";
import { Dispatcher, runOnce, Task, type TaskContext } from "../mod.ts";

/** The listener directories of the root. */
export interface OpsRoot {
  root: string;
  audit: string;
  scaler: string;
}

/** A live worker, with a lease file renewed now. */
export const LIVE_WORKER = "hostA-12345-1a2b3c";
/** A worker that is gone: no lease file. */
export const GONE_WORKER = "hostB-999-ffffff";

/** The audit handler: `payload.audit` picks the result; SUCCESS when absent. */
export function auditHandler(context: TaskContext) {
  const { audit } = (context.payload ?? {}) as { audit?: string };
  if (audit === "invalid") return Task.INVALID;
  if (audit === "throw") throw new Error("audit exploded");
  if (audit === "retry") return Task.RETRY;
  if (audit === "failure") return Task.FAILURE;
  return Task.SUCCESS;
}

/** Builds the tree described above in `root` (an existing empty directory). */
export async function buildOpsRoot(root: string): Promise<OpsRoot> {
  const scaler = { name: "image_scaler", eventType: "product/created", handler: () => Task.SUCCESS, durable: false };
  const audit = { name: "audit", eventType: "", handler: auditHandler, durable: false };
  await runOnce(root, scaler);
  await runOnce(root, audit);
  const dispatcher = new Dispatcher(root, { durable: false });
  for (const payload of [{ n: 1 }, { n: 2, audit: "invalid" }, { n: 3, audit: "throw" }, { n: 4, audit: "retry" }]) {
    await dispatcher.dispatch("product/created", payload);
  }
  await runOnce(root, scaler);
  for (const payload of [{ n: 5, audit: "failure" }, { n: 6 }, { n: 7 }]) {
    await dispatcher.dispatch("product/created", payload);
  }
  const auditDir = join(root, "audit_listener");
  const scalerDir = join(root, "product", "created", "image_scaler_listener");
  await Deno.writeTextFile(join(auditDir, "inbox", "junk.txt"), "not a task");
  await runOnce(root, audit);
  await claim(scalerDir, 6, LIVE_WORKER);
  await claim(scalerDir, 7, GONE_WORKER);
  await writeLease(scalerDir, LIVE_WORKER, 60_000);
  return { root, audit: auditDir, scaler: scalerDir };
}

/** Claims a task as a parallel worker does: renames `inbox/<N>.json` to `inflight/<N>.json~<worker>`. */
export async function claim(listenerDir: string, sequence: number, worker: string): Promise<string> {
  await Deno.mkdir(join(listenerDir, "inflight"), { recursive: true });
  const target = join(listenerDir, "inflight", `${sequence}.json~${worker}`);
  await Deno.rename(join(listenerDir, "inbox", `${sequence}.json`), target);
  return target;
}

/** Writes a worker's lease file, `workers/<worker>.json`, renewed now (or at `renewed`). */
export async function writeLease(listenerDir: string, worker: string, leaseMs: number, renewed?: Date): Promise<void> {
  await Deno.mkdir(join(listenerDir, "workers"), { recursive: true });
  const path = join(listenerDir, "workers", `${worker}.json`);
  const [host, pid] = worker.split("-");
  await Deno.writeTextFile(
    path,
    JSON.stringify({ worker, host, pid: Number(pid), started: new Date().toISOString(), lease_ms: leaseMs }),
  );
  if (renewed) await Deno.utime(path, renewed, renewed);
}

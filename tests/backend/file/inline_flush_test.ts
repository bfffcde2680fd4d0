/**
 * Durable writes on a file system kept in memory (tmpfs) flush with a
 * synchronous fsync, on the main thread: there the kernel's fsync returns at
 * once, and handing it to Deno's thread pool cost more than the whole
 * delivery (issue 14). On a disk a flush still goes to the thread pool, so
 * the event loop never waits for it.
 *
 * Which thread flushed is seen with `strace -f`: the main thread's id is the
 * process id. The tmpfs is mounted for the test (root only, as in CI), under
 * the working disk's temporary directory, so that the test process reaches it
 * with its own permissions (Deno asks for `--allow-all` under /dev).
 *
 * @module
 */
import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { flushesAtOnce } from "../../../src/backend/file/_fs.ts";
import { tempRoot } from "../../_helpers.ts";
import { smallTmpfs } from "../../_tmpfs.ts";
import { DISPATCH_LOOP } from "../../integration/_dispatch_loop.ts";

const EVENTS = 3;

/** The file system type of the mount holding `path`, as `findmnt` (util-linux) sees it, or why it cannot tell. */
async function fsType(path: string): Promise<string | { skipped: string }> {
  try {
    const { success, stdout } = await new Deno.Command("findmnt", {
      args: ["-n", "-o", "FSTYPE", "--target", path],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (success) return new TextDecoder().decode(stdout).trim();
  } catch {
    // not installed
  }
  return { skipped: "findmnt (util-linux) could not say the file system type" };
}

/** Whether strace runs here. */
async function haveStrace(): Promise<boolean> {
  try {
    return (await new Deno.Command("strace", { args: ["-V"], stdout: "null", stderr: "null" }).output()).success;
  } catch {
    return false;
  }
}

/** A root with one listener of `product` (inbox/ and tmp/ made). */
function rootWithListener(root: string): void {
  for (const sub of ["inbox", "tmp"]) Deno.mkdirSync(join(root, "product", "l00_listener", sub), { recursive: true });
}

/**
 * Dispatches `EVENTS` durable events into `root` in a child process under
 * `strace -f`, and counts its fsyncs of files and directories in `root` by
 * thread: those of the main thread (its id is the pid, the one that calls
 * execve) and those of any other.
 */
async function fsyncsByThread(root: string, log: string): Promise<{ main: number; pool: number }> {
  const { success, stderr } = await new Deno.Command("strace", {
    args: [
      "-f",
      "-qq",
      "-y", // each descriptor with its path: Deno flushes its own code cache too
      "-e",
      "trace=execve,fsync,fdatasync",
      "-o",
      log,
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      DISPATCH_LOOP,
      root,
      "product",
      String(EVENTS),
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  ok(success, `the dispatch loop failed: ${new TextDecoder().decode(stderr)}`);
  const lines = Deno.readTextFileSync(log).split("\n").filter((line) => line.trim() !== "");
  const pid = lines.find((line) => / execve\(/.test(line))?.split(" ")[0];
  ok(pid !== undefined, `no execve in ${log}`);
  let [main, pool] = [0, 0];
  for (const line of lines) {
    if (!/ f(data)?sync\(/.test(line) || !line.includes(`<${root}/`) && !line.includes(`<${root}>`)) continue;
    if (line.split(" ")[0] === pid) main++;
    else pool++;
  }
  return { main, pool };
}

Deno.test("flushesAtOnce() is true on a tmpfs, false on the working disk", async (t) => {
  const tmpfs = await smallTmpfs("1m");
  if ("skipped" in tmpfs) return void await t.step(`skipped: ${tmpfs.skipped}`, () => {});
  await using memory = tmpfs;
  equal(flushesAtOnce(memory.path), true);
  await using disk = await tempRoot();
  const type = await fsType(disk.path);
  if (typeof type !== "string") return void await t.step(type.skipped, () => {});
  if (type === "tmpfs" || type === "ramfs") {
    return void await t.step(`skipped: the temporary directory is on ${type} here`, () => {});
  }
  equal(flushesAtOnce(disk.path), false, `${disk.path} is on ${type}`);
  equal(flushesAtOnce(join(disk.path, "missing")), false, "a directory that cannot be asked: the thread pool");
});

Deno.test("a durable dispatch flushes on the main thread on tmpfs, in the thread pool on a disk", async (t) => {
  if (!await haveStrace()) return void await t.step("skipped: strace is not installed", () => {});
  const tmpfs = await smallTmpfs("4m");
  if ("skipped" in tmpfs) return void await t.step(`skipped: ${tmpfs.skipped}`, () => {});
  await using memory = tmpfs;
  await using logs = await tempRoot();
  rootWithListener(memory.path);
  const inMemory = await fsyncsByThread(memory.path, join(logs.path, "tmpfs.strace"));
  // Each delivery flushes its task file and the inbox.
  ok(inMemory.main >= 2 * EVENTS, `tmpfs: ${inMemory.main} fsyncs on the main thread, ${inMemory.pool} in the pool`);
  equal(inMemory.pool, 0, "tmpfs: no fsync in the thread pool");

  await using disk = await tempRoot();
  const type = await fsType(disk.path);
  if (typeof type !== "string") return void await t.step(type.skipped, () => {});
  if (type === "tmpfs" || type === "ramfs") {
    return void await t.step(`skipped: the temporary directory is on ${type} here`, () => {});
  }
  rootWithListener(disk.path);
  const onDisk = await fsyncsByThread(disk.path, join(logs.path, "disk.strace"));
  ok(onDisk.pool >= 2 * EVENTS, `${type}: ${onDisk.pool} fsyncs in the pool, ${onDisk.main} on the main thread`);
  equal(onDisk.main, 0, `${type}: no fsync on the main thread`);
});

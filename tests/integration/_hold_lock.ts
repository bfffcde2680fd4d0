/**
 * Holds a flock until killed, standing in for a dispatcher or runner that
 * froze while holding its lock (the tests also SIGSTOP it).
 *
 * ```sh
 * deno run -A tests/integration/_hold_lock.ts <lock file> [exclusive|shared]   # prints "locked" once held
 * ```
 *
 * @module
 */
if (import.meta.main) {
  const [path, mode = "exclusive"] = Deno.args;
  const file = Deno.openSync(path, { read: true, write: true, create: true });
  file.lockSync(mode !== "shared");
  Deno.stdout.writeSync(new TextEncoder().encode("locked\n"));
  setInterval(() => {}, 60_000); // hold the lock (and the open file) until killed
}

/** A small tmpfs for tests of a full disk (ENOSPC): mounting needs root; where it fails, tests skip. */
import { tempRoot } from "./_helpers.ts";

/**
 * A tmpfs of `size` (as `256k`) mounted on `at` (an empty directory, made if
 * needed), else on a fresh temporary directory (removed after), or the
 * reason it could not be mounted.
 */
export async function smallTmpfs(
  size: string,
  at?: string,
): Promise<(AsyncDisposable & { path: string }) | { skipped: string }> {
  if (at !== undefined) await Deno.mkdir(at, { recursive: true });
  const dir = at === undefined ? await tempRoot() : { path: at, [Symbol.asyncDispose]: async () => {} };
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir.path],
      stdout: "null",
      stderr: "piped",
    }).output();
  } catch (error) {
    await dir[Symbol.asyncDispose]();
    return { skipped: `mount failed (${(error as Error).message})` };
  }
  if (!output.success) {
    await dir[Symbol.asyncDispose]();
    return { skipped: `mount -t tmpfs failed: ${new TextDecoder().decode(output.stderr).trim()}` };
  }
  return {
    path: dir.path,
    async [Symbol.asyncDispose]() {
      await new Deno.Command("umount", { args: [dir.path], stdout: "null", stderr: "null" }).output();
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** Fills the file system of `dir` with one file, `fill`, until it is full. */
export async function fill(dir: string): Promise<void> {
  const file = await Deno.open(`${dir}/fill`, { write: true, create: true });
  const block = new Uint8Array(4096);
  try {
    while (true) await file.write(block);
  } catch (error) {
    if (!(error instanceof Error && /No space left|os error 28/.test(error.message))) throw error;
  } finally {
    file.close();
  }
}

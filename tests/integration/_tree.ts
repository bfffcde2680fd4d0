/**
 * Event roots on tmpfs for the multi-process tests. Deno asks for
 * `--allow-all` to touch anything under /dev (denoland/deno#30979), and the
 * test task grants `--allow-read --allow-write` only, so the test process
 * never opens /dev/shm itself: this script, run with `-A`, makes, reads and
 * removes the root for it.
 *
 * ```sh
 * deno run -A tests/integration/_tree.ts mktemp <parent>   # prints the new directory
 * deno run -A tests/integration/_tree.ts dump <dir>        # prints {"<relative path>": "<text>", ...}
 * deno run -A tests/integration/_tree.ts remove <dir>
 * ```
 *
 * Imported (not run), it gives {@linkcode shmRoot} and {@linkcode dumpTree}.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempRoot } from "../_helpers.ts";

const TREE = fileURLToPath(import.meta.url);

async function tree(args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", TREE, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (code !== 0) throw new Error(`_tree.ts ${args.join(" ")} failed (${code}): ${decoder.decode(stderr)}`);
  return decoder.decode(stdout);
}

/**
 * A fresh temporary event root on /dev/shm, removed by
 * `[Symbol.asyncDispose]`; the test process must only reach it through
 * subprocesses run with `-A` (and {@linkcode dumpTree}). Where there is no
 * /dev/shm, an ordinary temporary directory.
 */
export async function shmRoot(): Promise<AsyncDisposable & { path: string; onTmpfs: boolean }> {
  let path: string;
  try {
    path = (await tree(["mktemp", "/dev/shm"])).trim();
  } catch {
    const root = await tempRoot();
    return Object.assign(root, { onTmpfs: false });
  }
  return {
    path,
    onTmpfs: true,
    async [Symbol.asyncDispose]() {
      await tree(["remove", path]);
    },
  };
}

/** Every regular file below `dir` with its text, by path relative to `dir`. */
export async function dumpTree(dir: string): Promise<Map<string, string>> {
  return new Map(Object.entries(JSON.parse(await tree(["dump", dir])) as Record<string, string>));
}

function dump(dir: string, prefix: string, out: Record<string, string>): void {
  for (const entry of Deno.readDirSync(join(dir, prefix))) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory) dump(dir, relative, out);
    else if (entry.isFile) out[relative] = Deno.readTextFileSync(join(dir, relative));
  }
}

if (import.meta.main) {
  const [command, path] = Deno.args;
  if (command === "mktemp") {
    console.log(await Deno.makeTempDir({ prefix: "hurah_", dir: path }));
  } else if (command === "dump") {
    const out: Record<string, string> = {};
    dump(path, "", out);
    console.log(JSON.stringify(out));
  } else if (command === "remove") {
    await Deno.remove(path, { recursive: true });
  } else {
    throw new Error("usage: _tree.ts mktemp <parent> | dump <dir> | remove <dir>");
  }
}

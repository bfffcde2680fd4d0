/**
 * `FileStore.sweepTmp()` removes staging files that killed processes left in
 * `tmp/`, judging their age by the file system's clock: a worker whose own
 * clock runs hours ahead (here under faketime) must not remove the fresh
 * staging files of other processes, such as a dispatcher's task file staged
 * a moment before its link.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { Layout, listenerPath } from "../../../mod.ts";
import { namesIn, runCli, tempRoot } from "../../_helpers.ts";

/** faketime's preload library, if faketime is installed. */
const PRELOAD = await (async (): Promise<string | undefined> => {
  try {
    const { code, stdout } = await new Deno.Command("faketime", {
      args: ["-f", "+0", "sh", "-c", 'printf %s "$LD_PRELOAD"'],
      stdout: "piped",
      stderr: "null",
    }).output();
    const path = new TextDecoder().decode(stdout).trim();
    return code === 0 && path !== "" ? path : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
})();
if (PRELOAD === undefined) console.log("skipped: faketime is not installed");

Deno.test({
  name: "sweepTmp() judges staging files by the file system's clock: a runner 3 h ahead keeps a fresh one",
  ignore: PRELOAD === undefined,
  async fn() {
    await using root = await tempRoot();
    const register = await runCli(["run", "l", "ev", "--exec", "exit 0", root.path]);
    equal(register.code, 0, register.stderr);
    const tmp = join(root.path, listenerPath("l", "ev"), Layout.TMP);
    await Deno.writeTextFile(join(tmp, "task.fresh.tmp"), "{}");
    await Deno.writeTextFile(join(tmp, "task.old.tmp"), "{}");
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await Deno.utime(join(tmp, "task.old.tmp"), twoHoursAgo, twoHoursAgo);
    const skewed = await runCli(["run", "l", "ev", "--exec", "exit 0", root.path], {
      env: { LD_PRELOAD: PRELOAD!, FAKETIME: "+3h" },
    });
    equal(skewed.code, 0, skewed.stderr);
    deepEqual(namesIn(tmp), ["task.fresh.tmp"], "the fresh file is kept, the one left 2 h ago removed");
  },
});

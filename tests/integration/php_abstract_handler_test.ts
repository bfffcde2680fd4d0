/**
 * docs/migrating-from-php.md's recipe for keeping an `AbstractHandler`
 * subclass: `examples/php_abstract_handler.php` runs it, unchanged, as a hurah
 * exec handler, against the PHP original (`../shared/php-original`, or
 * `$HURAH_PHP_ORIGINAL`). The harness's ProbeHandler is such a subclass.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher, listenerPath } from "../../mod.ts";
import { PROJECT, runCli, sequencesIn, tempRoot } from "../_helpers.ts";
import { PHP_ORIGINAL, phpMissing } from "./_php.ts";

const skip = await phpMissing("harness/ProbeHandler.php");
if (skip) console.log(`skipped: ${skip}`);

Deno.test({
  name: skip
    ? `skipped: ${skip} (an AbstractHandler subclass as an exec handler)`
    : "an AbstractHandler subclass runs unchanged as an exec handler: its context whole, its result the exit status",
  ignore: skip !== undefined,
  async fn() {
    await using dir = await tempRoot();
    const root = join(dir.path, "events");
    await Deno.mkdir(root);
    // The application's autoloader: the library's, and the handler class (here the harness's ProbeHandler).
    const autoload = join(dir.path, "autoload.php");
    await Deno.writeTextFile(
      autoload,
      `<?php\nrequire ${JSON.stringify(join(PHP_ORIGINAL, "hurah-events", "vendor", "autoload.php"))};\n` +
        `require ${JSON.stringify(join(PHP_ORIGINAL, "harness", "ProbeHandler.php"))};\n`,
    );
    const exec = `php ${
      join(PROJECT, "examples", "php_abstract_handler.php")
    } ${autoload} 'HurahHarness\\ProbeHandler'`;
    const args = ["run", "scaler", "product/created", "--exec", exec, root];
    equal((await runCli(args)).code, 0);
    const dispatcher = new Dispatcher(root, { durable: false });
    for (const id of [1, 2, 3]) await dispatcher.dispatch("product/created", { product_id: id });
    const log = join(dir.path, "payloads.jsonl");
    const run = await runCli(args, {
      env: { HE_CODE_BY_SEQ: JSON.stringify({ 2: 3 }), HE_PAYLOAD_LOG: log, HE_LOG_LEVEL: "none" },
    });
    equal(run.code, 0, run.stderr);
    const listener = join(root, listenerPath("scaler", "product/created"));
    deepEqual(sequencesIn(join(listener, "archive")), [1, 3], "SUCCESS: archived");
    deepEqual(sequencesIn(join(listener, "error")), [2], "INVALID (exit 3): in error/");
    const seen = (await Deno.readTextFile(log)).trim().split("\n").map((line) => JSON.parse(line));
    deepEqual(seen, [1, 2, 3].map((id) => ({ seq: id, payload: { product_id: id } })), "the context's sequence");
    // The constructor's inbox went to a scratch root, not into the event root.
    deepEqual([...Deno.readDirSync(root)].map((entry) => entry.name), ["product"]);
  },
});

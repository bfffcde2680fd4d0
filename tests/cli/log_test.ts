/**
 * The log lines of `hurah run` and `hurah watch` (`src/cli/_log.ts`), for the
 * events that no CLI test provokes cheaply.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import type { RunEvent } from "../../mod.ts";
import { eventFormatter, lockWaitFormatter } from "../../src/cli/_log.ts";

Deno.test("eventFormatter() prints a fault with its stack indented under it, or as one JSON object", () => {
  const event: RunEvent = {
    type: "fault",
    listener: "mailer",
    message: "Error: Is a directory (os error 21)\n    at renameSync (ext:deno_fs/30_fs.js:1:1)",
    retryInMs: 2_000,
  };
  equal(
    eventFormatter("text", false)(event),
    "mailer FAULT, trying again in 2.0 s: Error: Is a directory (os error 21)\n" +
      "        at renameSync (ext:deno_fs/30_fs.js:1:1)\n",
  );
  const line = eventFormatter("json", false)(event);
  equal(line.split("\n").length, 2, "one line");
  const { time, ...rest } = JSON.parse(line);
  equal(typeof time, "string");
  deepEqual(rest, event);
});

Deno.test("lockWaitFormatter() names the lock, its holder and the bound, in text or as one JSON object", () => {
  const wait = { path: "/r/ev/l_listener/run.lock", waitedMs: 1_001, timeoutMs: Infinity, holderPid: 42 };
  equal(
    lockWaitFormatter("text", "run")(wait),
    "hurah run: waiting for the lock /r/ev/l_listener/run.lock, held by pid 42; " +
      "waiting until it is free or a signal stops this\n",
  );
  equal(
    lockWaitFormatter("text", "dispatch")({ ...wait, timeoutMs: 30_000, holderPid: undefined }),
    "hurah dispatch: waiting for the lock /r/ev/l_listener/run.lock, held by another process; waiting up to 30000 ms\n",
  );
  const { time, ...fields } = JSON.parse(lockWaitFormatter("json", "run")(wait));
  equal(typeof time, "string");
  deepEqual(fields, { type: "lock", path: wait.path, waitedMs: 1_001, timeoutMs: null, holderPid: 42 });
});

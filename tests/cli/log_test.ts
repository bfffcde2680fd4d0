/**
 * The log lines of `hurah run` and `hurah watch` (`src/cli/_log.ts`), for the
 * events that no CLI test provokes cheaply, and how `hurah inspect` shows a
 * handler's recorded output.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import type { RunEvent } from "../../mod.ts";
import { eventFormatter, lockWaitFormatter } from "../../src/cli/_log.ts";
import { formatFound } from "../../src/cli/inspect.ts";

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

Deno.test("eventFormatter() prints a handler's output line with the task named, or as one JSON object", () => {
  const event: RunEvent = { type: "output", listener: "mailer", sequence: 7, line: "sh: 0: cannot open ./missing.sh" };
  equal(eventFormatter("text", false)(event), "mailer #7 | sh: 0: cannot open ./missing.sh\n");
  const { time, ...rest } = JSON.parse(eventFormatter("json", false)(event));
  equal(typeof time, "string");
  deepEqual(rest, event);
});

Deno.test("formatFound() shows the handler output of a failure record, indented under it", () => {
  const task = {
    payload: null,
    sequence: 8,
    count: 8,
    delivery: "2026-11-29T03:39:28+00:00",
    failures: [{
      result: "INVALID",
      message: "the handler returned Task.INVALID",
      output: "no email in the payload\nsecond line",
      time: "2026-11-29T04:41:03.909Z",
      attempt: 1,
      worker: "h:1",
      fate: "error" as const,
    }],
  };
  const found = {
    location: "error" as const,
    file: "8.json",
    path: "/r/error/8.json",
    worker: null,
    since: null,
    task,
    problem: null,
    text: null,
    reason: null,
  };
  const text = formatFound({ listener: "mailer", dir: "/r", sequence: 8, found: [found] }, found);
  const lines = text.split("\n");
  const at = lines.findIndex((line) => line.includes("INVALID -> error"));
  deepEqual(lines.slice(at + 1, at + 4), ["      output", "        no email in the payload", "        second line"]);
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

/**
 * The log lines of `hurah run` and `hurah watch` (`src/cli/_log.ts`), for the
 * events that no CLI test provokes cheaply.
 *
 * @module
 */
import { deepEqual, equal } from "node:assert/strict";
import type { RunEvent } from "../../mod.ts";
import { eventFormatter } from "../../src/cli/_log.ts";

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

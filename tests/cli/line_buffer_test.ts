import { deepEqual } from "node:assert/strict";
import { LineBuffer } from "../../src/cli/_line_buffer.ts";

Deno.test("LineBuffer writes lines in order, in one write per batch, when the loop is idle or at flush()", async () => {
  const writes: string[] = [];
  {
    using lines = new LineBuffer((text) => writes.push(text));
    lines.push("1\n");
    lines.push("");
    lines.push("2\n");
    deepEqual(writes, [], "held until the event loop is idle");
    await new Promise((resolve) => setTimeout(resolve, 5));
    deepEqual(writes, ["1\n2\n"]);
    lines.push("3\n");
    lines.flush();
    deepEqual(writes, ["1\n2\n", "3\n"]);
    lines.push("4\n");
  }
  deepEqual(writes, ["1\n2\n", "3\n", "4\n"], "disposing flushes");
});

Deno.test("LineBuffer writes a full batch at once, and what it holds when the signal aborts", () => {
  const writes: string[] = [];
  const controller = new AbortController();
  using lines = new LineBuffer((text) => writes.push(text), controller.signal);
  const line = "x".repeat(1023) + "\n";
  for (let k = 0; k < 16; k++) lines.push(line);
  deepEqual(writes.map((text) => text.length), [16 * 1024]);
  lines.push("last\n");
  controller.abort();
  deepEqual(writes.at(-1), "last\n");
});

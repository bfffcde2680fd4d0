import { equal, throws } from "node:assert/strict";
import { UsageError } from "../../src/cli/_io.ts";
import { parseSize } from "../../src/cli/_options.ts";

Deno.test("parseSize() reads bytes and binary units", async (t) => {
  const cases: [string, number][] = [
    ["1", 1],
    ["1048576", 1048576],
    ["512KiB", 512 * 1024],
    ["512k", 512 * 1024],
    ["512 KB", 512 * 1024],
    ["16MiB", 16 * 1024 * 1024],
    ["16M", 16 * 1024 * 1024],
    ["1GiB", 1024 ** 3],
    ["100b", 100],
  ];
  for (const [text, bytes] of cases) await t.step(text, () => equal(parseSize(text, "--max-task-size"), bytes));
});

Deno.test("parseSize() refuses what is not a size, saying what is allowed", async (t) => {
  for (const text of ["", "0", "-1", "1.5MiB", "16 MiBs", "16T", "lots", "99999999999999999999"]) {
    await t.step(JSON.stringify(text), () => {
      throws(
        () => parseSize(text, "--max-task-size"),
        (error: unknown) =>
          error instanceof UsageError &&
          error.message ===
            `--max-task-size must be a size like 1048576, 512KiB, 16MiB or 1GiB, found ${JSON.stringify(text)}`,
      );
    });
  }
});

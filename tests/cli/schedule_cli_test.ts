/** Schedules through the real CLI: what `hurah watch` refuses, and what `hurah status` lists. */
import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { runCli, tempRoot } from "../_helpers.ts";

const HANDLER = { name: "idle", eventType: "idle/never", exec: "true" };

Deno.test("hurah watch refuses a bad schedule with exit 2, naming it and its field", async (t) => {
  await using root = await tempRoot();
  const cases: [string, string[], RegExp][] = [
    [
      "a bad field",
      ["--schedule", "61 * * * *=report/x"],
      /--schedule "61 \* \* \* \*=report\/x": .*minute field "61"/,
    ],
    ["no event type", ["--schedule", "* * * * *"], /expects "<cron>=<event_type>"/],
    ["a bad event type", ["--schedule", "* * * * *=a//b"], /empty segment/],
    [
      "a bad missed",
      ["--schedule", "@daily=a", "--schedule-missed", "all"],
      /--schedule-missed must be latest or skip/,
    ],
    ["missed alone", ["--schedule-missed", "skip"], /--schedule-missed is for --schedule/],
    ["twice", ["--schedule", "@daily=a", "--schedule", "@daily=a"], /is given twice/],
  ];
  for (const [name, args, message] of cases) {
    await t.step(name, async () => {
      const result = await runCli(["watch", "idle", "idle/never", "--exec", "true", ...args, root.path]);
      equal(result.code, 2, result.stderr);
      match(result.stderr, message);
    });
  }
});

Deno.test("hurah watch --config refuses bad schedules with exit 2", async (t) => {
  await using root = await tempRoot();
  const config = join(root.path, "hurah.json");
  const cases: [string, unknown, RegExp][] = [
    [
      "an unknown zone",
      [{ cron: "@daily", timezone: "Mars/Base", event_type: "a" }],
      /schedules\[0\]: Unknown time zone "Mars\/Base"/,
    ],
    ["an unknown key", [{ cron: "@daily", event_type: "a", every: 1 }], /unknown key "every" in schedules\[0\]/],
    ["no cron", [{ event_type: "a" }], /schedules\[0\]\.cron must be a string/],
    ["bad missed", [{ cron: "@daily", event_type: "a", missed: "all" }], /schedules\[0\]\.missed must be/],
    ["not an array", { cron: "@daily" }, /'schedules' must be an array/],
    ["a bad expression", [{ cron: "0 0 30 2 *", event_type: "a" }], /day of month field|day 30 never occurs/],
  ];
  for (const [name, schedules, message] of cases) {
    await t.step(name, async () => {
      await Deno.writeTextFile(config, JSON.stringify({ handlers: [HANDLER], schedules }));
      const result = await runCli(["watch", "--config", config, root.path]);
      equal(result.code, 2, result.stderr);
      match(result.stderr, message);
    });
  }
});

Deno.test("hurah status lists the config file's schedules and the root's, with their next tick", async () => {
  await using root = await tempRoot();
  const config = join(root.path, "hurah.json");
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      root: root.path,
      handlers: [HANDLER],
      schedules: [{ cron: "0 3 * * *", timezone: "Europe/Amsterdam", event_type: "report/nightly" }],
    }),
  );
  const plain = await runCli(["status", "--root", root.path]);
  equal(plain.code, 0, plain.stderr);
  equal("schedules" in JSON.parse(plain.stdout), false); // no schedules: the JSON as before
  const result = await runCli(["status", "--config", config]);
  equal(result.code, 0, result.stderr);
  const { schedules, time } = JSON.parse(result.stdout);
  equal(schedules.length, 1);
  const [nightly] = schedules;
  deepEqual({ ...nightly, id: undefined, next_tick: undefined }, {
    id: undefined,
    cron: "0 3 * * *",
    timezone: "Europe/Amsterdam",
    event_type: "report/nightly",
    source: "config",
    last_tick: null,
    next_tick: undefined,
  });
  const next = Date.parse(nightly.next_tick);
  equal(next > Date.parse(time) && next - Date.parse(time) <= 86_400_000, true, nightly.next_tick);
  match(nightly.next_tick, /T0[12]:00:00\.000Z$/); // 03:00 in Amsterdam, winter or summer
  const table = await runCli(["status", "--config", config, "--table"]);
  match(
    table.stdout,
    /SCHEDULE +CRON +TIME ZONE +LAST TICK +NEXT TICK +FROM\n"report\/nightly" +0 3 \* \* \* +Europe\/Amsterdam +- +\S+ +config\n/,
  );
});

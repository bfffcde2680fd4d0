/**
 * `hurah watch` processes with schedules under a fake clock (faketime's
 * preload library: `env LD_PRELOAD=... FAKETIME="@<start> x<speed>" deno ...`,
 * so that signals reach deno itself), and the ticks they dispatched, read
 * from the task files of a listener that nothing works.
 *
 * @module
 */
import { join } from "node:path";
import { connect } from "../../src/backend/connect.ts";
import { checkListener } from "../../src/protocol/listener_id.ts";
import { CLI, killQuietly, waitUntil } from "../_helpers.ts";

/** What the last probe of faketime saw, when it did not move Deno's clock (said with the skip). */
export let fakeTimeProbe = "";

/**
 * faketime's preload library when it moves Deno's clock to a given start; else `undefined`. Tried 3 times: one
 * probe in a CI run once saw no fake clock, beside 30 that did.
 */
export const FAKETIME = await (async (): Promise<string | undefined> => {
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const { code, stdout } = await new Deno.Command("faketime", {
        args: [
          "-f",
          "@2026-03-29 00:45:00",
          "sh",
          "-c",
          `printf '%s\\n' "$LD_PRELOAD"; ${Deno.execPath()} eval 'console.log(Date.now())'`,
        ],
        env: { TZ: "UTC", FAKETIME_DONT_FAKE_MONOTONIC: "1" },
        stdout: "piped",
        stderr: "null",
      }).output();
      const [preload, now] = new TextDecoder().decode(stdout).split("\n");
      const shifted = Math.abs(Number(now) - Date.parse("2026-03-29T00:45:00Z")) < 60_000;
      if (code === 0 && preload !== "" && shifted) return preload;
      fakeTimeProbe = `exit ${code}, LD_PRELOAD ${JSON.stringify(preload)}, Date.now() ${now}`;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }
  return undefined;
})();

/** Compiles the CLI (a `--version` run), so that a watcher under a fake clock starts at once. */
export async function warmUp(): Promise<void> {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, "--version"],
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (code !== 0) throw new Error(`hurah --version exited ${code}`);
}

/** A running `hurah watch` with its stderr collected as it comes. */
export interface ScheduleWatcher extends AsyncDisposable {
  /** Its stderr so far. */
  stderr(): string;
  /** Waits until its stderr matches, up to `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM, then its exit code and stderr. */
  stop(): Promise<{ code: number; stderr: string }>;
}

/**
 * Starts `hurah watch --config <config>` on `root` with the clock at `start`
 * (`2026-03-29 00:45:00`, UTC), running `speed` times as fast, with a config
 * file of one idle listener and `schedules`.
 */
export async function startWatch(
  root: string,
  schedules: unknown[],
  clock: { start: string; speed?: number },
  extra: string[] = [],
): Promise<ScheduleWatcher> {
  const config = join(root, "..", `${root.split("/").at(-1)}.config.json`);
  await Deno.writeTextFile(
    config,
    JSON.stringify({ handlers: [{ name: "idle", eventType: "idle/never", exec: "true" }], schedules }),
  );
  const child = new Deno.Command("env", {
    args: [
      `LD_PRELOAD=${FAKETIME}`,
      `FAKETIME=@${clock.start}${clock.speed === undefined ? "" : ` x${clock.speed}`}`,
      "FAKETIME_DONT_FAKE_MONOTONIC=1",
      "TZ=UTC",
      "NO_COLOR=1",
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      CLI,
      "watch",
      "--config",
      config,
      "--no-fsync",
      "--rescan-interval",
      "1h",
      "--log-timestamps",
      ...extra,
      root,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) text += decoder.decode(chunk, { stream: true });
  })();
  const stop = async () => {
    killQuietly(child, "SIGTERM");
    const status = await child.status;
    await reading;
    await Deno.remove(config).catch(() => {});
    return { code: status.code, stderr: text };
  };
  return {
    stderr: () => text,
    waitFor: (pattern, timeoutMs = 60_000) =>
      waitUntil(() => `${pattern} in the watcher's stderr:\n${text}`, () => pattern.test(text), timeoutMs, 50),
    stop,
    [Symbol.asyncDispose]: async () => void await stop(),
  };
}

/** Registers `collector` on `eventType`: the ticks' tasks stay in its inbox (nothing works it). */
export async function registerCollector(root: string, eventType: string): Promise<void> {
  await connect({ root }).register(checkListener("collector", eventType));
}

/** The ticks dispatched to `collector` on `eventType` (the `tick` of each task's payload), in sequence order. */
export async function collectedTicks(root: string, eventType: string): Promise<string[]> {
  const inbox = join(root, ...eventType.split("/"), "collector_listener", "inbox");
  const tasks: [number, string][] = [];
  for await (const entry of Deno.readDir(inbox)) {
    const task = JSON.parse(await Deno.readTextFile(join(inbox, entry.name)));
    tasks.push([task.sequence, task.payload.tick]);
  }
  return tasks.sort((a, b) => a[0] - b[0]).map(([, tick]) => tick.replace(":00.000Z", "Z"));
}

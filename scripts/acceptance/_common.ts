/** What the acceptance runs share: the watcher processes, the handler's lines, the checks. */
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));

/** One run of the acceptance handler, as `_handler.ts` writes it. */
export interface Run {
  id: number;
  retryCount: number;
  lost: number;
  result: string;
}

/** `hurah watch` of a listener with the acceptance handler (`_handler.ts`) on a broker, then `extra` options. */
export function watchArgs(listener: { name: string; eventType: string }, broker: string, extra: string[]): string[] {
  const handler = fileURLToPath(new URL("./_handler.ts", import.meta.url));
  return ["watch", listener.name, listener.eventType, handler, "--broker", broker, ...extra];
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The handler's lines so far. */
export async function lines(out: string): Promise<Run[]> {
  const text = await Deno.readTextFile(out).catch(() => "");
  return text.split("\n").filter((line) => line.endsWith("SUCCESS") || line.endsWith("RETRY")).map((line) => {
    const [id, retryCount, lost, result] = line.split(" ");
    return { id: Number(id), retryCount: Number(retryCount), lost: Number(lost), result };
  });
}

/** Starts `deno run -A cli.ts <args>` (deno itself, so that a signal reaches the worker), its output dropped. */
export function startWatcher(args: string[], env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** Stops the watchers: SIGTERM, then SIGKILL after 15 s. */
export async function stopAll(watchers: Deno.ChildProcess[]): Promise<void> {
  for (const watcher of watchers) {
    try {
      watcher.kill("SIGTERM");
    } catch { /* exited */ }
  }
  const timer = setTimeout(() => {
    for (const watcher of watchers) {
      try {
        watcher.kill("SIGKILL");
      } catch { /* exited */ }
    }
  }, 15_000);
  await Promise.all(watchers.map((watcher) => watcher.status));
  clearTimeout(timer);
}

/** Prints a failed check; returns whether it held. */
export function check(held: boolean, failure: string): boolean {
  if (!held) console.log(`FAILED: ${failure}`);
  return held;
}

/**
 * The file backend's wake-up source: `Deno.watchFs` over the inboxes a
 * watcher works. File events can be lost (a slow consumer gets one `rescan`
 * event instead, and a watcher can fail): the caller lists every inbox again
 * then, and at an interval in any case.
 */
import { toError } from "../../errors.ts";

/** How long a failed file watcher waits before it is started again. */
const WATCHER_RESTART_MS = 1000;

/**
 * Watches the inbox directories until `stop`, calling `onPaths` with the paths
 * of each event and `onLost` when events may have been lost. A failed watcher
 * is restarted after a second.
 */
export function watchInboxes(
  dirs: string[],
  stop: AbortSignal,
  onPaths: (paths: string[]) => void,
  onLost: (reason: string) => void,
): { close(): Promise<void> } {
  let current: Deno.FsWatcher | undefined;
  const closeCurrent = () => {
    try {
      current?.close();
    } catch {
      // already closed
    }
  };
  stop.addEventListener("abort", closeCurrent, { once: true });
  const running = (async () => {
    while (!stop.aborted) {
      try {
        current = Deno.watchFs(dirs, { recursive: false });
        for await (const event of current) {
          if (event.flag === "rescan") onLost("overflow");
          else if (event.kind !== "remove" && event.kind !== "access") onPaths(event.paths);
        }
      } catch (error) {
        if (stop.aborted) break;
        onLost(`watcher error: ${toError(error).message}`);
      }
      if (!stop.aborted) await pause(WATCHER_RESTART_MS, stop);
    }
  })();
  return {
    async close() {
      closeCurrent();
      stop.removeEventListener("abort", closeCurrent);
      await running;
    },
  };
}

function pause(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      stop.removeEventListener("abort", done);
      resolve();
    }
    stop.addEventListener("abort", done, { once: true });
  });
}

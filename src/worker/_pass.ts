/** One ordered pass over one listener's inbox: shared by `runOnce` and `watch`. */
import { Layout } from "../protocol/layout.ts";
import type { FileStore, ListenerRef } from "../store/file_store.ts";
import type { HandlerLike } from "./handler.ts";
import type { RunReport } from "./run_once.ts";
import { type PassSettings, TaskRunner } from "./_task_runner.ts";
import { FileTaskQueue, type TaskSpot } from "../backend/file/task_queue.ts";

export { emptyReport, type PassSettings } from "./_task_runner.ts";

/** The file queue of a listener, as a pass's settings say. */
export function fileQueue(store: FileStore, listener: ListenerRef, settings: PassSettings): FileTaskQueue {
  return new FileTaskQueue(store, listener, { maxTaskSize: settings.maxTaskSize, archive: settings.archive });
}

/** An inbox entry that is not a task file, to be quarantined (it has no sequence number: 0). */
export function straySpot(name: string): TaskSpot {
  return { dir: Layout.INBOX, file: name, task: name, sequence: 0 };
}

/** Why a stray inbox entry is quarantined. */
export function strayReason(entry: Deno.DirEntry): string {
  const kind = entry.isSymlink
    ? "symbolic link"
    : entry.isDirectory
    ? "directory"
    : entry.isFile
    ? "file"
    : "special file (FIFO, socket or device)";
  return `not a task file: expected a regular file named <sequence>.json, found a ${kind}`;
}

/**
 * Works one listener's inbox in sequence order, one task at a time, where the
 * tasks lie. One instance serves many passes; the caller holds the run lock.
 */
export class Pass {
  readonly runner: TaskRunner<TaskSpot>;
  readonly queue: FileTaskQueue;

  constructor(store: FileStore, listener: ListenerRef, handler: HandlerLike, settings: PassSettings) {
    this.queue = fileQueue(store, listener, settings);
    this.runner = new TaskRunner<TaskSpot>(this.queue, listener, handler, settings);
  }

  /** Handles every due task once, in sequence order, adding to `report`. */
  async run(report: RunReport): Promise<RunReport> {
    const { settings } = this.runner;
    const { store, listener } = this.queue;
    delete report.failedAt;
    delete report.waitingFor;
    delete report.nextDueAt;
    const seen = new Set<number>();
    for (let first = true;; first = false) {
      const { sequences, strays } = await store.listInbox(listener);
      if (first) settings.onEvent({ type: "backlog", listener: listener.name, pending: sequences.length });
      for (const stray of strays) {
        await this.runner.quarantine(
          report,
          straySpot(stray.name),
          strayReason(stray),
        );
      }
      const pending = sequences.filter((sequence) => !seen.has(sequence));
      if (pending.length === 0) return report;
      for (const sequence of pending) {
        if (settings.signal.aborted) {
          report.aborted = true;
          return report;
        }
        seen.add(sequence);
        const file = `${sequence}.json`;
        const step = await this.runner.handle(report, { dir: Layout.INBOX, file, task: file, sequence });
        if (step.kind === "stop" || step.kind === "incomplete" || step.kind === "aborted") return report;
      }
    }
  }
}

/**
 * Puts tasks claimed by parallel workers that are gone back into the inbox.
 * The caller holds the run lock exclusively, so no parallel worker of this
 * listener is running: every claim found is an orphan. `runOnce` does this
 * before its pass, a watcher every rescan interval.
 */
export async function recoverClaims(
  runner: TaskRunner<TaskSpot>,
  queue: FileTaskQueue,
  report: RunReport,
): Promise<void> {
  const { settings } = runner;
  const { store, listener } = queue;
  for (const claim of store.listInflight(listener)) {
    const mine = store.takeOver(listener, claim, settings.worker);
    if (!mine) continue;
    const spot = { dir: Layout.INFLIGHT, file: mine.file, task: mine.task, sequence: mine.sequence };
    await runner.recover(report, spot, `parallel worker ${claim.owner} stopped while handling it`);
  }
}

/**
 * The file backend's {@linkcode TaskQueue}: a taken task is a file in a
 * listener's `inbox/` (ordered mode: handled where it lies) or claimed in
 * `inflight/` (parallel mode). Every settlement is a rename of a name this
 * worker owns; a claimed file that is gone means another worker took it over.
 */
import { TaskLostError } from "../../errors.ts";
import { CorruptFileError } from "../../errors.ts";
import { Layout } from "../../protocol/layout.ts";
import { decodeTask, encodeTask, type TaskRecord } from "../../protocol/task_file.ts";
import type { Destination } from "../../protocol/transition.ts";
import type { TaskQueue, TaskRead } from "../port.ts";
import { isNotFound } from "./_fs.ts";
import type { FileStore, ListenerRef, TaskDir, TaskRead as FileRead } from "./file_store.ts";

/** Where a task file is: in the inbox, or claimed in `inflight/`. */
export interface TaskSpot {
  /** `inbox` or `inflight`. */
  dir: TaskDir;
  /** Its file name there. */
  file: string;
  /** Its own name, `<N>.json`. */
  task: string;
  /** Its sequence number. */
  sequence: number;
}

/** Options of {@linkcode FileTaskQueue}. */
export interface FileTaskQueueOptions {
  /** The largest task file read; a larger one is refused unread. */
  maxTaskSize: number;
  /** Whether an archived task is kept in `archive/` or deleted. */
  archive: "keep" | "delete";
}

/** One listener's task files, as the worker handles them. */
export class FileTaskQueue implements TaskQueue<TaskSpot> {
  constructor(
    readonly store: FileStore,
    readonly listener: ListenerRef,
    readonly options: FileTaskQueueOptions,
  ) {}

  claimed(spot: TaskSpot): boolean {
    return spot.dir === Layout.INFLIGHT;
  }

  read(spot: TaskSpot): TaskRead {
    let read: FileRead;
    try {
      read = this.store.readTask(this.listener, spot.dir, spot.file, this.options.maxTaskSize);
    } catch (error) {
      if (isNotFound(error)) {
        if (spot.dir === Layout.INBOX) return { kind: "gone" }; // taken by someone else
        throw new TaskLostError(this.listener.id, spot.sequence, error);
      }
      if (error instanceof Deno.errors.PermissionDenied) {
        return { kind: "refused", reason: `unreadable: ${error.message}` };
      }
      throw error;
    }
    if (read.kind !== "file") return { kind: "refused", reason: this.#refusal(read) };
    try {
      return { kind: "task", task: decodeTask(read.bytes, spot.sequence) };
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      return { kind: "unparsed", message: error.message, writtenAt: read.mtime };
    }
  }

  async settle(spot: TaskSpot, to: Destination, record?: TaskRecord): Promise<void> {
    try {
      if (record) await this.store.rewriteTask(this.listener, spot.dir, spot.file, encodeTask(record));
      switch (to) {
        case "archive":
          if (this.options.archive === "delete") this.store.remove(this.listener, spot.dir, spot.file);
          else await this.store.move(this.listener, spot.dir, spot.file, Layout.ARCHIVE, spot.task);
          break;
        case "error":
          await this.store.move(this.listener, spot.dir, spot.file, Layout.ERROR, spot.task);
          break;
        default:
          await this.putBack(spot);
      }
    } catch (error) {
      // Taken over, or taken by someone else: not this worker's to settle.
      if (isNotFound(error)) throw new TaskLostError(this.listener.id, spot.sequence, error);
      throw error;
    }
  }

  async note(spot: TaskSpot, record: TaskRecord): Promise<void> {
    try {
      await this.store.rewriteTask(this.listener, spot.dir, spot.file, encodeTask(record));
    } catch (error) {
      if (isNotFound(error)) throw new TaskLostError(this.listener.id, spot.sequence, error);
      throw error;
    }
  }

  async quarantine(spot: TaskSpot, reason: string): Promise<boolean> {
    try {
      await this.store.quarantine(this.listener, spot.dir, spot.file, reason, spot.task);
    } catch (error) {
      if (isNotFound(error) && spot.dir === Layout.INBOX) return false; // another worker got to it first
      throw error;
    }
    return true;
  }

  /** Puts a claimed task back into the inbox, unchanged; a task in the inbox stays. */
  protected async putBack(spot: TaskSpot): Promise<void> {
    if (spot.dir === Layout.INFLIGHT) {
      await this.store.move(this.listener, Layout.INFLIGHT, spot.file, Layout.INBOX, spot.task);
    }
  }

  /** Why a file that was not read is refused. */
  #refusal(read: Exclude<FileRead, { kind: "file" }>): string {
    if (read.kind === "not a file") {
      return `not a task file: expected a regular file named <sequence>.json, found a ${read.found}`;
    }
    return `task file too large: ${read.size} bytes, over the limit of ${this.options.maxTaskSize} bytes ` +
      "(maxTaskSize); raise it (--max-task-size) to handle it, then requeue it";
  }
}

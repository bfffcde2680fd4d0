/** The file backend's {@linkcode Operations}: the functions of `status.ts`, `inspect.ts`, `requeue.ts`, `prune.ts`, `pause.ts`, `discard.ts`, `task_list.ts` and `listeners.ts` on one root. */
import type { Listener } from "../../protocol/listener_id.ts";
import type { StatusReport } from "../../protocol/listener_status.ts";
import type {
  DiscardOptions,
  DiscardReport,
  InspectOptions,
  Operations,
  PauseOptions,
  PauseReport,
  PruneOptions,
  PruneReport,
  RequeueOptions,
  RequeueReport,
  ResumeOptions,
  ResumeReport,
  StatusOptions,
  TaskInspection,
  TaskList,
  TaskListOptions,
} from "../operations.ts";
import { discard } from "./discard.ts";
import { inspectTask } from "./inspect.ts";
import { findListener, listListeners } from "./listeners.ts";
import { pause, resume } from "./pause.ts";
import { prune } from "./prune.ts";
import { requeue } from "./requeue.ts";
import { scanStatus } from "./status.ts";
import { Listings } from "./_listings.ts";
import { listTasksWith } from "./task_list.ts";

/** The operations of one event root. */
export class FileOperations implements Operations {
  /** What the last status scans and task lists learnt of directories, reused while they are unchanged. */
  readonly #listings = new Listings();

  constructor(readonly root: string, readonly defaults: { durable: boolean } = { durable: true }) {}

  listeners(): Promise<Listener[]> {
    return listListeners(this.root);
  }

  findListener(id: string): Promise<Listener> {
    return findListener(this.root, id);
  }

  status(options?: StatusOptions): Promise<StatusReport> {
    return scanStatus(this.root, options ?? {}, this.#listings);
  }

  inspect(options: InspectOptions): Promise<TaskInspection> {
    return inspectTask(this.root, options);
  }

  requeue(options: RequeueOptions): Promise<RequeueReport> {
    return requeue(this.root, { durable: this.defaults.durable, ...options });
  }

  prune(options: PruneOptions): Promise<PruneReport> {
    return prune(this.root, options);
  }

  pause(options: PauseOptions): Promise<PauseReport> {
    return pause(this.root, options);
  }

  resume(options: ResumeOptions): Promise<ResumeReport> {
    return resume(this.root, options);
  }

  discard(options: DiscardOptions): Promise<DiscardReport> {
    return discard(this.root, { durable: this.defaults.durable, ...options });
  }

  tasks(options: TaskListOptions): Promise<TaskList> {
    return listTasksWith(this.root, options, this.#listings);
  }
}

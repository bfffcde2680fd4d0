/** The file backend's types: listeners, state directories, claims (shared by the parts of `FileStore`). */
import type { Layout } from "../../protocol/layout.ts";
import type { Listener } from "../../protocol/listener_id.ts";
import type { LockFileOptions } from "./_fs.ts";

/** A listener directory found under the root: the listener (its name is the directory name without `_listener`). */
export interface ListenerRef extends Listener {
  /** Absolute path of its directory. */
  dir: string;
}

/** How a wait for a lock ends and what it says; see `lockFile()`. */
export type LockWaitOptions = Pick<LockFileOptions, "signal" | "timeoutMs" | "onWait">;

/** The states a task file can be moved to. */
export type Destination = typeof Layout.ARCHIVE | typeof Layout.ERROR;
/** Where a task waits or runs: the inbox, or claimed in `inflight/`. */
export type TaskDir = typeof Layout.INBOX | typeof Layout.INFLIGHT;
/** Any directory a task file can be in. */
export type StateDir = Destination | TaskDir;

/** A task claimed by a parallel worker. */
export interface Claim {
  /** The file name in `inflight/`: `<N>.json~<owner>`. */
  file: string;
  /** The sequence number. */
  sequence: number;
  /** The task's own file name, `<N>.json`. */
  task: string;
  /** The claiming worker's id. */
  owner: string;
}

/** What `listInbox` found. */
export interface InboxListing {
  /** The sequence numbers of the task files, ascending; the file of N is `<N>.json`. */
  sequences: number[];
  /** Entries that are not `<N>.json` regular files (dotfiles excluded). */
  strays: Deno.DirEntry[];
}

/** What the parts of a `FileStore` share: its settings, its staging names and its checks of paths (internal). */
export interface StoreHost {
  /** Flush files and directories to disk before a write is reported done. */
  readonly durable: boolean;
  /** How `deliver()` waits for a dispatch lock. */
  readonly dispatchLockWait: LockWaitOptions;
  /** Lock files already checked not to be links. */
  readonly lockFiles: Set<string>;
  /** A fresh staging path in `<dir>/tmp/`. */
  tmpPath(dir: string, kind: string): string;
  /** Checks a listener's directories once (refusing links), creating the inbox and `tmp/`. */
  checkListener(listener: ListenerRef): void;
  /** Forgets that a listener was checked. */
  uncheck(listener: ListenerRef): void;
  /** Creates a directory if needed, refusing a link or a file in its place. */
  ensureDir(path: string): void;
  /** Creates a state directory of a listener if needed. */
  ensureStateDir(listener: ListenerRef, dir: StateDir | typeof Layout.WORKERS): string;
}

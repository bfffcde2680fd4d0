/**
 * The names inside a listener directory. `inbox/`, `archive/`, `error/` and
 * `tracking.json` are the PHP library's; the rest are hurah's and PHP never
 * looks at them.
 */
export const Layout = {
  /** Pending tasks, `<N>.json`. */
  INBOX: "inbox",
  /** Tasks whose handler returned SUCCESS. */
  ARCHIVE: "archive",
  /** Tasks that failed for good, and quarantined files. */
  ERROR: "error",
  /**
   * Tasks claimed by a parallel worker: `<N>.json~<workerId>`. PHP never
   * looks here, so a claimed task is invisible to a PHP runner.
   */
  INFLIGHT: "inflight",
  /**
   * One lease file per live parallel worker, `<workerId>.json`: its owner
   * holds a flock on it and renews its mtime while it works.
   */
  WORKERS: "workers",
  /** Separates a task file name from its owner in `inflight/`. */
  CLAIM_SEPARATOR: "~",
  /** Staging area for atomic writes; files here never end in `.json`. */
  TMP: "tmp",
  /** The listener's sequence counter. */
  TRACKING: "tracking.json",
  /** Held (flock) by a dispatcher while it allocates a sequence number. */
  DISPATCH_LOCK: "dispatch.lock",
  /** Held (flock) by the runner working this listener. */
  RUN_LOCK: "run.lock",
  /**
   * Present while an operator has paused the listener (`hurah pause`): who,
   * since when and why, as JSON. Runners take no new task while it is there.
   */
  PAUSED: "paused.json",
  /** Suffix of the note written beside a quarantined file in `error/`. */
  REASON_SUFFIX: ".reason.txt",
  /**
   * Held (flock) by a parallel worker while it takes its snapshot of the
   * ordering keys pending and in flight, and while a task with an ordering
   * key is put back from `inflight/` into the inbox or taken over.
   */
  ORDER_LOCK: "order.lock",
  /**
   * Created (empty, never removed) by a dispatcher before it writes the
   * listener's first task with an ordering key: a parallel worker reads the
   * tasks' keys only where it is there.
   */
  KEYED: "ordering_keys",
} as const;

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
  /** Staging area for atomic writes; files here never end in `.json`. */
  TMP: "tmp",
  /** The listener's sequence counter. */
  TRACKING: "tracking.json",
  /** Held (flock) by a dispatcher while it allocates a sequence number. */
  DISPATCH_LOCK: "dispatch.lock",
  /** Held (flock) by the runner working this listener. */
  RUN_LOCK: "run.lock",
  /** Suffix of the note written beside a quarantined file in `error/`. */
  REASON_SUFFIX: ".reason.txt",
} as const;

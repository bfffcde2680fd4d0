/** Waits for a lock another process holds: what a waiter hears of one, and how it is said. */

/** A wait for a lock that another process holds (another runner, a dispatcher), as `onWait` hears of it. */
export interface LockWait {
  /** What is waited for: the lock file. */
  path: string;
  /** How long it has waited so far, in milliseconds. */
  waitedMs: number;
  /** How long it waits at most, in milliseconds (`Infinity`: until the lock is free or the signal aborts). */
  timeoutMs: number;
  /** The pid of a process holding the lock, from `/proc/locks`, when known (Linux, same host, and `--allow-all`). */
  holderPid?: number;
}

/** How a wait for another worker (or dispatcher) ends and what it says. */
export interface WaitOptions {
  /** Ends the wait, rejecting with the signal's reason. */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds with a `LockTimeoutError`; 0 tries once. @default {Infinity} */
  timeoutMs?: number;
  /** Called once when the wait has lasted a second. @default {one line on stderr} */
  onWait?: (wait: LockWait) => void;
}

/** What a lock wait is, for people: "waiting for the lock <path>, held by pid 1234; waiting up to 30000 ms". */
export function describeLockWait(wait: LockWait): string {
  const holder = wait.holderPid === undefined ? "another process" : `pid ${wait.holderPid}`;
  const bound = wait.timeoutMs === Infinity ? "until it is free or a signal stops this" : `up to ${wait.timeoutMs} ms`;
  return `waiting for the lock ${wait.path}, held by ${holder}; waiting ${bound}`;
}

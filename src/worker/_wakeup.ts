/** A flag that a loop waits on: set by `notify()`, cleared by the loop before each pass. */
export class Wakeup {
  #dirty: boolean;
  #resolve: (() => void) | undefined;

  constructor(dirty = false) {
    this.#dirty = dirty;
  }

  /** Something may have changed: wake the waiter, or make its next wait return at once. */
  notify(): void {
    this.#dirty = true;
    this.#resolve?.();
  }

  /** Forgets earlier notifications; call right before looking. */
  clear(): void {
    this.#dirty = false;
  }

  /** Waits for a notification, `timeoutMs`, or `stop`, whichever comes first. */
  wait(timeoutMs: number, stop: AbortSignal): Promise<void> {
    if (this.#dirty || stop.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stop.removeEventListener("abort", done);
        this.#resolve = undefined;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      stop.addEventListener("abort", done, { once: true });
      this.#resolve = done;
    });
  }
}

/** Waits `ms`, or until `stop` aborts. */
export function sleep(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (stop.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      stop.removeEventListener("abort", done);
      resolve();
    }
    stop.addEventListener("abort", done, { once: true });
  });
}

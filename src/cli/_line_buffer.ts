/**
 * Log lines written in batches: `hurah run` logs a line per task, and one
 * write to stderr per line costs a system call each (as much as a task's
 * own work on tmpfs). Lines keep their order; they are written when a batch
 * is full, when the event loop is next idle (a timer), when the command's
 * signal aborts, and by `flush()` at its end.
 */

/** The most text held before it is written. */
const BATCH_CHARS = 16 * 1024;

/** Lines for `write`, held and written in order, in batches. */
export class LineBuffer implements Disposable {
  readonly #write: (text: string) => void;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.flush();
  #held: string[] = [];
  #chars = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** `write` takes the text of whole lines; `signal` flushes the lines held when it aborts. */
  constructor(write: (text: string) => void, signal?: AbortSignal) {
    this.#write = write;
    this.#signal = signal;
    signal?.addEventListener("abort", this.#onAbort);
  }

  /** Holds text (whole lines) to be written after the text held before it. */
  push(text: string): void {
    if (text === "") return;
    this.#held.push(text);
    this.#chars += text.length;
    if (this.#chars >= BATCH_CHARS) this.flush();
    else if (this.#timer === undefined) this.#timer = setTimeout(() => this.flush(), 0);
  }

  /** Writes every line held, now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#held.length === 0) return;
    const text = this.#held.join("");
    this.#held = [];
    this.#chars = 0;
    this.#write(text);
  }

  /** Flushes and stops answering the signal. */
  [Symbol.dispose](): void {
    this.flush();
    this.#signal?.removeEventListener("abort", this.#onAbort);
  }
}

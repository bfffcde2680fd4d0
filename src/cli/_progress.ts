/**
 * A progress line for `hurah run` on a terminal: done/total, rate and ETA,
 * redrawn in place at most ten times a second. Log lines are written above
 * it: the line is cleared, the log line written, the line drawn again.
 */
export class Progress {
  #total = 0;
  #done = 0;
  #drawn = false;
  #lastDraw = -Infinity;
  readonly #started: number;

  constructor(
    readonly write: (text: string) => void,
    readonly now: () => number = () => performance.now(),
  ) {
    this.#started = now();
  }

  /** Adds tasks found waiting. */
  backlog(pending: number): void {
    this.#total = Math.max(this.#total, this.#done + pending);
  }

  /** Writes a log line above the progress line, counting it if it is a handled task. */
  log(text: string, handled: boolean): void {
    if (handled) this.#done++;
    this.#clear();
    if (text) this.write(text);
    this.#draw();
  }

  /** Removes the progress line. */
  finish(): void {
    this.#clear();
  }

  /** The progress text, as `1200/5000 tasks, 830/s, ETA 5s`. */
  text(): string {
    const seconds = (this.now() - this.#started) / 1000;
    const rate = seconds > 0 ? this.#done / seconds : 0;
    const left = this.#total - this.#done;
    const eta = rate > 0 ? `, ETA ${formatSeconds(left / rate)}` : "";
    return `${this.#done}/${this.#total} tasks, ${Math.round(rate)}/s${eta}`;
  }

  #clear(): void {
    if (this.#drawn) this.write("\r\x1b[K");
    this.#drawn = false;
  }

  /** Draws the line, at most ten times a second (between log lines it may stay away a moment). */
  #draw(): void {
    const now = this.now();
    if (this.#total < 2 || now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    this.write(this.text());
    this.#drawn = true;
  }
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.ceil(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`;
}

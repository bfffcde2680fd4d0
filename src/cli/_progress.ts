/**
 * A progress line for `hurah run` on a terminal: done/total, rate and ETA,
 * kept as a footer below the log. Each log line is written above it in the
 * same write as the line drawn again (so that it is on screen between log
 * lines, however many there are); its figures are computed again at most ten
 * times a second.
 */
export class Progress {
  #total = 0;
  #done = 0;
  #drawn = false;
  /** The line as last computed, and when. */
  #line = "";
  #computedAt = -Infinity;
  /** The line on screen now. */
  #shown = "";
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

  /** Writes a log line above the progress line, counting it if it is a handled task, and draws the line again. */
  log(text: string, handled: boolean): void {
    if (handled) this.#done++;
    const line = this.#current();
    if (!text && (line === "" || (this.#drawn && line === this.#shown))) return;
    this.write((this.#drawn ? "\r\x1b[K" : "") + text + line);
    this.#drawn = line !== "";
    this.#shown = line;
  }

  /** Removes the progress line. */
  finish(): void {
    if (this.#drawn) this.write("\r\x1b[K");
    this.#drawn = false;
  }

  /** The progress text, as `1200/5000 tasks, 830/s, ETA 5s`. */
  text(): string {
    const seconds = (this.now() - this.#started) / 1000;
    const rate = seconds > 0 ? this.#done / seconds : 0;
    const left = this.#total - this.#done;
    const eta = rate > 0 ? `, ETA ${formatSeconds(left / rate)}` : "";
    return `${this.#done}/${this.#total} tasks, ${Math.round(rate)}/s${eta}`;
  }

  /** The line to draw: none for fewer than 2 tasks; its figures computed again at most ten times a second. */
  #current(): string {
    if (this.#total < 2) return "";
    const now = this.now();
    if (now - this.#computedAt >= 100) {
      this.#computedAt = now;
      this.#line = this.text();
    }
    return this.#line;
  }
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.ceil(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`;
}

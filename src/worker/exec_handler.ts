import { ExecHandlerError } from "../errors.ts";
import { isTaskResult, type TaskResult } from "../protocol/transition.ts";
import { encodeTask } from "../protocol/task_file.ts";
import type { HandlerLike, TaskContext } from "./handler.ts";

/** Options of {@linkcode execHandler}. */
export interface ExecHandlerOptions {
  /**
   * How many retries a task gets (the handler's `maxAttempts()`).
   * @default {0}
   */
  maxAttempts?: number;
  /**
   * The working directory of the command.
   * @default {Deno.cwd()}
   */
  cwd?: string;
  /**
   * How many bytes of the command's standard error to keep for the failure record.
   * @default {4096}
   */
  stderrTailBytes?: number;
}

/**
 * A handler that runs a shell command for each task, in any language: the
 * task's JSON on its standard input, its main fields in the environment
 * (`HURAH_LISTENER`, `HURAH_LISTENER_ID`, `HURAH_EVENT_TYPE`, `HURAH_SEQUENCE`, `HURAH_RETRY_COUNT`,
 * `HURAH_TASK_ID`, `HURAH_DELIVERY`), and its exit status as the Task code:
 * 0 SUCCESS, 1 FAILURE, 2 RETRY, 3 INVALID. Any other status, or death by a
 * signal, is an error whose status and standard error tail are recorded.
 * Each line of its standard error goes to hurah's log through
 * `TaskContext.log()` (an `output` event naming the task), and the last
 * lines are kept in the failure record of every result but SUCCESS.
 *
 * The command runs as `sh -c <command>` in a process group of its own
 * (through `setsid` on Linux), so when the task's signal aborts (time limit,
 * shutdown) the whole group is killed, grandchildren included. Standard
 * output is drained and discarded.
 *
 * Requires `--allow-run` (for `sh` and `setsid`).
 *
 * @param command The shell command, as `php bin/handle.php`.
 * @param options Retries, working directory and stderr tail size.
 * @returns The handler.
 *
 * @example A PHP handler run per task
 * ```ts ignore
 * import { execHandler, runOnce } from "jsr:@hurah/events";
 * await runOnce("/var/lib/hurah", {
 *   name: "mailer",
 *   eventType: "user/signup",
 *   handler: execHandler("php bin/send_welcome_mail.php", { maxAttempts: 3 }),
 * });
 * ```
 */
export function execHandler(command: string, options: ExecHandlerOptions = {}): HandlerLike {
  const { maxAttempts = 0, cwd, stderrTailBytes = 4096 } = options;
  return {
    maxAttempts: () => maxAttempts,
    handleTask: (context) => runCommand(command, context, cwd, stderrTailBytes),
  };
}

/** How long to keep reading a finished command's pipes that a grandchild holds open. */
const PIPE_GRACE_MS = 1000;

async function runCommand(command: string, context: TaskContext, cwd: string | undefined, tailBytes: number) {
  const group = Deno.build.os === "linux";
  const child = new Deno.Command(group ? "setsid" : "sh", {
    args: group ? ["sh", "-c", command] : ["-c", command],
    cwd,
    env: {
      HURAH_LISTENER: context.listener,
      HURAH_LISTENER_ID: context.listenerId,
      HURAH_EVENT_TYPE: context.eventType ?? "",
      HURAH_SEQUENCE: String(context.sequence),
      HURAH_RETRY_COUNT: String(context.retryCount),
      HURAH_TASK_ID: context.taskId ?? "",
      HURAH_DELIVERY: context.delivery,
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const kill = () => {
    try {
      if (group) Deno.kill(-child.pid, "SIGKILL");
      else child.kill("SIGKILL");
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) && !(error instanceof TypeError)) throw error;
    }
  };
  context.signal.addEventListener("abort", kill, { once: true });
  try {
    const feeding = feed(child.stdin, encodeTask(context.record));
    const stdout = drain(child.stdout, 0);
    const stderr = drain(child.stderr, tailBytes, (line) => context.log(line));
    const status = await child.status;
    // A grandchild left running may hold the pipes open: read on for a moment, then let go.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const letGo = new Promise<void>((resolve) => timer = setTimeout(resolve, PIPE_GRACE_MS));
    await Promise.race([Promise.all([stdout.done, stderr.done, feeding]), letGo]);
    clearTimeout(timer);
    stdout.cancel();
    stderr.cancel();
    const stderrTail = await stderr.done;
    if (status.signal === null && isTaskResult(status.code)) return status.code as TaskResult;
    throw new ExecHandlerError(command, { code: status.code, signal: status.signal }, stderrTail);
  } finally {
    context.signal.removeEventListener("abort", kill);
  }
}

/** Writes the task to the child's stdin; a child that does not read it is fine. */
async function feed(stdin: WritableStream<Uint8Array>, text: string): Promise<void> {
  const writer = stdin.getWriter();
  try {
    await writer.write(new TextEncoder().encode(text + "\n"));
    await writer.close();
  } catch {
    // The command exited or closed its stdin without reading everything.
  } finally {
    writer.releaseLock();
  }
}

/** A line longer than this is passed on in pieces of this many characters. */
const MAX_LINE_CHARS = 4096;

/**
 * Reads a stream to its end (or until cancelled), keeping only the last
 * `keep` bytes, as text; each line is passed to `onLine` when given (a last
 * line without a newline too).
 */
function drain(
  stream: ReadableStream<Uint8Array>,
  keep: number,
  onLine?: (line: string) => void,
): { done: Promise<string>; cancel(): void } {
  const reader = stream.getReader();
  let tail = new Uint8Array(0);
  const lines = new TextDecoder();
  let partial = "";
  const emit = (line: string) => {
    for (let at = 0; at < line.length || at === 0; at += MAX_LINE_CHARS) onLine!(line.slice(at, at + MAX_LINE_CHARS));
  };
  const pass = (text: string, end: boolean) => {
    if (onLine === undefined) return;
    const parts = (partial + text).split("\n");
    partial = parts.pop()!;
    for (const line of parts) emit(line.replace(/\r$/, ""));
    while (partial.length > MAX_LINE_CHARS) {
      emit(partial.slice(0, MAX_LINE_CHARS));
      partial = partial.slice(MAX_LINE_CHARS);
    }
    if (end && partial !== "") {
      emit(partial);
      partial = "";
    }
  };
  const done = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pass(lines.decode(value, { stream: true }), false);
        if (keep === 0) continue;
        const joined = new Uint8Array(tail.length + value.length);
        joined.set(tail);
        joined.set(value, tail.length);
        tail = joined.slice(Math.max(0, joined.length - keep));
      }
    } catch {
      // cancelled
    }
    pass(lines.decode(), true);
    return new TextDecoder().decode(tail);
  })();
  return { done, cancel: () => void reader.cancel().catch(() => {}) };
}

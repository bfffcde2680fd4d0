import { type RunEvent, runOnce, type RunReport } from "../worker/run_once.ts";
import { Progress } from "./_progress.ts";
import { LockTimeoutError } from "../errors.ts";
import { HANDLER_OPTIONS, handlerSpecs, loadSpecs } from "./_handlers.ts";
import { argumentHelp, flagHelp, usageLines } from "./_handler_help.ts";
import type { CliIo } from "./_io.ts";
import { requireRoot } from "./_root.ts";
import { brokerHelp, openTarget, refuseFileOptions } from "./_backend.ts";
import {
  commandOptions,
  eventFormatter,
  lockWaitFormatter,
  LOG_OPTIONS,
  logHelp,
  logSettings,
  noticeFormatter,
} from "./_log.ts";
import denoJson from "../../deno.json" with { type: "json" };
import { archivePolicy, parallelOptions, parseOptions, taskSizeOption, waitOption } from "./_options.ts";
import { LineBuffer } from "./_line_buffer.ts";
import { listenerId } from "../protocol/listener_id.ts";

/** Help text of `hurah run`. */
export const RUN_HELP = `${usageLines("run")}

Registers the listener <handler_name> on <event_type> and handles every task
in its inbox once, in sequence order (PHP's worker:runner). A second runner of
the same listener waits for the first to finish, then makes its own pass;
after a second of waiting it names the holder's pid on stderr. From cron, use
--no-wait (as flock -n): a run that finds another still running exits 75.
A listener paused with 'hurah pause' is not worked: nothing is taken, the
summary says who paused it, exit 0.
Before its pass it delivers the delayed events of the root that are due
('hurah dispatch --delay/--at', any event type).

Arguments:
  handler_name   the listener's name; its directory is <name>_listener
  event_type     the event type it listens to, as product or product/created;
                 '' for the root type
${argumentHelp(17)}  event_root     the event root (default: --root, then $HURAH_ROOT)

Options:
  --root DIR            the event root
${brokerHelp(24)}${flagHelp(24, true)}  --config FILE         handle every listener of a config file, one after another
  --max-attempts N      retries allowed (an exec handler's maxAttempts())
  --max-lost N          lost attempts (a parallel worker died) a task may
                        have before it goes to error/ (default 3)
  --timeout DURATION    per-task time limit, as 30s (a timeout counts as RETRY)
  --concurrency N       handle N tasks at once (parallel mode; default 1: one
                        at a time, in sequence order). See below.
  --host-id ID          parallel mode: this host's id (default: the hostname)
  --lease DURATION      parallel mode: worker lease length (default 30s),
                        judged by the file system's clock, not this host's
  --archive POLICY      what SUCCESS does: keep (default) the task in archive/,
                        delete it, or a retention like 7d: keep it, and delete
                        archived tasks older than that after each pass
  --max-task-size SIZE  the largest task file read, as 16MiB (the default);
                        larger ones are quarantined unread
  --wait DURATION       wait at most this long for another runner of the
                        listener to finish, then exit 75 (default: as long as
                        it takes; SIGTERM or SIGINT ends the wait)
  --no-wait             do not wait: exit 75 at once if another runner of the
                        listener is busy (for cron)
  --no-fsync            do not flush rewritten task files to disk
  --create-root         create the event root if it does not exist (by
                        default a missing root is refused: a typo, mostly)
${logHelp(22)}  --json                print the pass report as JSON on stdout (with --config:
                        one document, {"listeners": [report, ...]})
  -h, --help            show this help

Task results: SUCCESS -> archive/, INVALID -> error/, RETRY -> stays until
maxAttempts() retries, then error/, FAILURE -> stays first in the inbox and
the pass stops. A thrown error (an exec handler's status outside 0-3) and a
timeout count as RETRY when maxAttempts() is above 0, else -> error/; any
other return value -> error/. The reason is recorded in the task file, with
the last lines the handler logged (an exec handler's stderr, which is also
printed, line by line, as "<listener> #<sequence> | <line>"). Log lines and
summaries name a listener <event_type>/<handler_name> (<handler_name> for
the root type).

A task whose handler ran but that cannot be moved on (archive/ not
writable...) is not run again: its fate is recorded, the pass stops with
exit 1, and the next pass only retries the move.

Parallel mode (--concurrency above 1): each task is claimed by moving it
into inflight/, so any number of processes, on this host or others sharing
the root, can work one listener. Order is best-effort FIFO by claim. A
claimed task whose worker died (same host: its lock is free) or whose lease
expired (renewed every third of --lease) goes back to the inbox, the lost
attempt counted in lost_count (not as a retry; error/ after --max-lost):
delivery is at-least-once. Ordered runners of the listener wait while
parallel workers run. Tasks dispatched with an ordering key
(hurah dispatch --ordering-key) run one at a time per key, in sequence
order, across every worker; a RETRY or FAILURE of one holds only its key
(a FAILURE pauses the key with backoff, not the listener).

With --broker (or $HURAH_BROKER) the tasks are on NATS JetStream, not under
an event root: the options of files (--create-root, --no-fsync, --archive,
--wait and --no-wait) are refused (exit 2); --lease
is the ack wait of a parallel listener's consumer. See docs/scale-out.md.

Exit codes: 0 pass completed, 1 a task returned FAILURE, a task could not
be moved on (or an unexpected error), 2 usage error, invalid name or handler
that cannot be loaded, 75 (EX_TEMPFAIL) another runner was busy (--no-wait,
or --wait ran out; with --config the other listeners are still handled),
130/143 SIGINT/SIGTERM while waiting for another runner (nothing handled).
`;

/** `hurah run`: returns the exit code. */
export async function runCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    ...HANDLER_OPTIONS,
    ...LOG_OPTIONS,
    json: { type: "boolean", default: false },
    wait: { type: "string" },
    "no-wait": { type: "boolean", default: false },
  });
  if (values.help) {
    io.stdout(RUN_HELP);
    return 0;
  }
  const logging = logSettings(values, io.env);
  const { format } = logging;
  const { place, specs } = await handlerSpecs(values, positionals, io);
  refuseFileOptions(place, [
    ["--create-root", values["create-root"]],
    ["--no-fsync", values["no-fsync"]],
    ["--archive", values.archive !== undefined],
    ["--wait", values.wait !== undefined],
    ["--no-wait", values["no-wait"]],
  ]);
  if (place.kind === "root") requireRoot(place.root, values["create-root"]);
  const listeners = await loadSpecs(specs);
  const log = eventFormatter(format, io.color, logging);
  const notice = noticeFormatter(logging);
  const parallel = parallelOptions(values);
  const archive = archivePolicy(values.archive);
  const taskSize = taskSizeOption(values);
  const lockTimeoutMs = waitOption(values.wait, values["no-wait"]);
  const lockLine = lockWaitFormatter(format, "run", logging.timestamps);
  let failed = false;
  let busy = false;
  /** With --config and --json: every listener's report, printed as one document at the end. */
  const reports: RunReport[] | undefined = values.json && values.config !== undefined ? [] : undefined;
  const progress = io.stderrIsTerminal && format === "text" ? new Progress(io.stderr) : undefined;
  // Every line to stderr goes through the buffer, so that they stay in order; the progress display writes itself.
  using lines = new LineBuffer(io.stderr, io.signal);
  const stderr = (text: string) => lines.push(text);
  const onEvent = (event: RunEvent) => {
    if (progress === undefined) stderr(log(event));
    else {
      if (event.type === "backlog") progress.backlog(event.pending);
      progress.log(log(event), event.type === "task");
    }
  };
  const ids = listeners.map((listener) => listenerId(listener.name, listener.eventType));
  if (format === "json") {
    stderr(notice("", "start", {
      command: "run",
      version: denoJson.version,
      ...(place.kind === "root" ? { root: place.root } : { broker: place.urls }),
      listeners: ids,
      options: commandOptions(values),
    }));
  }
  await using opened = await openTarget(place);
  for (const listener of listeners) {
    if (io.signal.aborted) break;
    const id = listenerId(listener.name, listener.eventType);
    let report;
    try {
      report = await runOnce(opened.target, {
        ...listener,
        ...parallel,
        ...taskSize,
        archive,
        signal: io.signal,
        lockTimeoutMs,
        onLockWait: (wait) => {
          stderr(lockLine(wait));
          lines.flush(); // a wait is said at once
        },
        durable: !values["no-fsync"],
        onEvent,
      });
    } catch (error) {
      if (!(error instanceof LockTimeoutError)) throw error;
      busy = true;
      stderr(`hurah run: ${id}: another runner is busy (${error.message}); exit 75, try again later\n`);
      continue;
    }
    progress?.finish();
    failed ||= report.failedAt !== undefined;
    lines.flush(); // the task lines before the report
    if (reports !== undefined) reports.push(report);
    else if (values.json) {
      io.stdout(JSON.stringify(report) + "\n");
    } else {
      io.stdout(
        `${id}: ${report.handled} handled, ${report.archived} archived, ${report.errored} to error, ` +
          `${report.retried} to retry, ${report.quarantined} quarantined` +
          (report.failedAt !== undefined ? `; stopped at task ${report.failedAt} (FAILURE)` : "") +
          (report.waitingFor !== undefined ? `; waiting for ${report.waitingFor} to be complete` : "") +
          (report.aborted ? "; interrupted" : "") +
          (report.paused !== undefined ? `; paused by ${report.paused.by} (hurah resume ${id})` : "") + "\n",
      );
    }
  }
  if (reports !== undefined) io.stdout(JSON.stringify({ listeners: reports }) + "\n");
  const code = failed ? 1 : busy ? BUSY_EXIT_CODE : 0;
  if (format === "json") stderr(notice("", "stop", { command: "run", exitCode: code }));
  return code;
}

/** The exit code of a run that found another runner busy: EX_TEMPFAIL, as `flock -n` is used from cron. */
const BUSY_EXIT_CODE = 75;

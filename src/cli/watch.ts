import { watch } from "../worker/watch.ts";
import { handlerSpecs, loadSpecs, WATCH_OPTIONS } from "./_handlers.ts";
import { flagHelp, usageLines } from "./_handler_help.ts";
import type { CliIo } from "./_io.ts";
import { requireRoot } from "./_root.ts";
import { brokerHelp, openTarget, refuseFileOptions } from "./_backend.ts";
import { listenerId } from "../protocol/listener_id.ts";
import { commandOptions, eventFormatter, lockWaitFormatter, logHelp, logSettings, noticeFormatter } from "./_log.ts";
import denoJson from "../../deno.json" with { type: "json" };
import { SCHEDULE_HELP, SCHEDULE_OPTIONS, scheduleLine, watchSchedules } from "./_schedules.ts";
import { startScheduler } from "../schedule/scheduler.ts";
import { connect } from "../backend/connect.ts";
import { workerId } from "../worker/_worker_id.ts";
import {
  archivePolicy,
  duration,
  parallelOptions,
  parseOptions,
  positiveDuration,
  taskSizeOption,
} from "./_options.ts";

/** Help text of `hurah watch`. */
export const WATCH_HELP = `${usageLines("watch")}

Like 'hurah run', but long-running: registers the listener(s), handles the
backlog, then handles each new task as it arrives (Deno.watchFs), until
SIGTERM or SIGINT. Every inbox is listed again when file events were lost,
and every --rescan-interval. RETRY waits before the next attempt (the
handler's retryDelay(), else exponential backoff with jitter, 1 s to 5 min);
FAILURE pauses the listener, then tries the same task again with backoff.
A thrown error or a timeout is retried like RETRY while maxAttempts()
allows. A pass that stops on an unexpected error (FAULT) pauses that
listener with backoff too; a task whose handler ran but that could not be
moved on is not run again: the passes after the pause only retry its move.
A listener paused with 'hurah pause' takes no new task (the running ones
finish; logged PAUSED) until 'hurah resume' (logged RESUMED, within a second).
Every watcher of a root also delivers the delayed events of the root
('hurah dispatch --delay/--at', any event type) within about a second of
their time, each exactly once however many watchers share the root.

On SIGTERM or SIGINT no new task is taken; the running one may finish
within --grace, after which its AbortSignal fires (exec handlers are killed
with their process group) and it stays in the inbox untouched. Exit 0.
A second signal exits at once.

Options:
  --root DIR                 the event root (default: $HURAH_ROOT)
${brokerHelp(29)}${flagHelp(29, false)}  --config FILE              watch every listener of a config file (JSON, or
                             deno.json with a "hurah" key; see the README)
  --max-attempts N           retries allowed (an exec handler's maxAttempts())
  --max-lost N               lost attempts a task may have before error/
                             (default 3; see 'hurah run --help')
  --timeout DURATION         per-task time limit, as 30s (counts as RETRY)
  --concurrency N            handle N tasks at once (parallel mode, see
                             'hurah run --help'); default 1: in order.
                             Tasks with one ordering key run one at a time
  --host-id ID               parallel mode: this host's id (default: hostname)
  --lease DURATION           parallel mode: worker lease length (default 30s),
                             judged by the file system's clock, not this host's
  --grace DURATION           shutdown grace period (default 10s)
  --rescan-interval DURATION safety re-listing interval (default 10s)
${SCHEDULE_HELP}${logHelp(27)}  --archive POLICY           keep (default), delete, or a retention like 7d
                             (archived tasks older than that are deleted hourly)
  --max-task-size SIZE       the largest task file read, as 16MiB (default);
                             larger ones are quarantined unread
  --no-fsync                 do not flush rewritten task files to disk
  --create-root              create the event root if it does not exist (by
                             default a missing root is refused: a typo, mostly)
  -h, --help                 show this help

With --broker (or $HURAH_BROKER) the tasks are on NATS JetStream, not under
an event root: the options of files (--create-root, --no-fsync and --archive)
are refused (exit 2); --lease is the ack wait of a parallel listener's
consumer. See docs/scale-out.md.

Exit codes: 0 stopped by a signal, 1 unexpected error, 2 usage error or a
handler that cannot be loaded (nothing is started then).
`;

/** `hurah watch`: returns the exit code once stopped. */
export async function watchCommand(args: string[], io: CliIo): Promise<number> {
  const parsed = parseOptions(args, { ...WATCH_OPTIONS, ...SCHEDULE_OPTIONS });
  const { schedule, "schedule-missed": missed, ...values } = parsed.values;
  const positionals = parsed.positionals;
  if (values.help) {
    io.stdout(WATCH_HELP);
    return 0;
  }
  const logging = logSettings(values, io.env);
  const graceMs = duration(values.grace, "--grace");
  const rescanIntervalMs = positiveDuration(values["rescan-interval"], "--rescan-interval");
  const { place, specs, schedules: configSchedules } = await handlerSpecs(values, positionals, io);
  const schedules = await watchSchedules({ schedule, "schedule-missed": missed }, configSchedules);
  refuseFileOptions(place, [
    ["--create-root", values["create-root"]],
    ["--no-fsync", values["no-fsync"]],
    ["--archive", values.archive !== undefined],
  ]);
  if (place.kind === "root") requireRoot(place.root, values["create-root"]);
  const listeners = await loadSpecs(specs);
  const log = eventFormatter(logging.format, io.color, logging);
  const notice = noticeFormatter(logging);
  const taskSize = taskSizeOption(values);
  const lockLine = lockWaitFormatter(logging.format, "watch", logging.timestamps);
  // Disposed of after the watcher is done (a signal stops it), so the last settlements reach the broker.
  await using opened = await openTarget(place);
  // Announced before the watcher starts: a backend without schedules (NATS) is refused before anything runs.
  const scheduler = schedules.length === 0 ? undefined : await startScheduler(
    typeof opened.target === "string"
      ? connect({ root: opened.target }, { durable: !values["no-fsync"] })
      : opened.target,
    schedules,
    {
      signal: io.signal,
      worker: workerId(),
      onEvent: (event) => io.stderr(notice(scheduleLine(event), event.type, event)),
    },
  );
  const watcher = watch(opened.target, {
    listeners,
    signal: io.signal,
    graceMs,
    rescanIntervalMs,
    durable: !values["no-fsync"],
    onEvent: (event) => io.stderr(log(event)),
    onLockWait: (wait) => io.stderr(lockLine(wait)),
    ...parallelOptions(values),
    ...taskSize,
    archive: archivePolicy(values.archive),
  });
  await watcher.ready;
  const ids = listeners.map((l) => listenerId(l.name, l.eventType));
  const names = listeners.map((l) => `${l.name} (${JSON.stringify(l.eventType)})`).join(", ");
  io.stderr(notice(`hurah watch: watching ${names} under ${place.kind === "root" ? place.root : place.urls}`, "start", {
    command: "watch",
    version: denoJson.version,
    ...(place.kind === "root" ? { root: place.root } : { broker: place.urls }),
    listeners: ids,
    options: commandOptions(values),
  }));
  io.signal.addEventListener("abort", () => {
    const grace = graceMs === 0 ? "running tasks are stopped at once" : `a running task gets up to ${values.grace}`;
    if (logging.format === "text") io.stderr(notice(`hurah watch: stopping; ${grace}`, "stopping"));
  }, { once: true });
  const reports = await watcher.done;
  await scheduler?.done;
  io.stderr(notice("hurah watch: stopped", "stop", { command: "watch", listeners: reports }));
  return 0;
}

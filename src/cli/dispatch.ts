import {
  checkTaskSize,
  type DelayedDispatchOptions,
  type Delivery,
  Dispatcher,
  type DispatcherOptions,
  type DispatchEvent,
  type DispatchOptions,
} from "../dispatcher.ts";
import { formatAge } from "../protocol/_age.ts";
import { lockWaitFormatter } from "./_log.ts";
import { DeliveryError, InvalidNameError, PayloadError } from "../errors.ts";
import { parseEventType } from "../protocol/names.ts";
import { encodePayload, encodePhpJson } from "../protocol/php_json.ts";
import { DEFAULT_MAX_TASK_SIZE } from "../protocol/task_file.ts";
import { type CliIo, InterruptError, UsageError } from "./_io.ts";
import { BROKER_OPTIONS, brokerHelp, openTarget, refuseFileOptions, resolvePlace, type TaskPlace } from "./_backend.ts";
import { duration, parseOptions, taskSizeOption } from "./_options.ts";

/** Help text of `hurah dispatch`. */
export const DISPATCH_HELP = `Usage: hurah dispatch <event_type> [payload] [options]
       hurah dispatch --batch FILE [options]

Writes one task into the inbox of every listener of <event_type>, of each
parent type and of the root (deepest first), and prints one line per delivery:
<listener> <sequence> <path>.

With --batch, reads many events from FILE (- for stdin), one JSON object a
line: {"event_type": "product/created", "payload": {...}} (payload optional,
null when absent; "ordering_key" optional; blank lines are skipped). Every line is checked before
anything is written; each listener gets the events in the order of the lines,
and its lock and tracking.json are taken once per 512 tasks, not per task.

Arguments:
  event_type     '/'-separated, as product/created; '' for the root type
  payload        JSON text, @file to read it from a file, or - for stdin
                 (default: null)

Options:
  --root DIR     the event root (default: $HURAH_ROOT)
${brokerHelp(17)}  --no-fsync     do not flush to disk before reporting (faster, not durable;
                 event root only: refused with --broker)
  --max-task-size SIZE
                 refuse a payload whose task file would be larger, as
                 16MiB (the default; runners quarantine larger files)
  --batch FILE   dispatch the events of a JSON-lines file (- for stdin)
  --delay DURATION
                 deliver the event later, as 10m, 90s, 2h or 1d: it waits in
                 <root>/.hurah/delayed/, outside every inbox (no runner, PHP's
                 included, sees it early), and a 'hurah watch' of the root
                 delivers it, to the listeners of that moment, within about
                 a second of its time ('hurah run' at the start of its pass).
                 Prints: scheduled <event_id> <due time> <file>
  --at TIME      deliver the event at TIME, ISO 8601 with a zone, as
                 2026-12-24T18:00:00Z or 2026-12-24T19:00:00+01:00; a TIME in
                 the past is due at once (said on stderr). Not with --delay
                 nor --batch; not with --broker (NATS keeps no delayed events)
  --lock-timeout DURATION
                 how long to wait for a listener's dispatch lock that another
                 dispatcher holds (default 30s; a hold normally lasts about a
                 millisecond per task). After a second of waiting the holder's
                 pid is named on stderr (event root only: refused with
                 --broker)
  --key KEY      an idempotency key: a second dispatch of the same event
                 type with KEY within the key's window writes nothing and
                 prints the first dispatch's deliveries, each line ending in
                 " duplicate" (with --json: "duplicate": true); exactly one
                 of several dispatchers with one key at once delivers
  --key-window DURATION
                 how long KEY is remembered (default 24h; with --key only)
  --ordering-key KEY
                 tasks with the same ordering key run one at a time, in
                 order, in a listener watched with --concurrency above 1
                 (with --batch: an "ordering_key" field per line)
  --json         print the deliveries as a JSON array (with --batch: one
                 array per event; with --delay or --at: the scheduled event
                 as an object)
  -h, --help     show this help

Exit codes: 0 delivered (or no listener: said on stderr), 1 an error (a
full disk, a listener whose sequence numbers are used up, a dispatch lock
still held after --lock-timeout...): what was delivered before it is printed
as usual, the error on stderr; 2 usage error or invalid input (nothing
written); 130/143 interrupted by SIGINT/SIGTERM while waiting for a lock
(nothing written to that listener).
`;

/** `hurah dispatch`: returns the exit code. */
export async function dispatchCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions(args, {
    root: { type: "string" },
    ...BROKER_OPTIONS,
    batch: { type: "string" },
    delay: { type: "string" },
    at: { type: "string" },
    "lock-timeout": { type: "string" },
    "no-fsync": { type: "boolean", default: false },
    "max-task-size": { type: "string" },
    key: { type: "string" },
    "key-window": { type: "string" },
    "ordering-key": { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (values.help) {
    io.stdout(DISPATCH_HELP);
    return 0;
  }
  const delayed = delayOption(values, io);
  if (values["key-window"] !== undefined && values.key === undefined) {
    throw new UsageError("--key-window is the window of --key; add --key KEY");
  }
  if (values.batch !== undefined) {
    if (delayed !== undefined) throw new UsageError(`${delayed.flag} delays one event; it does not go with --batch`);
    if (values.key !== undefined || values["ordering-key"] !== undefined) {
      throw new UsageError(
        '--key and --ordering-key are for one event; with --batch give each line an "ordering_key" field',
      );
    }
    if (positionals.length > 0) {
      throw new UsageError(`--batch takes its events from ${values.batch}; found arguments ${positionals.join(" ")}`);
    }
    return await dispatchBatch(values.batch, values, io);
  }
  if (positionals.length < 1) throw new UsageError("missing <event_type>");
  if (positionals.length > 2) {
    throw new UsageError(`expected <event_type> [payload], found ${positionals.length} arguments; quote the payload`);
  }
  const [eventType, payloadArg] = positionals;
  const payload = await readPayload(payloadArg, io);
  const place = dispatchPlace(values, io);
  await using opened = await openTarget(place);
  const dispatcher = new Dispatcher(opened.target, { ...dispatcherOptions(values, io), ...taskSizeOption(values) });
  const options: DispatchOptions = {};
  if (values.key !== undefined) {
    options.key = values.key;
    options.window = duration(values["key-window"] ?? "24h", "--key-window");
    if (options.window <= 0) throw new UsageError(`--key-window must be longer than 0, found ${values["key-window"]}`);
  }
  if (values["ordering-key"] !== undefined) options.orderingKey = values["ordering-key"];
  for (const [option, value] of [["--key", options.key], ["--ordering-key", options.orderingKey]]) {
    if (value === "") throw new UsageError(`${option} must not be empty`);
  }
  if (delayed !== undefined) {
    if (options.key !== undefined || options.orderingKey !== undefined) {
      throw new UsageError(
        `--key and --ordering-key do not go with ${delayed.flag} (yet): dispatch at once to use them`,
      );
    }
    let scheduled;
    try {
      scheduled = await dispatcher.dispatch(eventType, payload, delayed.options);
    } catch (error) {
      if (error instanceof RangeError) throw new UsageError(`${delayed.flag}: ${error.message}`);
      throw error;
    }
    if (values.json) io.stdout(JSON.stringify(scheduled) + "\n");
    else io.stdout(`scheduled ${scheduled.eventId} ${scheduled.notBefore} ${scheduled.location}\n`);
    return 0;
  }
  let deliveries: Delivery[];
  try {
    deliveries = await dispatcher.dispatch(eventType, payload, options);
  } catch (error) {
    if (!(error instanceof DeliveryError)) throw error;
    // Reached some listeners: say which, so that a retry can leave them out.
    printDeliveries(error.deliveries[0], values.json, io);
    io.stderr(`hurah dispatch: ${error.message}\n`);
    return failedExitCode(error);
  }
  printDeliveries(deliveries, values.json, io);
  if (deliveries.length > 0 && deliveries[0].duplicate) {
    io.stderr(
      `hurah dispatch: duplicate: key ${JSON.stringify(values.key)} of ${JSON.stringify(eventType)} was ` +
        "dispatched before, within its window; nothing written (the first dispatch's deliveries are printed)\n",
    );
    return 0;
  }
  if (deliveries.length === 0) {
    io.stderr(
      `hurah dispatch: no listener for ${JSON.stringify(eventType)} under ${dispatcher.root}; nothing delivered\n`,
    );
  } else if (deliveries.every((delivery) => delivery.listenerEventType !== eventType)) {
    const types = [...new Set(deliveries.map((delivery) => delivery.listenerEventType || "the root type"))];
    io.stderr(
      `hurah dispatch: note: ${JSON.stringify(eventType)} has no listener of its own; delivered to listeners of ` +
        `${types.join(", ")} only\n`,
    );
  }
  return 0;
}

/**
 * `--delay` or `--at` as `dispatch()` options, with the flag given; `undefined` without either.
 * @throws {UsageError} For both, a bad duration or time, a time without a zone.
 */
function delayOption(
  values: { delay?: string; at?: string },
  io: CliIo,
): { flag: string; options: DelayedDispatchOptions } | undefined {
  if (values.delay !== undefined && values.at !== undefined) {
    throw new UsageError("--delay and --at exclude each other; give one");
  }
  if (values.delay !== undefined) return { flag: "--delay", options: { delay: duration(values.delay, "--delay") } };
  if (values.at === undefined) return undefined;
  const text = values.at.trim();
  const iso = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;
  const at = iso.test(text) ? new Date(text) : new Date(NaN);
  if (Number.isNaN(at.getTime())) {
    throw new UsageError(
      `--at must be a time in ISO 8601 with a zone, as 2026-12-24T18:00:00Z or 2026-12-24T19:00:00+01:00, ` +
        `found ${JSON.stringify(values.at)}`,
    );
  }
  const agoMs = Date.now() - at.getTime();
  if (agoMs > 0) {
    io.stderr(`hurah dispatch: note: --at ${values.at} is ${formatAge(agoMs)} ago; the event is due at once\n`);
  }
  return { flag: "--at", options: { notBefore: at } };
}

/** Where the events go; --no-fsync and --lock-timeout are for an event root only. */
function dispatchPlace(
  values: { root?: string; broker?: string; replicas?: string; "no-fsync": boolean; "lock-timeout"?: string },
  io: CliIo,
): TaskPlace {
  const place = resolvePlace(undefined, values, io);
  const lockTimeout = values["lock-timeout"] !== undefined;
  refuseFileOptions(place, [["--no-fsync", values["no-fsync"]], ["--lock-timeout", lockTimeout]]);
  return place;
}

/** Durability, lock wait (its notice on stderr) and signal of the command's `Dispatcher`. */
function dispatcherOptions(values: { "no-fsync": boolean; "lock-timeout"?: string }, io: CliIo): DispatcherOptions {
  const lockLine = lockWaitFormatter("text", "dispatch");
  return {
    durable: !values["no-fsync"],
    lockTimeoutMs: duration(values["lock-timeout"] ?? "30s", "--lock-timeout"),
    signal: io.signal,
    onLockWait: (wait) => io.stderr(lockLine(wait)),
  };
}

/** Prints deliveries as `<listener> <sequence> <path>` lines, or as one JSON array. */
function printDeliveries(deliveries: readonly Delivery[], json: boolean, io: CliIo): void {
  if (json) io.stdout(JSON.stringify(deliveries) + "\n");
  else {for (const d of deliveries) {
      io.stdout(`${d.listener} ${d.sequence} ${d.path}${d.duplicate ? " duplicate" : ""}\n`);
    }}
}

/**
 * Events per `dispatchMany()` call: deliveries are printed call by call, so
 * that after an I/O error part-way the output shows the calls that completed.
 */
const EVENTS_PER_CALL = 2_048;

/** How many events that reached no listener a batch names; the rest are counted. */
const UNREACHED_NAMED = 5;

async function dispatchBatch(
  source: string,
  options: {
    root?: string;
    broker?: string;
    replicas?: string;
    "no-fsync": boolean;
    "max-task-size"?: string;
    json: boolean;
    "lock-timeout"?: string;
  },
  io: CliIo,
): Promise<number> {
  const { maxTaskSize } = taskSizeOption(options);
  const { events, lines: lineOf } = parseEventLines(
    await readSource(source, "batch file", io),
    source === "-" ? "standard input" : source,
    maxTaskSize ?? DEFAULT_MAX_TASK_SIZE,
  );
  const place = dispatchPlace(options, io);
  await using opened = await openTarget(place);
  const dispatcher = new Dispatcher(opened.target, { ...dispatcherOptions(options, io), maxTaskSize });
  let deliveries = 0;
  /** The event types (line numbers) of the events that reached no listener. */
  const unreached: string[] = [];
  let separator = "[";
  let failure: DeliveryError | undefined;
  for (let start = 0; start < events.length && failure === undefined; start += EVENTS_PER_CALL) {
    let results: Delivery[][];
    try {
      results = await dispatcher.dispatchMany(events.slice(start, start + EVENTS_PER_CALL));
    } catch (error) {
      if (!(error instanceof DeliveryError)) throw error;
      // The events up to the last one delivered anywhere; the rest were not written.
      failure = error;
      results = error.deliveries.slice(0, error.deliveries.findLastIndex((each) => each.length > 0) + 1);
    }
    for (const [k, each] of results.entries()) {
      deliveries += each.length;
      if (each.length === 0) unreached.push(`${events[start + k].eventType} (line ${lineOf[start + k]})`);
      if (options.json) {
        io.stdout(separator + JSON.stringify(each) + "\n");
        separator = ",";
      } else {
        for (const d of each) io.stdout(`${d.listener} ${d.sequence} ${d.path}\n`);
      }
    }
  }
  if (options.json) io.stdout(separator === "[" ? "[]\n" : "]\n");
  if (failure !== undefined) {
    io.stderr(`hurah dispatch: ${failure.message}\n`);
    return failedExitCode(failure);
  }
  const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  io.stderr(
    `hurah dispatch: ${count(events.length, "event", "events")}, ` +
      `${count(deliveries, "delivery", "deliveries")} under ${dispatcher.root}\n`,
  );
  if (unreached.length > 0) {
    const named = unreached.slice(0, UNREACHED_NAMED).join(", ");
    const more = unreached.length > UNREACHED_NAMED ? `, and ${unreached.length - UNREACHED_NAMED} more` : "";
    io.stderr(`hurah dispatch: ${count(unreached.length, "event", "events")} reached no listener: ${named}${more}\n`);
  }
  return 0;
}

/**
 * The events of a JSON-lines text (with their line numbers), each line checked as `dispatchMany()`
 * will check it, so that a mistake is reported with its line number and
 * nothing is written.
 */
function parseEventLines(
  text: string,
  source: string,
  maxTaskSize: number,
): { events: DispatchEvent[]; lines: number[] } {
  const events: DispatchEvent[] = [];
  /** Each event's line number. */
  const lines: number[] = [];
  for (const [k, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    const where = `${source} line ${k + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new UsageError(`${where} is not valid JSON (${(error as Error).message})`);
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new UsageError(`${where}: expected an object {"event_type": ..., "payload": ...}`);
    }
    const { event_type: eventType, ...rest } = value as Record<string, unknown>;
    const { ordering_key: orderingKey, ...fields } = rest;
    const unknown = Object.keys(fields).filter((key) => key !== "payload");
    if (unknown.length > 0) {
      throw new UsageError(
        `${where}: unknown field ${JSON.stringify(unknown[0])}; ` +
          "expected event_type and payload (and, optionally, ordering_key)",
      );
    }
    if (orderingKey !== undefined && (typeof orderingKey !== "string" || orderingKey === "")) {
      throw new UsageError(`${where}: "ordering_key" must be a non-empty string`);
    }
    if (typeof eventType !== "string") throw new UsageError(`${where}: "event_type" must be a string`);
    try {
      parseEventType(eventType);
      checkTaskSize(
        encodePhpJson(encodePayload(Object.hasOwn(rest, "payload") ? rest.payload : null)),
        eventType,
        maxTaskSize,
      );
    } catch (error) {
      if (error instanceof InvalidNameError || error instanceof PayloadError) {
        throw new UsageError(`${where}: ${error.message}`);
      }
      throw error;
    }
    const event: DispatchEvent = Object.hasOwn(rest, "payload") ? { eventType, payload: rest.payload } : { eventType };
    if (orderingKey !== undefined) event.orderingKey = orderingKey;
    events.push(event);
    lines.push(k + 1);
  }
  return { events, lines };
}

/** Standard input for `-`, else the file's text; `what` names the file in the error. */
async function readSource(source: string, what: string, io: CliIo): Promise<string> {
  if (source === "-") return await io.readStdin();
  try {
    return await Deno.readTextFile(source);
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${source}: ${(error as Error).message}`);
  }
}

async function readPayload(arg: string | undefined, io: CliIo): Promise<unknown> {
  if (arg === undefined) return null;
  const fromInput = arg === "-" || arg.startsWith("@");
  const text = fromInput ? await readSource(arg === "-" ? arg : arg.slice(1), "payload file", io) : arg;
  const source = arg === "-" ? "standard input" : fromInput ? arg.slice(1) : "the payload argument";
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${source} is not valid JSON (${(error as Error).message}); quote strings as '"text"'`);
  }
}

/** The exit code of a dispatch that failed part-way: 130 or 143 when a signal ended it, else 1. */
function failedExitCode(error: DeliveryError): number {
  return error.cause instanceof InterruptError ? error.cause.exitCode : 1;
}

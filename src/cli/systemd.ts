import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { checkHandlerName, parseEventType } from "../protocol/names.ts";
import type { HandlerSpec } from "./_config.ts";
import { handlerArgs, handlerSpecs, WATCH_OPTIONS } from "./_handlers.ts";
import { SCHEDULE_OPTIONS, watchSchedules } from "./_schedules.ts";
import { refuseFileOptions, type TaskPlace } from "./_backend.ts";
import { type CliIo, UsageError } from "./_io.ts";
import { logSettings } from "./_log.ts";
import {
  archivePolicy,
  duration,
  parallelOptions,
  parseOptions,
  positiveDuration,
  taskSizeOption,
} from "./_options.ts";
import { SERVE_OPTIONS, serveSettings } from "./_serve_options.ts";
import { sandbox, settingLines } from "./_unit.ts";
import { checkUser, hurahCommand, unitFile, warnRoot } from "./_unit_file.ts";

/** Help text of `hurah systemd`. */
export const SYSTEMD_HELP = `Usage: hurah systemd <watch arguments> [--service-user USER] [--deno PATH] [options]
       hurah systemd --serve <serve options> [--service-user USER] [--deno PATH]

Prints a systemd service unit that runs 'hurah watch' with the same
arguments (see 'hurah watch --help'), or with --serve, 'hurah serve' (see
'hurah serve --help'). Relative paths are made absolute. A serve unit never
holds the token: it reads HURAH_TOKEN from EnvironmentFile=
/etc/hurah/serve.env (mode 0600) when the address is not a loopback one.
Save it as /etc/systemd/system/hurah-<name>.service, then run
'systemctl daemon-reload && systemctl enable --now hurah-<name>'.

The unit uses Type=exec, Restart=on-failure (but not after exit 2, a usage
error or a handler that does not load), KillSignal=SIGTERM with
KillMode=mixed (only hurah gets SIGTERM; it stops exec handlers itself
after the grace period), TimeoutStopSec = grace + 10 s, and a sandbox that
'systemd-analyze security' rates OK: the file system read-only but for the
event root, no home directories, a private /tmp and /dev, no capabilities,
a system call filter; the network stays. Deno gets read and write access to
the event root, read access to the handler modules' directories, and run
access for exec handlers; see docs/operations.md for every setting.

Options:
  --service-user USER   run the service as USER (User= and Group=); without
                        it the service runs as root, with a warning
  --deno PATH           the deno binary ExecStart runs (default: this one);
                        it must not lie in a package manager's cache (npx)
  --allow-net           let module handlers use the network (deno --allow-net)
  --allow-env           let module handlers read every environment variable
                        (default: HURAH_*, NO_COLOR and JOURNAL_STREAM)
  --allow-run           let module handlers run programs (given anyway when
                        an exec handler is configured)
  --allow-read PATH     let module handlers read PATH too (repeatable)
  --allow-write PATH    let the service write to PATH too: deno --allow-write
                        and ReadWritePaths= (repeatable)
  --allow-all           deno -A: every Deno permission (the sandbox stays)
  -h, --help            show this help

With --broker URL[,URL...] (or $HURAH_BROKER) and --replicas N, the unit
watches the broker: ExecStart gets --broker and --replicas, Deno gets
--allow-net and read access to hurah's src/ (the NATS backend is loaded
when it starts), and there is no event root to write or mount; it starts
after network-online.target. A unit run by deno (not a compiled hurah)
fetches the NATS client from npm into its cache directory at first start.

Exit codes: 0 printed, 2 usage error (a deno binary in a cache, a handler
module that does not exist, ...).
`;

/** The options of `hurah systemd` beyond those of `hurah watch`, for `parseArgs`. */
const SYSTEMD_OPTIONS = {
  "service-user": { type: "string" },
  deno: { type: "string" },
  "allow-net": { type: "boolean", default: false },
  "allow-env": { type: "boolean", default: false },
  "allow-run": { type: "boolean", default: false },
  "allow-read": { type: "string", multiple: true },
  "allow-write": { type: "string", multiple: true },
  "allow-all": { type: "boolean", default: false },
} as const;

/** `hurah systemd`: prints a unit file. */
export async function systemdCommand(args: string[], io: CliIo): Promise<number> {
  if (args[0] === "--serve") return serveUnit(args.slice(1), io);
  const { values: all, positionals } = parseOptions(args, {
    ...WATCH_OPTIONS,
    ...SCHEDULE_OPTIONS,
    ...SYSTEMD_OPTIONS,
  });
  const { "allow-read": allowRead = [], "allow-write": allowWrite = [], schedule, ...rest } = all;
  const { "schedule-missed": missed, ...values } = rest;
  if (values.help) {
    io.stdout(SYSTEMD_HELP);
    return 0;
  }
  const graceMs = duration(values.grace, "--grace");
  positiveDuration(values["rescan-interval"], "--rescan-interval");
  logSettings(values, () => undefined);
  const { place, specs, schedules } = await handlerSpecs(values, positionals, io);
  await watchSchedules({ schedule, "schedule-missed": missed }, schedules); // refused here, not at the start
  // As 'hurah watch --broker' refuses them: refused here, not at the service's start.
  refuseFileOptions(place, [
    ["--create-root", values["create-root"]],
    ["--no-fsync", values["no-fsync"]],
    ["--archive", values.archive !== undefined],
  ]);
  for (const spec of specs) {
    checkHandlerName(spec.name);
    parseEventType(spec.eventType);
  }
  // Checked as 'hurah run' and 'hurah watch' check them, so that a bad value is refused here, not at start.
  parallelOptions(values);
  archivePolicy(values.archive);
  taskSizeOption(values);
  const user = checkUser(values["service-user"]);
  // With a broker there is no event root: nothing of it to read, write or mount.
  const absoluteRoot = place.kind === "root" ? resolve(place.root) : undefined;
  const roots = absoluteRoot === undefined ? [] : [absoluteRoot];
  const config = values.config === undefined ? undefined : resolve(values.config);
  const modules = specs.map(moduleOf).filter((module) => module !== undefined);
  const watchArgs = watchArguments(values, specs, place, config);
  for (const each of schedule ?? []) watchArgs.push("--schedule", each);
  if (missed !== undefined) watchArgs.push("--schedule-missed", missed);

  const readWrite = allowWrite.map((path) => resolve(path));
  const reads = [
    ...roots,
    ...(place.kind === "broker" ? natsSources() : []),
    ...readWrite,
    ...config === undefined ? [] : [config],
    ...new Set(modules.filter((module) => module.path !== undefined).map((module) => dirname(module.path!))),
    ...allowRead.map((path) => resolve(path)),
  ];
  const hurah = hurahCommand(values.deno, {
    read: reads,
    write: [...roots, ...readWrite],
    env: values["allow-env"],
    net: values["allow-net"] || place.kind === "broker",
    run: values["allow-run"] || specs.some((spec) => spec.exec !== undefined),
    all: values["allow-all"],
  });
  const remote = [hurah.cli, ...modules.map((module) => module.url)].some((url) => /^https?:/.test(url ?? ""));
  const { settings, notes } = sandbox({
    root: absoluteRoot,
    readWrite,
    seen: [...hurah.files, ...reads, Deno.cwd()],
  });
  for (const note of notes) io.stderr(`hurah systemd: ${note}\n`);
  if (user === undefined) warnRoot(io);
  const names = specs.map((spec) => spec.name);
  io.stdout(unitFile({
    command: [...hurah.command, "watch", ...watchArgs],
    description: `hurah watch ${names.join(", ")} ${
      place.kind === "root" ? `under ${absoluteRoot}` : `on ${place.urls}`
    }`,
    identifier: syslogIdentifier(names),
    root: absoluteRoot,
    workingDirectory: Deno.cwd(),
    stopTimeoutSec: Math.ceil(graceMs / 1000) + 10,
    user,
    standalone: Deno.build.standalone,
    // A broker is reached over the network, as remote code is: start after the network is up.
    remote: remote || place.kind === "broker",
    sandbox: settingLines(settings),
  }));
  return 0;
}

/** The options of `hurah systemd --serve` beyond those of `hurah serve`. */
const SERVE_UNIT_OPTIONS = {
  "service-user": SYSTEMD_OPTIONS["service-user"],
  deno: SYSTEMD_OPTIONS.deno,
  "allow-all": SYSTEMD_OPTIONS["allow-all"],
} as const;

/** `hurah systemd --serve`: a unit for `hurah serve` with the same options, the token left out. */
function serveUnit(args: string[], io: CliIo): number {
  const { values } = parseOptions(args, { ...SERVE_OPTIONS, ...SERVE_UNIT_OPTIONS });
  if (values.help) {
    io.stdout(SYSTEMD_HELP);
    return 0;
  }
  const user = checkUser(values["service-user"]);
  // Refuses a non-local address without a token, as serve would (the unit gets the token from its environment file).
  const settings = serveSettings(serveArguments(args), io);
  const root = resolve(settings.root);
  const hurah = hurahCommand(values.deno, {
    read: [root],
    write: settings.readOnly ? [] : [root],
    env: false,
    net: true, // it listens
    run: false,
    all: values["allow-all"],
  });
  const command = [...hurah.command, "serve", "--root", root, "--listen", values.listen];
  if (settings.readOnly) command.push("--read-only");
  if (values.interval !== "1s") command.push("--interval", values.interval);
  for (const option of ["scan-limit", "max-pending", "max-oldest", "max-errors", "max-in-flight-age"] as const) {
    if (values[option] !== undefined) command.push(`--${option}`, values[option]);
  }
  const { settings: hardening, notes } = sandbox({
    root,
    readOnly: settings.readOnly,
    seen: [...hurah.files, root, Deno.cwd()],
  });
  for (const note of notes) io.stderr(`hurah systemd: ${note}\n`);
  if (user === undefined) warnRoot(io);
  io.stdout(unitFile({
    command,
    description: `hurah serve ${values.listen} for ${root}`,
    identifier: "hurah-serve",
    root,
    workingDirectory: Deno.cwd(),
    stopTimeoutSec: 10,
    user,
    standalone: Deno.build.standalone,
    remote: /^https?:/.test(hurah.cli ?? ""),
    sandbox: settingLines(hardening),
    environmentFile: settings.token === undefined ? undefined : "/etc/hurah/serve.env",
  }));
  return 0;
}

/** `hurah serve`'s own arguments among `hurah systemd --serve`'s: without the unit's options and their values. */
function serveArguments(args: string[]): string[] {
  const unitOptions = Object.keys(SERVE_UNIT_OPTIONS).map((name) => `--${name}`);
  const valued = ["--service-user", "--deno"];
  const kept: string[] = [];
  for (let k = 0; k < args.length; k++) {
    const [name] = args[k].split("=");
    if (!unitOptions.includes(name)) kept.push(args[k]);
    else if (valued.includes(args[k])) k++; // and its value
  }
  return kept;
}

/** The options of `hurah watch` that ExecStart passes on as given, when given, in this order. */
const PASSED_ON = [
  "max-attempts",
  "max-lost",
  "concurrency",
  "host-id",
  "lease",
  "archive",
  "timeout",
  "max-task-size",
] as const;

/** The flags of `hurah watch` passed on when given: logging, and --create-root. */
const LOG_FLAGS = ["log-timestamps", "no-log-timestamps", "quiet", "verbose", "create-root"] as const;

/** The option values `watchArguments()` reads. */
type WatchValues =
  & { grace: string; "rescan-interval": string; "log-format": string; "no-fsync": boolean }
  & { [Flag in typeof LOG_FLAGS[number]]?: boolean }
  & {
    [Option in typeof PASSED_ON[number]]?: string;
  };

/** The arguments of `hurah watch` in ExecStart: those given, with absolute paths. */
function watchArguments(
  values: WatchValues,
  specs: HandlerSpec[],
  place: TaskPlace,
  config: string | undefined,
): string[] {
  const watchArgs: string[] = config !== undefined
    ? ["--config", config]
    : [specs[0].name, specs[0].eventType, ...handlerArgs(specs[0])];
  if (place.kind === "root") watchArgs.push("--root", resolve(place.root));
  else watchArgs.push("--broker", place.urls, "--replicas", String(place.replicas));
  watchArgs.push("--grace", values.grace, "--rescan-interval", values["rescan-interval"]);
  for (const option of PASSED_ON) {
    const value = values[option];
    if (value !== undefined) watchArgs.push(`--${option}`, value);
  }
  if (values["log-format"] !== "text") watchArgs.push("--log-format", values["log-format"]);
  for (const flag of LOG_FLAGS) if (values[flag]) watchArgs.push(`--${flag}`);
  if (values["no-fsync"]) watchArgs.push("--no-fsync");
  return watchArgs;
}

/**
 * What deno must be allowed to read to load the NATS backend for `--broker`: hurah's src/ (the NATS module and what it
 * imports, outside cli.ts's static graph) when it is local; nothing for a standalone binary or hurah from a URL.
 */
function natsSources(): string[] {
  if (Deno.build.standalone) return [];
  const src = new URL("..", import.meta.url);
  return src.protocol === "file:" ? [resolve(fileURLToPath(src))] : [];
}

/** A module handler's file (when local) and URL (when remote). */
function moduleOf(spec: HandlerSpec): { path?: string; url?: string } | undefined {
  if (spec.module === undefined) return undefined;
  const value = handlerArgs(spec)[0];
  let path: string | undefined;
  if (value.startsWith("file:")) path = fileURLToPath(value);
  else if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) return { url: value };
  else path = value;
  let isFile = false;
  try {
    isFile = Deno.statSync(path).isFile;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (!isFile) {
    throw new UsageError(`${spec.name}: the handler module ${path} does not exist (or is not a file)`);
  }
  return { path };
}

/** The journal's name for the service's lines: `hurah-<listener>`, or the listeners' names joined with `+`. */
export function syslogIdentifier(names: string[]): string {
  const joined = names.join("+");
  return `hurah-${joined.length <= 48 ? joined : `${names[0]}+${names.length - 1}-more`}`;
}

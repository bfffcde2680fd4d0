import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { checkHandlerName, parseEventType } from "../protocol/names.ts";
import { handlerArgs, handlerSpecs, WATCH_OPTIONS } from "./_handlers.ts";
import { type CliIo, UsageError } from "./_io.ts";
import { archivePolicy, duration, logFormat, parallelOptions, taskSizeOption } from "./_options.ts";
import { SERVE_OPTIONS, serveSettings } from "./_serve_options.ts";

/** Help text of `hurah systemd`. */
export const SYSTEMD_HELP = `Usage: hurah systemd <watch arguments> [--service-user USER]
       hurah systemd --serve <serve options> [--service-user USER]

Prints a systemd service unit that runs 'hurah watch' with the same
arguments (see 'hurah watch --help'), or with --serve, 'hurah serve' (see
'hurah serve --help'). Relative paths are made absolute. A serve unit never
holds the token: it reads HURAH_TOKEN from EnvironmentFile=
/etc/hurah/serve.env (mode 0600) when the address is not a loopback one.
Save it as /etc/systemd/system/hurah-<name>.service, then run
'systemctl daemon-reload && systemctl enable --now hurah-<name>'.

The unit uses Type=exec, Restart=on-failure, KillSignal=SIGTERM with
KillMode=mixed (only hurah gets SIGTERM; it stops exec handlers itself
after the grace period), TimeoutStopSec = grace + 10 s, and hardening:
NoNewPrivileges, ProtectSystem=strict with ReadWritePaths for the root,
PrivateTmp.

Options:
  --service-user USER   run the service as USER (User= and Group=)
  -h, --help            show this help

Exit codes: 0 printed, 2 usage error.
`;

/** `hurah systemd`: prints a unit file. */
export async function systemdCommand(args: string[], io: CliIo): Promise<number> {
  if (args[0] === "--serve") return serveUnit(args.slice(1), io);
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...WATCH_OPTIONS, "service-user": { type: "string" } },
  });
  if (values.help) {
    io.stdout(SYSTEMD_HELP);
    return 0;
  }
  const graceMs = duration(values.grace, "--grace");
  duration(values["rescan-interval"], "--rescan-interval");
  logFormat(values["log-format"]);
  const { root, specs } = await handlerSpecs(values, positionals, io);
  for (const spec of specs) {
    checkHandlerName(spec.name);
    parseEventType(spec.eventType);
  }
  // Checked as 'hurah run' and 'hurah watch' check them, so that a bad value is refused here, not at start.
  parallelOptions(values);
  archivePolicy(values.archive);
  taskSizeOption(values);
  const absoluteRoot = resolve(root);
  const watchArgs: string[] = values.config !== undefined ? ["--config", resolve(values.config)] : [
    specs[0].name,
    specs[0].eventType,
    ...handlerArgs(specs[0]),
  ];
  watchArgs.push("--root", absoluteRoot, "--grace", values.grace, "--rescan-interval", values["rescan-interval"]);
  if (values["max-attempts"] !== undefined) watchArgs.push("--max-attempts", values["max-attempts"]);
  if (values["max-lost"] !== undefined) watchArgs.push("--max-lost", values["max-lost"]);
  if (values.concurrency !== undefined) watchArgs.push("--concurrency", values.concurrency);
  if (values["host-id"] !== undefined) watchArgs.push("--host-id", values["host-id"]);
  if (values.lease !== undefined) watchArgs.push("--lease", values.lease);
  if (values.archive !== undefined) watchArgs.push("--archive", values.archive);
  if (values.timeout !== undefined) watchArgs.push("--timeout", values.timeout);
  if (values["max-task-size"] !== undefined) watchArgs.push("--max-task-size", values["max-task-size"]);
  if (values["log-format"] !== "text") watchArgs.push("--log-format", values["log-format"]);
  if (values["no-fsync"]) watchArgs.push("--no-fsync");
  io.stdout(unitFile({
    command: [...hurahCommand(), "watch", ...watchArgs],
    description: `hurah watch ${specs.map((s) => s.name).join(", ")} under ${absoluteRoot}`,
    root: absoluteRoot,
    workingDirectory: Deno.cwd(),
    stopTimeoutSec: Math.ceil(graceMs / 1000) + 10,
    user: values["service-user"],
    standalone: Deno.build.standalone,
  }));
  return 0;
}

/** `hurah systemd --serve`: a unit for `hurah serve` with the same options, the token left out. */
function serveUnit(args: string[], io: CliIo): number {
  const { values } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...SERVE_OPTIONS, "service-user": { type: "string" } },
  });
  if (values.help) {
    io.stdout(SYSTEMD_HELP);
    return 0;
  }
  const user = values["service-user"];
  const serveArgs = args.filter((_, k) => !isServiceUser(args, k));
  const settings = serveSettings(serveArgs, io); // refuses a non-local address without a token, as serve would
  const absoluteRoot = resolve(settings.root);
  const command = [...hurahCommand(), "serve", "--root", absoluteRoot, "--listen", values.listen];
  if (settings.readOnly) command.push("--read-only");
  if (values.interval !== "1s") command.push("--interval", values.interval);
  for (const option of ["scan-limit", "max-pending", "max-oldest", "max-errors", "max-in-flight-age"] as const) {
    if (values[option] !== undefined) command.push(`--${option}`, values[option]);
  }
  io.stdout(unitFile({
    command,
    description: `hurah serve ${values.listen} for ${absoluteRoot}`,
    root: absoluteRoot,
    workingDirectory: Deno.cwd(),
    stopTimeoutSec: 10,
    user,
    standalone: Deno.build.standalone,
    readOnly: settings.readOnly,
    environmentFile: settings.token === undefined ? undefined : "/etc/hurah/serve.env",
  }));
  return 0;
}

/** Whether `args[k]` is `--service-user` or its value (`--service-user USER` or `--service-user=USER`). */
function isServiceUser(args: string[], k: number): boolean {
  return args[k] === "--service-user" || args[k].startsWith("--service-user=") || args[k - 1] === "--service-user";
}

/** How to start this hurah: the binary itself, or deno running cli.ts. */
function hurahCommand(): string[] {
  if (Deno.build.standalone) return [Deno.execPath()];
  const cli = new URL("../../cli.ts", import.meta.url);
  return [
    Deno.execPath(),
    "run",
    "-A",
    "--v8-flags=--max-semi-space-size=1", // as `deno install` in the README: flat memory on long drains
    cli.protocol === "file:" ? fileURLToPath(cli) : cli.href,
  ];
}

interface UnitSettings {
  command: string[];
  description: string;
  root: string;
  workingDirectory: string;
  stopTimeoutSec: number;
  user?: string;
  standalone: boolean;
  /** Nothing under the root is written (`hurah serve --read-only`): no ReadWritePaths. */
  readOnly?: boolean;
  /** An `EnvironmentFile=` for secrets (`HURAH_TOKEN`), optional (`-`): the unit starts without it. */
  environmentFile?: string;
}

/** Renders the unit file. */
export function unitFile(unit: UnitSettings): string {
  if (unit.user !== undefined && !/^[a-z_][a-z0-9_-]*[$]?$/i.test(unit.user)) {
    throw new UsageError(`--service-user ${JSON.stringify(unit.user)} is not a valid user name`);
  }
  const lines = [
    `# Generated by 'hurah systemd'. Install as /etc/systemd/system/<name>.service, then:`,
    `#   systemctl daemon-reload && systemctl enable --now <name>`,
    "[Unit]",
    `Description=${escapeSpecifiers(unit.description).replaceAll("\n", " ")}`,
    "After=local-fs.target",
    `RequiresMountsFor=${quotePath(unit.root)}`,
    "",
    "[Service]",
    "Type=exec",
    `ExecStart=${unit.command.map(quoteArg).join(" ")}`,
    // WorkingDirectory= takes the rest of the line as the path: quotes would be part of it.
    `WorkingDirectory=${escapeSpecifiers(unit.workingDirectory)}`,
    "Restart=on-failure",
    "RestartSec=2s",
    "KillSignal=SIGTERM",
    "KillMode=mixed",
    `TimeoutStopSec=${unit.stopTimeoutSec}s`,
    "Environment=NO_COLOR=1",
    ...(unit.environmentFile === undefined ? [] : [`EnvironmentFile=-${escapeSpecifiers(unit.environmentFile)}`]),
    ...(unit.standalone ? [] : ["CacheDirectory=hurah", "Environment=DENO_DIR=%C/hurah/deno"]),
    ...(unit.user !== undefined ? [`User=${unit.user}`, `Group=${unit.user}`] : []),
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    ...(unit.readOnly ? [] : [`ReadWritePaths=${quotePath(unit.root)}`]),
    // A private /tmp would hide a root that lives in /tmp or /var/tmp.
    ...(/^\/(var\/)?tmp(\/|$)/.test(unit.root) ? [] : ["PrivateTmp=yes"]),
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ];
  return lines.join("\n");
}

/** Escapes `%` so that systemd passes text through without expanding specifiers. */
function escapeSpecifiers(text: string): string {
  return text.replaceAll("%", "%%");
}

/** Quotes one path of a path list (RequiresMountsFor=, ReadWritePaths=); `$` is literal there. */
function quotePath(path: string): string {
  return quoteWord(escapeSpecifiers(path));
}

/** Quotes one command-line word for ExecStart, escaping `%` (specifiers) and `$` (variables). */
export function quoteArg(word: string): string {
  return quoteWord(escapeSpecifiers(word).replaceAll("$", "$$$$"));
}

function quoteWord(escaped: string): string {
  if (escaped !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`;
}

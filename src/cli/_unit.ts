/**
 * What every systemd unit that hurah prints shares: the sandbox (one table of
 * settings, each with the reason it is there), the checks of the paths the
 * service must see, the deno binary, and the quoting of unit files. `hurah
 * systemd` prints a unit for `hurah watch` with it; a unit for another
 * long-running command differs in ExecStart and its permissions only.
 *
 * @module
 */
import { UsageError } from "./_io.ts";

/** One `Key=value` line of a unit, and why it is there (printed as a comment above it). */
export interface UnitSetting {
  /** The key, as `ProtectHome`. */
  key: string;
  /** The value, already escaped for the unit file. */
  value: string;
  /** Why the setting is there, or what it costs; one line. */
  why?: string;
}

/** What the sandbox of a unit depends on. */
export interface SandboxOptions {
  /** The event root, absolute: the one directory the service writes to (with `readWrite`); none for a broker. */
  root?: string;
  /** More directories the service may write to (ReadWritePaths=). */
  readWrite?: string[];
  /** Nothing is written, the root neither (`hurah serve --read-only`): no ReadWritePaths=, no StateDirectory=. */
  readOnly?: boolean;
  /**
   * Every path the service must see: the deno binary, cli.ts, handlers, the
   * config file, the working directory. A path under /home, /root or
   * /run/user turns ProtectHome= to read-only; one under /tmp or /var/tmp
   * turns PrivateTmp= off.
   */
  seen: string[];
}

/** Directories that ProtectHome=yes hides. */
const HOME_DIRS = ["/home", "/root", "/run/user"];
/** Directories that PrivateTmp=yes replaces with empty ones. */
const TMP_DIRS = ["/tmp", "/var/tmp"];
/** Where StateDirectory= puts its directories. */
const STATE_DIR = "/var/lib";

/** Whether `path` is `dir` or lies below it. */
export function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir + "/");
}

/** The paths among `paths` that lie under one of `dirs`. */
function under(paths: string[], dirs: string[]): string[] {
  return paths.filter((path) => dirs.some((dir) => isUnder(path, dir)));
}

/** The event root as a StateDirectory= value (relative to /var/lib), when it lies under /var/lib. */
export function stateDirectory(root: string): string | undefined {
  if (!isUnder(root, STATE_DIR) || root === STATE_DIR) return undefined;
  return root.slice(STATE_DIR.length + 1);
}

/**
 * The sandbox of a hurah unit, as settings in the order printed: who may
 * write where, what of the system the service sees, and what the kernel lets
 * it do. It keeps what an ordinary handler needs: the network (IPv4, IPv6,
 * Unix sockets), its own files (the root, and read access elsewhere), and
 * subprocesses (exec handlers run `setsid sh -c`).
 *
 * `notes` are lines for stderr: why PrivateTmp= is off.
 */
export function sandbox(options: SandboxOptions): { settings: UnitSetting[]; notes: string[] } {
  const notes: string[] = [];
  const root = options.root === undefined ? [] : [options.root];
  const state = options.readOnly || options.root === undefined ? undefined : stateDirectory(options.root);
  const readWrite = [...(state === undefined && !options.readOnly ? root : []), ...options.readWrite ?? []];
  const seen = [...new Set([...root, ...options.readWrite ?? [], ...options.seen])];
  const inHome = under(seen, HOME_DIRS);
  const inTmp = under(seen, TMP_DIRS);
  if (inTmp.length > 0) {
    notes.push(
      `PrivateTmp= is left off, since a private /tmp would hide ${inTmp.join(", ")}; /tmp and /var/tmp are ` +
        `cleaned now and then: better move ${inTmp.length > 1 ? "them" : "it"}`,
    );
  }
  const settings: UnitSetting[] = [
    {
      key: "UMask",
      value: "0007",
      why: "files for the owner and the group (dispatchers in the group can write tasks), nothing for others",
    },
    ...(state === undefined ? [] : [
      {
        key: "StateDirectory",
        value: quotePath(state),
        why: "systemd creates the root, owned by User= (it chowns an existing one, all below it too)",
      },
      { key: "StateDirectoryMode", value: "0770", why: "the group (dispatchers) may write into the root" },
    ]),
    {
      key: "NoNewPrivileges",
      value: "yes",
      why: "no setuid binary (sudo, su) gives the service or a handler more rights",
    },
    { key: "ProtectSystem", value: "strict", why: "the whole file system is read-only, but for ReadWritePaths=" },
    ...(readWrite.length === 0 ? [] : [{
      key: "ReadWritePaths",
      value: readWrite.map(quotePath).join(" "),
      why: "where the service writes: the event root (a missing directory here makes the start fail)",
    }]),
    inHome.length > 0
      ? {
        key: "ProtectHome",
        value: "read-only",
        why: `read-only, not yes (hidden): the service needs ${inHome.join(", ")}`,
      }
      : { key: "ProtectHome", value: "yes", why: "/home, /root and /run/user are hidden" },
    ...(inTmp.length > 0 ? [] : [{
      key: "PrivateTmp",
      value: "yes",
      why: "a /tmp and /var/tmp of its own, emptied at each start",
    }]),
    { key: "PrivateDevices", value: "yes", why: "a /dev with only null, zero, random and the like" },
    { key: "PrivateMounts", value: "yes", why: "mounts of the service stay its own" },
    { key: "ProtectKernelTunables", value: "yes", why: "/proc/sys and /sys are read-only" },
    { key: "ProtectKernelModules", value: "yes", why: "no kernel modules loaded" },
    { key: "ProtectKernelLogs", value: "yes", why: "no access to the kernel log" },
    { key: "ProtectControlGroups", value: "yes", why: "the cgroup tree is read-only" },
    { key: "ProtectClock", value: "yes", why: "the system clock cannot be set" },
    { key: "ProtectHostname", value: "yes", why: "the host name cannot be changed" },
    { key: "ProtectProc", value: "invisible", why: "other users' processes are not visible in /proc" },
    {
      key: "RestrictAddressFamilies",
      value: "AF_UNIX AF_INET AF_INET6",
      why: "sockets: Unix, IPv4 and IPv6 only (handlers may use the network)",
    },
    { key: "RestrictNamespaces", value: "yes", why: "no new namespaces (containers)" },
    { key: "RestrictRealtime", value: "yes", why: "no realtime scheduling" },
    { key: "RestrictSUIDSGID", value: "yes", why: "no setuid or setgid files created" },
    { key: "LockPersonality", value: "yes", why: "the execution domain cannot be changed" },
    { key: "RemoveIPC", value: "yes", why: "System V and POSIX IPC objects of the user go at stop" },
    { key: "CapabilityBoundingSet", value: "", why: "no capabilities, even when running as root" },
    { key: "SystemCallArchitectures", value: "native", why: "no system calls of other architectures (x32, i386)" },
    {
      key: "SystemCallFilter",
      value: "@system-service @pkey",
      why: "the system calls of an ordinary service (and memory protection keys, which V8 uses)",
    },
    {
      key: "SystemCallFilter",
      value: "~@privileged",
      why: "but none that needs root: chown, setuid, mount, reboot...",
    },
    {
      key: "SystemCallErrorNumber",
      value: "EPERM",
      why: "a filtered system call fails with EPERM rather than killing the process",
    },
  ];
  return { settings, notes };
}

/** The lines of settings, each preceded by its reason as a comment. */
export function settingLines(settings: UnitSetting[]): string[] {
  return settings.flatMap((setting) => [
    ...(setting.why === undefined ? [] : [`# ${setting.why}`]),
    `${setting.key}=${setting.value}`,
  ]);
}

/**
 * Where package managers keep the programs they fetch for one run (npx, pnpm
 * dlx, bunx, yarn dlx) or cache: a binary there may be cleaned at any time,
 * and lies under a home directory that the service user cannot read.
 */
const CACHE_PATTERNS: { pattern: RegExp; what: string }[] = [
  { pattern: /\/\.npm\/_npx\//, what: "npx's cache (~/.npm/_npx)" },
  { pattern: /\/\.npm\/_cacache\//, what: "npm's cache (~/.npm/_cacache)" },
  { pattern: /\/\.cache\//, what: "a cache directory (~/.cache)" },
  { pattern: /\/\.pnpm-store\/|\/pnpm\/dlx\//, what: "pnpm's store" },
  { pattern: /\/\.yarn\/berry\/cache\//, what: "yarn's cache" },
  { pattern: /\/\.bun\/install\/cache\/|\/bunx-/, what: "bun's cache" },
];

/** Which package manager's cache `path` lies in, if any. */
export function packageCache(path: string): string | undefined {
  return CACHE_PATTERNS.find(({ pattern }) => pattern.test(path))?.what;
}

/**
 * Checks the program that ExecStart runs: it exists, is a file, and lies in
 * no package manager's cache (neither the path given nor, for a symbolic
 * link, its target). `what` names it in the message, `fix` says what to do.
 *
 * @throws {UsageError} Naming the path and what to do.
 */
export function checkProgram(path: string, what: string, fix: string): void {
  let real: string;
  try {
    real = Deno.realPathSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new UsageError(`${what} ${path} does not exist; ${fix}`);
  }
  if (!Deno.statSync(real).isFile) throw new UsageError(`${what} ${path} is not a file; ${fix}`);
  for (const candidate of new Set([path, real])) {
    const cache = packageCache(candidate);
    if (cache === undefined) continue;
    const link = candidate === path ? "" : ` (a link to ${real})`;
    throw new UsageError(
      `${what} ${path}${link} lies in ${cache}, which may be cleaned at any time and which the service user ` +
        `may not read; ${fix}`,
    );
  }
}

/** Escapes `%` so that systemd passes text through without expanding specifiers. */
export function escapeSpecifiers(text: string): string {
  return text.replaceAll("%", "%%");
}

/** Quotes one path of a path list (RequiresMountsFor=, ReadWritePaths=); `$` is literal there. */
export function quotePath(path: string): string {
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

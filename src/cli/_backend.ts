/**
 * Where a command's tasks are: an event root (`--root`, `HURAH_ROOT`) or a
 * NATS broker (`--broker`, `HURAH_BROKER`, with `--replicas`). The one place
 * of the command line that decides it, and the only one that loads the NATS
 * backend, with a dynamic `import()` the module graph does not follow: a
 * plain file-based `hurah` never loads an npm module.
 */
import { connect } from "../backend/connect.ts";
import type { Backend } from "../backend/port.ts";
import type { ListenerMigration, MigrationReport } from "../backend/migration.ts";
import { type CliIo, UsageError } from "./_io.ts";
import { resolveRoot } from "./_root.ts";

/** The options that name a broker, for `parseArgs`. */
export const BROKER_OPTIONS = {
  broker: { type: "string" },
  replicas: { type: "string" },
} as const;

/** Help lines of `--broker` and `--replicas`, their descriptions at column `width` as a command's other options. */
export function brokerHelp(width: number): string {
  const option = (flag: string, lines: string[]) => {
    const head = `  ${flag}`;
    const first = head.length < width ? [head.padEnd(width) + lines[0]] : [head, " ".repeat(width) + lines[0]];
    return [...first, ...lines.slice(1).map((line) => " ".repeat(width) + line)].join("\n") + "\n";
  };
  return option("--broker URL[,URL...]", [
    "NATS servers (JetStream) that keep the tasks,",
    "in place of an event root (default: $HURAH_BROKER;",
    "loads the NATS backend); excludes --root",
  ]) + option("--replicas N", [
    "with --broker: replicas of the streams and",
    "consumers hurah creates (default: $HURAH_REPLICAS,",
    "else 1; 3 on a cluster)",
  ]);
}

/** Where the tasks are. */
export type TaskPlace =
  | { kind: "root"; root: string }
  | { kind: "broker"; urls: string; replicas: number };

/** The values `resolvePlace()` reads. */
export interface PlaceValues {
  root?: string;
  broker?: string;
  replicas?: string;
}

/**
 * Where the tasks are: a broker when `--broker` (or `HURAH_BROKER`, unless an
 * event root is given as an argument or with `--root`), else the event root
 * as {@linkcode resolveRoot} finds it.
 *
 * @throws {UsageError} When both an event root and `--broker` are given, when
 * both `HURAH_ROOT` and `HURAH_BROKER` are set and neither flag says which, or
 * when `--replicas` is not a whole number of at least 1.
 */
export function resolvePlace(positional: string | undefined, values: PlaceValues, io: CliIo): TaskPlace {
  const rootGiven = positional ?? values.root;
  if (rootGiven !== undefined && values.broker !== undefined) {
    throw new UsageError(
      `${positional !== undefined ? `the event root ${positional}` : "--root"} and --broker exclude each other; ` +
        "give one (tasks are kept either under an event root or on a broker)",
    );
  }
  const envBroker = io.env("HURAH_BROKER") || undefined;
  const envRoot = io.env("HURAH_ROOT") || undefined;
  if (rootGiven === undefined && values.broker === undefined && envBroker !== undefined && envRoot !== undefined) {
    throw new UsageError(
      "both HURAH_ROOT and HURAH_BROKER are set; unset one, or pass --root DIR or --broker URL to choose",
    );
  }
  const broker = rootGiven === undefined ? values.broker ?? envBroker : undefined;
  if (broker === undefined) {
    if (values.replicas !== undefined) throw new UsageError("--replicas is for a broker; add --broker URL");
    return { kind: "root", root: resolveRoot(positional, values.root, io) };
  }
  const urls = broker.split(",").map((url) => url.trim()).filter(Boolean);
  if (urls.length === 0) throw new UsageError(`--broker needs at least one URL, as nats://127.0.0.1:4222`);
  const replicasText = values.replicas ?? (io.env("HURAH_REPLICAS") || "1");
  const replicas = Number(replicasText);
  if (!/^\d+$/.test(replicasText) || !Number.isSafeInteger(replicas) || replicas < 1) {
    throw new UsageError(`--replicas must be a whole number of at least 1, found ${JSON.stringify(replicasText)}`);
  }
  return { kind: "broker", urls: urls.join(","), replicas };
}

/**
 * Refuses file-only options given with a broker: each `[flag, given]` whose
 * flag was given is an error naming it.
 *
 * @throws {UsageError} For the first file-only option given.
 */
export function refuseFileOptions(place: TaskPlace, given: [flag: string, given: boolean][]): void {
  if (place.kind !== "broker") return;
  const found = given.find(([, isGiven]) => isGiven);
  if (found !== undefined) {
    throw new UsageError(`${found[0]} is for an event root, not a broker; leave it out with --broker`);
  }
}

/** A backend the command opened, to dispose of when done. */
export type OpenedBackend = Backend & AsyncDisposable;

/** What the command line uses of `@hurah/events/nats` (typed here: a type import would put it in the graph). */
interface NatsModule {
  NatsBackend: { connect(servers: string, options: { replicas: number }): Promise<OpenedBackend> };
  /** `hurah migrate`'s work (src/backend/nats/migrate.ts). */
  migrateRoot(
    root: string,
    backend: OpenedBackend,
    options: { dryRun?: boolean; onListener?: (migration: ListenerMigration) => void },
  ): Promise<MigrationReport>;
}

/**
 * The backend of a place: the file backend of the event root (nothing to
 * dispose of), or a `NatsBackend` connected to the broker.
 */
export async function openBackend(place: TaskPlace): Promise<OpenedBackend> {
  if (place.kind === "root") {
    return Object.assign(connect({ root: place.root }), { [Symbol.asyncDispose]: () => Promise.resolve() });
  }
  const nats = await loadNats();
  try {
    return await nats.NatsBackend.connect(place.urls, { replicas: place.replicas });
  } catch (error) {
    // The client's ConnectionError (not importable here): no server answered. An environment error, exit 1.
    if (!(error instanceof Error) || error.name !== "ConnectionError") throw error;
    throw new Deno.errors.NotConnected(
      `cannot connect to the broker ${place.urls} (${error.message}); check --broker (or HURAH_BROKER), and ` +
        "that nats-server runs there with JetStream (-js)",
      { cause: error },
    );
  }
}

/**
 * The NATS module's URL: a computed specifier, so that deno's module graph (and so mod.ts/cli.ts) does not reach
 * the NATS module and its npm dependencies; `deno task compile` includes it explicitly.
 */
export function natsModuleUrl(): string {
  return new URL(["..", "backend", "nats", "mod.ts"].join("/"), import.meta.url).href;
}

/** The NATS module, `@hurah/events/nats`, loaded at the first call. */
export async function loadNats(): Promise<NatsModule> {
  return await import(natsModuleUrl()) as NatsModule;
}

/** What the library takes in place of a root: the event root's path, or the broker's backend. */
export interface OpenedTarget extends AsyncDisposable {
  /** The event root (its path: the library opens it with the command's file options), or the backend. */
  readonly target: string | Backend;
}

/**
 * The `Dispatcher`'s, `runOnce()`'s or `watch()`'s first argument for a
 * place: the event root's path as it is, or a connected `NatsBackend`
 * (disposed of with the result).
 */
export async function openTarget(place: TaskPlace): Promise<OpenedTarget> {
  if (place.kind === "root") return { target: place.root, [Symbol.asyncDispose]: () => Promise.resolve() };
  const backend = await openBackend(place);
  return { target: backend, [Symbol.asyncDispose]: () => backend[Symbol.asyncDispose]() };
}

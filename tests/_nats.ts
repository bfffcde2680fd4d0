/**
 * A real `nats-server -js` for the tests: on 127.0.0.1, a free port, a
 * temporary store directory, stopped by its PID. With no `nats-server` on
 * PATH (or without `--allow-net`), {@linkcode NATS_SKIP} says why: the NATS
 * tests print "skipped: no nats-server" and are ignored (never passed silently).
 *
 * @module
 */
import { join } from "node:path";

/** The `nats-server` binary, or `undefined` when there is none on PATH. */
export const NATS_SERVER: string | undefined = (() => {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").concat("/usr/sbin")) {
    if (dir === "") continue;
    const path = join(dir, "nats-server");
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return undefined;
})();

/** Why the NATS tests cannot run here (no server binary, or no `--allow-net`), or `undefined` when they can. */
export const NATS_SKIP: string | undefined = NATS_SERVER === undefined
  ? "no nats-server"
  : Deno.permissions.querySync({ name: "net" }).state !== "granted"
  ? "no nats-server: the tests need --allow-net to reach it"
  : undefined;

/** Says why the NATS tests are ignored, once by each test file that needs a server. */
export function reportSkip(file: string): void {
  if (NATS_SKIP !== undefined) console.log(`skipped: ${NATS_SKIP} (${file})`);
}

/** A running server: its URL, and how to stop it. */
export interface NatsServer extends AsyncDisposable {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** The server's PID. */
  readonly pid: number;
  /** Its store directory (removed when stopped). */
  readonly storeDir: string;
  /** Stops it (SIGTERM, then SIGKILL after 5 s) and removes its store. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound and released at once). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Starts `nats-server -js` on 127.0.0.1 and waits until it accepts connections. */
export async function startNatsServer(): Promise<NatsServer> {
  if (NATS_SERVER === undefined) throw new Error("no nats-server on PATH");
  const storeDir = await Deno.makeTempDir({ prefix: "hurah_nats_" });
  for (let tries = 0;; tries++) {
    const port = freePort();
    const child = new Deno.Command(NATS_SERVER, {
      args: ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir, "--http_port", "0"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = collect(child.stderr);
    if (await accepting(port, child)) {
      let stopped: Promise<void> | undefined;
      const stop = () =>
        stopped ??= (async () => {
          try {
            child.kill("SIGTERM");
          } catch (error) {
            if (!(error instanceof TypeError)) throw error; // exited already
          }
          const timer = setTimeout(() => {
            try {
              child.kill("SIGKILL");
            } catch { /* exited meanwhile */ }
          }, 5000);
          await child.status;
          clearTimeout(timer);
          await stderr;
          await Deno.remove(storeDir, { recursive: true }).catch(() => {});
        })();
      return { url: `nats://127.0.0.1:${port}`, pid: child.pid, storeDir, stop, [Symbol.asyncDispose]: stop };
    }
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    const text = await stderr;
    if (tries >= 2) throw new Error(`nats-server did not start on port ${port}: ${text.slice(-2000)}`);
  }
}

/** Reads a stream to its end, as text (so the child's pipe never fills). */
async function collect(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) text = (text + decoder.decode(chunk)).slice(-8192);
  return text;
}

/** Whether the server accepts TCP connections within 10 s (false when it exited first). */
async function accepting(port: number, child: Deno.ChildProcess): Promise<boolean> {
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !exited) {
    try {
      const connection = await Deno.connect({ hostname: "127.0.0.1", port });
      connection.close();
      return true;
    } catch (error) {
      if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/** A running cluster: its nodes, and the URLs of all of them. */
export interface NatsCluster extends AsyncDisposable {
  /** Every node's client URL, comma-separated (as `NatsBackend.connect` takes them). */
  readonly urls: string;
  /** The nodes, in start order. */
  readonly nodes: ClusterNode[];
  /** Stops every node and removes the stores. */
  stop(): Promise<void>;
}

/** One node of a cluster. */
export interface ClusterNode {
  /** Its server name, as `n1`. */
  readonly name: string;
  /** Its client URL. */
  readonly url: string;
  /** Its monitoring endpoint, as `http://127.0.0.1:<port>` (`/jsz` shows its own copy of each stream). */
  readonly monitorUrl: string;
  /** Its PID while running. */
  pid(): number | undefined;
  /** Kills it with SIGKILL and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts it again (same ports, same store). */
  restart(): Promise<void>;
}

/**
 * Starts `size` nodes of one JetStream cluster on 127.0.0.1 (free ports,
 * temporary stores), routed to each other, and waits until every node
 * accepts clients and the cluster has a JetStream meta leader.
 */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  if (NATS_SERVER === undefined) throw new Error("no nats-server on PATH");
  const base = await Deno.makeTempDir({ prefix: "hurah_nats_cluster_" });
  const specs = Array.from({ length: size }, (_, index) => ({
    name: `n${index + 1}`,
    port: freePort(),
    clusterPort: freePort(),
    monitorPort: freePort(),
    store: join(base, `n${index + 1}`),
  }));
  const routes = specs.map((spec) => `nats://127.0.0.1:${spec.clusterPort}`).join(",");
  const nodes = specs.map((spec) => {
    let child: Deno.ChildProcess | undefined;
    const start = () => {
      child = new Deno.Command(NATS_SERVER, {
        args: [
          "-js",
          "-n",
          spec.name,
          "-a",
          "127.0.0.1",
          "-p",
          String(spec.port),
          "-sd",
          spec.store,
          "--cluster_name",
          "hurah_test",
          "--cluster",
          `nats://127.0.0.1:${spec.clusterPort}`,
          "--routes",
          routes,
          "-m",
          String(spec.monitorPort),
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
    };
    const kill = async () => {
      if (child === undefined) return;
      try {
        child.kill("SIGKILL");
      } catch (error) {
        if (!(error instanceof TypeError)) throw error; // exited already
      }
      await child.status;
      child = undefined;
    };
    const node: ClusterNode & { start(): void; child(): Deno.ChildProcess | undefined } = {
      name: spec.name,
      url: `nats://127.0.0.1:${spec.port}`,
      monitorUrl: `http://127.0.0.1:${spec.monitorPort}`,
      pid: () => child?.pid,
      kill,
      async restart() {
        await kill();
        start();
        if (!await accepting(spec.port, child!)) throw new Error(`node ${spec.name} did not start again`);
      },
      start,
      child: () => child,
    };
    return node;
  });
  const stop = async () => {
    for (const node of nodes) await node.kill();
    await Deno.remove(base, { recursive: true }).catch(() => {});
  };
  try {
    for (const node of nodes) node.start();
    for (const [index, node] of nodes.entries()) {
      if (!await accepting(specs[index].port, node.child()!)) throw new Error(`node ${node.name} did not start`);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { urls: nodes.map((node) => node.url).join(","), nodes, stop, [Symbol.asyncDispose]: stop };
}

/** Retries `fn` while a cluster elects leaders (JetStream answers "temporarily unavailable" meanwhile). */
export async function untilAvailable<T>(what: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`gave up on ${what} after ${timeoutMs} ms: ${(error as Error)?.message ?? error}`, {
          cause: error,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** A real `hurah serve` process on a free loopback port, for the CLI and browser tests; stopped by its PID. */
import { CLI, killQuietly } from "../_helpers.ts";

/** A running `hurah serve`. */
export interface ServeProcess extends AsyncDisposable {
  /** The child process. */
  child: Deno.ChildProcess;
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** What it wrote on stderr so far. */
  stderr(): string;
  /** Sends SIGTERM and waits for the exit status. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Starts `hurah serve --listen 127.0.0.1:0 <args>` and waits (at most 20 s) for its "listening on" line. */
export async function startServe(args: string[], env: Record<string, string> = {}): Promise<ServeProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, "serve", "--listen", "127.0.0.1:0", ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  let listening: (url: string) => void = () => {};
  const url = new Promise<string>((resolve) => listening = resolve);
  const drained = (async () => {
    for await (const chunk of child.stderr) {
      text += decoder.decode(chunk, { stream: true });
      const found = /listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(text);
      if (found) listening(found[1]);
    }
  })();
  const timeout = new Promise<never>((_, reject) => {
    const timer = setTimeout(() => reject(new Error(`hurah serve did not start in 20 s: ${text}`)), 20_000);
    child.status.then(() => clearTimeout(timer));
    url.then(() => clearTimeout(timer));
  });
  const exited = child.status.then((status) => {
    throw new Error(`hurah serve exited with ${status.code} before listening: ${text}`);
  });
  let address: string;
  try {
    address = await Promise.race([url, timeout, exited]);
  } catch (error) {
    killQuietly(child);
    await child.status;
    await drained;
    throw error;
  }
  exited.catch(() => {});
  const stop = async () => {
    killQuietly(child, "SIGTERM");
    const status = await child.status;
    await drained;
    return status;
  };
  return {
    child,
    url: address,
    stderr: () => text,
    stop,
    async [Symbol.asyncDispose]() {
      killQuietly(child);
      await child.status;
      await drained;
    },
  };
}

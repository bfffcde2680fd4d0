/**
 * This host's id: the hostname where it may be read (it needs
 * `--allow-sys=hostname`; asking would prompt), else `localhost`.
 */
export function hostId(): string {
  const granted = Deno.permissions.querySync?.({ name: "sys", kind: "hostname" }).state === "granted";
  return granted ? Deno.hostname() : "localhost";
}

/**
 * A worker id unique across hosts and restarts: `<host>-<pid>-<random>`, with
 * the host reduced to letters, digits, `.`, `_` and `-` so it can stand in a
 * file name.
 */
export function workerId(host: string = hostId()): string {
  const safe = host.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64) || "host";
  return `${safe}-${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`;
}

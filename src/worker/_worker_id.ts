/**
 * Who is working: `host:pid`, or `pid:<pid>` where the hostname may not be
 * read (it needs `--allow-sys=hostname`; asking would prompt).
 */
export function workerId(): string {
  const granted = Deno.permissions.querySync?.({ name: "sys", kind: "hostname" }).state === "granted";
  return granted ? `${Deno.hostname()}:${Deno.pid}` : `pid:${Deno.pid}`;
}

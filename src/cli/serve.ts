import { connect } from "../backend/connect.ts";
import { serveDashboard } from "../serve/server.ts";
import type { CliIo } from "./_io.ts";
import { serveSettings } from "./_serve_options.ts";

/** Help text of `hurah serve`. */
export const SERVE_HELP = `Usage: hurah serve [--root DIR] [--listen HOST:PORT] [options]

Serves a web dashboard and Prometheus metrics for the event root:
  /                      every listener: state, pending, in flight, errors,
                         archived, oldest pending, last delivery, rates;
                         updated live (server-sent events, one scan shared
                         by every open page)
  /listener/<listener>   its first pending tasks, tasks in flight, recent
                         errors with their failure records, and actions
                         (requeue, prune), each confirmed first
  /task/<listener>/<N>   what 'hurah inspect' shows
  /metrics               Prometheus text format 0.0.4
  /healthz               "ok" (no token needed)

Listens on 127.0.0.1 only, unless told otherwise; any other address needs
a token. With a token, a request needs 'Authorization: Bearer <token>' or
a session from the login form. Stops cleanly on SIGTERM or SIGINT.

Options:
  --root DIR                    the event root (default: $HURAH_ROOT)
  --listen HOST:PORT            where to listen (default 127.0.0.1:8377;
                                port 0 picks a free one)
  --token TOKEN                 the token requests must carry, 16 characters
                                or more (default: $HURAH_TOKEN, better: a
                                --token shows in the process list)
  --read-only                   no actions: nothing is ever written
  --interval DURATION           shortest time between two scans (default 1s)
  --scan-limit N                pending tasks read per listener and scan, to
                                find its state (default 20)
  --max-pending N               mark listeners with more pending tasks
  --max-oldest DURATION         ... with an older first pending task
  --max-errors N                ... with more entries in error/
  --max-in-flight-age DURATION  ... with a task claimed for longer
  -h, --help                    show this help

A duration is 500ms, 10s, 5m, 2h, 7d, or a number of seconds.

Exit codes: 0 stopped by a signal, 1 unexpected error (as the port in use),
2 usage error (as a non-local --listen without a token).
`;

/** `hurah serve`: returns the exit code once stopped. */
export async function serveCommand(args: string[], io: CliIo): Promise<number> {
  const settings = serveSettings(args, io);
  if (settings.help) {
    io.stdout(SERVE_HELP);
    return 0;
  }
  const user = io.env("USER") ?? io.env("LOGNAME");
  const operations = connect({ root: settings.root }).operations;
  await operations.listeners(); // a missing root or a link in it is told now, not on the first page
  await serveDashboard({
    operations,
    root: settings.root,
    readOnly: settings.readOnly,
    token: settings.token,
    scanLimit: settings.scanLimit,
    intervalMs: settings.intervalMs,
    thresholds: settings.thresholds,
    by: user ? `${user} (hurah serve)` : "hurah serve",
    hostname: settings.hostname,
    port: settings.port,
    signal: io.signal,
    onListen: ({ hostname, port }) => {
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      io.stderr(`hurah serve: listening on http://${host}:${port}/ for ${settings.root}\n`);
    },
    onError: (error) => io.stderr(`hurah serve: ${error.stack ?? error.message}\n`),
  });
  io.stderr("hurah serve: stopped\n");
  return 0;
}

/**
 * `hurah serve`'s HTTP server: the dashboard's pages, its server-sent
 * events, `/metrics` and `/healthz`, over the operations side of the backend
 * port (so it works on every backend). No dependency: `Deno.serve`, HTML
 * rendered here, one stylesheet and one script from `_assets.ts`.
 *
 * @module
 */
import { InvalidNameError, ListenerNotFoundError, NotSupportedError, toError } from "../errors.ts";
import type { Operations } from "../backend/operations.ts";
import { listenerId } from "../protocol/listener_id.ts";
import type { StatusThresholds } from "../protocol/thresholds.ts";
import { SCRIPT, STYLESHEET } from "./_assets.ts";
import { Auth, bearerOf, isLoopback, Throttle } from "./_auth.ts";
import { html } from "./_html.ts";
import { type Frame, listenerPage, overviewPage, overviewTable } from "./_pages.ts";
import {
  asset,
  checkCsrf,
  durationParameter,
  formOf,
  htmlResponse,
  HttpError,
  pathParameter,
  sequenceParameter,
  sseEvent,
} from "./_http.ts";
import { confirmPage, errorPage, loginPage, pruneResultPage, requeueResultPage, taskPage } from "./_task_pages.ts";
import { METRICS_CONTENT_TYPE, renderMetrics } from "./metrics.ts";
import { Scanner } from "./scanner.ts";

/** Options of {@linkcode Dashboard}. */
export interface DashboardOptions {
  /** The backend's operations. */
  operations: Operations;
  /** What the header names: the event root. */
  root: string;
  /**
   * Show no action and refuse every POST but the login's.
   * @default {false}
   */
  readOnly?: boolean;
  /**
   * The token a request must carry (Bearer, or the login form's session); none when `undefined`.
   * @default {undefined}
   */
  token?: string;
  /**
   * How many pending tasks per listener a scan reads.
   * @default {20}
   */
  scanLimit?: number;
  /**
   * Shortest time between two scans, in milliseconds.
   * @default {1000}
   */
  intervalMs?: number;
  /**
   * The `--check` limits the overview marks.
   * @default {{}}
   */
  thresholds?: StatusThresholds;
  /**
   * Who requeues, for the `REQUEUED` record.
   * @default {"hurah serve"}
   */
  by?: string;
  /**
   * How many pending tasks and errors the listener page lists.
   * @default {50}
   */
  listLimit?: number;
  /**
   * Told of a request that failed unexpectedly (answered with 500).
   * @default {() => {}}
   */
  onError?: (error: Error) => void;
}

/** The headers of every answer. */
const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/** The dashboard: a request handler over one shared scanner. Closing it ends every event stream. */
export class Dashboard {
  /** The shared scanner. */
  readonly scanner: Scanner;
  readonly #options: DashboardOptions;
  readonly #auth: Auth;
  readonly #throttle = new Throttle();
  readonly #streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  readonly #unsubscribes = new Set<() => void>();

  constructor(options: DashboardOptions) {
    this.#options = options;
    this.#auth = new Auth(options.token);
    this.scanner = new Scanner(options.operations, {
      scanLimit: options.scanLimit,
      intervalMs: options.intervalMs,
      thresholds: options.thresholds,
    });
  }

  /**
   * Answers one request from `client` (its address: wrong tokens are
   * counted per client, see {@linkcode Throttle}).
   */
  async handle(request: Request, client = "local"): Promise<Response> {
    let response: Response;
    try {
      response = await this.#route(request, client);
    } catch (thrown) {
      const error = toError(thrown);
      const frame = this.#frame(request);
      if (error instanceof HttpError) {
        response = htmlResponse(errorPage(frame, String(error.status), error.message), error.status);
      } else if (error instanceof InvalidNameError) {
        response = htmlResponse(errorPage(frame, "400", error.message), 400);
      } else if (error instanceof ListenerNotFoundError) {
        response = htmlResponse(errorPage(frame, "404", "No such listener."), 404);
      } else if (error instanceof NotSupportedError) {
        // An operation this backend does not offer (a broker may have no inspect or requeue): said, not a failure.
        response = htmlResponse(errorPage(frame, "501", error.message), 501);
      } else {
        this.#options.onError?.(error);
        response = htmlResponse(errorPage(frame, "500", "The request failed; see the server's log."), 500);
      }
    }
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.headers.set(name, value);
    return response;
  }

  /** Ends every event stream and stops the scanner; resolves once a scan still running has ended. */
  close(): Promise<void> {
    for (const unsubscribe of this.#unsubscribes) unsubscribe();
    this.#unsubscribes.clear();
    for (const stream of this.#streams) {
      try {
        stream.close();
      } catch {
        // already closed by its client
      }
    }
    this.#streams.clear();
    return this.scanner.close();
  }

  #frame(request: Request): Frame {
    const caller = this.#auth.caller(request);
    return {
      root: this.#options.root,
      readOnly: this.#options.readOnly ?? false,
      csrf: caller.csrf,
      session: caller.session,
    };
  }

  async #route(request: Request, client: string): Promise<Response> {
    const url = new URL(request.url);
    const path = url.pathname;
    const method = request.method;
    const get = method === "GET" || method === "HEAD";
    if (get && path === "/healthz") return new Response("ok\n", { headers: { "content-type": "text/plain" } });
    if (get && path === "/assets/app.css") return asset(STYLESHEET, "text/css; charset=utf-8");
    if (get && path === "/assets/app.js") return asset(SCRIPT, "text/javascript; charset=utf-8");
    if (get && path === "/favicon.ico") return new Response(null, { status: 204 });
    // Without a token only this machine may ask, by a loopback name: a page of another site whose name was made to
    // point at 127.0.0.1 (DNS rebinding) gets nothing, not even the CSRF token of the forms.
    if (!this.#auth.required && !isLoopback(url.hostname)) {
      return new Response("421 Misdirected Request: without a token, use a loopback address\n", { status: 421 });
    }
    const guessing = (method === "POST" && path === "/login") || bearerOf(request) !== undefined;
    const waitMs = guessing ? this.#throttle.waitMs(client) : 0;
    if (waitMs > 0) {
      return new Response("429 Too Many Requests: too many wrong tokens; wait a minute\n", {
        status: 429,
        headers: { "retry-after": String(Math.ceil(waitMs / 1000)) },
      });
    }
    if (method === "POST" && path === "/login") return await this.#login(request, client);
    const caller = this.#auth.caller(request);
    if (caller.wrongToken) this.#throttle.failed(client);
    if (!caller.allowed) {
      if (get && path === "/login") return htmlResponse(loginPage(this.#options.root, false), 200);
      const headers = { "www-authenticate": 'Bearer realm="hurah"' };
      if (path === "/metrics" || path === "/events") {
        return new Response("401 Unauthorized\n", { status: 401, headers });
      }
      return htmlResponse(loginPage(this.#options.root, false), 401, headers);
    }
    const frame = this.#frame(request);
    if (method === "POST") return await this.#post(request, path, frame);
    if (!get) throw new HttpError(405, `${method} is not answered here`);
    if (path === "/" || path === "/login") return htmlResponse(overviewPage(frame, await this.scanner.current()), 200);
    if (path === "/events") return this.#events();
    if (path === "/metrics") {
      return new Response(renderMetrics(await this.scanner.current()), {
        headers: { "content-type": METRICS_CONTENT_TYPE },
      });
    }
    if (path.startsWith("/listener/")) {
      return htmlResponse(await this.#listener(frame, pathParameter(path, "/listener/")), 200);
    }
    if (path.startsWith("/task/")) {
      const rest = pathParameter(path, "/task/");
      const cut = rest.lastIndexOf("/");
      if (cut <= 0) throw new HttpError(404, "Expected /task/<listener>/<sequence>.");
      const inspection = await this.#options.operations.inspect({
        listener: rest.slice(0, cut),
        sequence: sequenceParameter(rest.slice(cut + 1)),
      });
      return htmlResponse(taskPage(frame, inspection), inspection.found.length === 0 ? 404 : 200);
    }
    if (path === "/confirm/requeue" || path === "/confirm/prune") {
      if (frame.readOnly) throw new HttpError(403, "This dashboard is read-only.");
      return htmlResponse(await this.#confirm(frame, path, url.searchParams), 200);
    }
    throw new HttpError(404, "No such page.");
  }

  async #listener(frame: Frame, id: string): Promise<string> {
    const operations = this.#options.operations;
    const listener = await operations.findListener(id); // the CLI's name checks, before anything else is read
    const limit = this.#options.listLimit ?? 50;
    // The status of the last scan when it is recent (listing a large inbox once, not twice), else of this listener.
    const latest = this.scanner.latest();
    const fresh =
      latest !== undefined && Date.now() - Date.parse(latest.report.time) < 2 * (this.#options.intervalMs ?? 1000)
        ? latest.report.listeners.find((each) => each.listener === listenerId(listener.name, listener.eventType))
        : undefined;
    const [status, pending, errors] = await Promise.all([
      fresh ??
        operations.status({ listeners: [id], scanLimit: this.#options.scanLimit ?? 20 }).then((r) => r.listeners[0]),
      operations.tasks({ listener: id, location: "inbox", limit }),
      operations.tasks({ listener: id, location: "error", limit, newest: true }),
    ]);
    const rates = latest?.rates.get(status.listener) ?? []; // no scan of every listener for one
    return listenerPage(frame, { status, pending, errors, rates });
  }

  async #confirm(frame: Frame, path: string, query: URLSearchParams): Promise<string> {
    const listener = query.get("listener") ?? "";
    await this.#options.operations.findListener(listener);
    if (path === "/confirm/requeue") {
      if (query.get("all") === "1") {
        return confirmPage(frame, `requeue every task in error/ of ${listener}`, "/actions/requeue", {
          listener,
          all: "1",
        });
      }
      const sequence = String(sequenceParameter(query.get("sequence") ?? ""));
      return confirmPage(frame, `requeue task #${sequence} of ${listener}`, "/actions/requeue", { listener, sequence });
    }
    const olderThan = query.get("older_than") ?? "";
    const olderThanMs = durationParameter(olderThan);
    const archive = query.get("archive") === "1";
    const error = query.get("error") === "1";
    if (!archive && !error) throw new HttpError(400, "Choose archive/, error/ or both.");
    const dry = await this.#options.operations.prune({
      olderThanMs,
      archive,
      error,
      listeners: [listener],
      dryRun: true,
    });
    const where = [archive ? "archive/" : "", error ? "error/" : ""].filter(Boolean).join(" and ");
    return confirmPage(
      frame,
      `prune ${where} entries older than ${olderThan} of ${listener}`,
      "/actions/prune",
      { listener, older_than: olderThan, archive: archive ? "1" : "", error: error ? "1" : "" },
      html`<p>That removes ${dry.removed} files now.</p>`,
    );
  }

  async #post(request: Request, path: string, frame: Frame): Promise<Response> {
    const form = await formOf(request);
    if (path === "/logout") {
      checkCsrf(form, frame);
      return new Response(null, {
        status: 303,
        headers: { location: "/login", "set-cookie": this.#auth.logout(request) },
      });
    }
    if (path !== "/actions/requeue" && path !== "/actions/prune") throw new HttpError(404, "No such action.");
    if (frame.readOnly) throw new HttpError(403, "This dashboard is read-only: it takes no action.");
    checkCsrf(form, frame);
    const listener = form.get("listener") ?? "";
    const operations = this.#options.operations;
    if (path === "/actions/requeue") {
      const all = form.get("all") === "1";
      const report = await operations.requeue({
        listener,
        all,
        sequences: all ? [] : [sequenceParameter(form.get("sequence") ?? "")],
        by: this.#options.by ?? "hurah serve",
      });
      return htmlResponse(requeueResultPage(frame, report), 200);
    }
    const archive = form.get("archive") === "1";
    const error = form.get("error") === "1";
    if (!archive && !error) throw new HttpError(400, "Choose archive/, error/ or both.");
    await operations.findListener(listener);
    const report = await operations.prune({
      olderThanMs: durationParameter(form.get("older_than") ?? ""),
      archive,
      error,
      listeners: [listener],
    });
    return htmlResponse(pruneResultPage(frame, report), 200);
  }

  async #login(request: Request, client: string): Promise<Response> {
    const form = await formOf(request);
    const cookie = this.#auth.login(form.get("token") ?? "");
    if (cookie === undefined) {
      this.#throttle.failed(client);
      return htmlResponse(loginPage(this.#options.root, true), 401);
    }
    return new Response(null, { status: 303, headers: { location: "/", "set-cookie": cookie } });
  }

  /** The `overview` event stream: the table, rendered once per scan for every open page. */
  #events(): Response {
    const encoder = new TextEncoder();
    let unsubscribe: (() => void) | undefined;
    let keepAlive: ReturnType<typeof setInterval> | undefined;
    let controller: ReadableStreamDefaultController<Uint8Array>;
    const end = () => {
      unsubscribe?.();
      if (unsubscribe) this.#unsubscribes.delete(unsubscribe);
      clearInterval(keepAlive);
      this.#streams.delete(controller);
    };
    const body = new ReadableStream<Uint8Array>({
      start: (streamController) => {
        controller = streamController;
        this.#streams.add(controller);
        let rendered: { generation: number; bytes: Uint8Array } | undefined;
        const send = (bytes: Uint8Array) => {
          try {
            controller.enqueue(bytes);
          } catch {
            end(); // the client went away
          }
        };
        unsubscribe = this.scanner.subscribe((snapshot) => {
          // One rendering per scan: the scanner hands every stream the same snapshot.
          if (rendered?.generation !== snapshot.generation) {
            rendered = {
              generation: snapshot.generation,
              bytes: encoder.encode(sseEvent("overview", overviewTable(snapshot).text.replace(/\n\s*/g, " "))),
            };
          }
          send(rendered.bytes);
        });
        this.#unsubscribes.add(unsubscribe);
        keepAlive = setInterval(() => send(encoder.encode(": keep-alive\n\n")), 15_000);
        send(encoder.encode("retry: 2000\n\n"));
      },
      cancel: end,
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "x-accel-buffering": "no" },
    });
  }
}

/** Options of {@linkcode serveDashboard}. */
export interface ServeDashboardOptions extends DashboardOptions {
  /** The address to bind. */
  hostname: string;
  /** The port; 0 picks a free one. */
  port: number;
  /** Stops the server (cleanly: event streams end, running requests finish). */
  signal: AbortSignal;
  /**
   * Called once listening, with the address.
   * @default {() => {}}
   */
  onListen?: (address: { hostname: string; port: number }) => void;
}

/** Serves the dashboard until `signal` aborts; resolves once the server has stopped. */
export async function serveDashboard(options: ServeDashboardOptions): Promise<void> {
  const dashboard = new Dashboard(options);
  const stopping = new AbortController();
  let closed: Promise<void> | undefined;
  const stop = () => {
    closed = dashboard.close(); // the event streams would hold the shutdown open
    // Their last chunk is written on a later turn: a shutdown begun at once cuts the connections short.
    setTimeout(() => stopping.abort(), 50);
  };
  if (options.signal.aborted) stop();
  else options.signal.addEventListener("abort", stop, { once: true });
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    signal: stopping.signal,
    onListen: ({ hostname, port }) => options.onListen?.({ hostname, port }),
  }, (request, info) => dashboard.handle(request, clientOf(info.remoteAddr)));
  try {
    await server.finished;
  } finally {
    options.signal.removeEventListener("abort", stop);
    await (closed ?? dashboard.close());
  }
}

/** A client's address, for counting its wrong tokens. */
function clientOf(address: Deno.Addr): string {
  return address.transport === "tcp" || address.transport === "udp" ? address.hostname : address.transport;
}

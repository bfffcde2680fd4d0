/**
 * Who may use the dashboard, and the CSRF tokens of its forms. Without a
 * token (bound to a loopback address only) anyone who reaches the port may
 * read and act; with one, a request needs `Authorization: Bearer <token>` or
 * the session cookie the login form sets. Every POST needs the CSRF token
 * of its session (or, without a session, of this server).
 *
 * @module
 */

/** The session cookie's name. */
export const SESSION_COOKIE = "hurah_session";

/** How long a login session lasts: 12 hours. */
const SESSION_MS = 12 * 3_600_000;

/** How many wrong tokens one client may send within {@linkcode FAILURE_WINDOW_MS} before it must wait. */
export const FAILURES_ALLOWED = 5;
/** The window over which wrong tokens are counted: one minute. */
export const FAILURE_WINDOW_MS = 60_000;
/** How many clients' failures are remembered at most (the oldest are forgotten first). */
const CLIENTS_REMEMBERED = 10_000;

/** Who a request is. */
export interface Caller {
  /** Whether it may see the dashboard. */
  allowed: boolean;
  /** Whether it sent a token (Bearer) that was wrong: a guess, counted by {@linkcode Throttle}. */
  wrongToken: boolean;
  /** The CSRF token its forms carry and its POSTs must send back. */
  csrf: string;
  /** Whether it came with a login session (pages show the log-out button then). */
  session: boolean;
}

/** The tokens and sessions of one server. */
export class Auth {
  readonly #token: string | undefined;
  readonly #csrf = randomToken();
  readonly #sessions = new Map<string, { csrf: string; expires: number }>();

  constructor(token: string | undefined) {
    this.#token = token === "" ? undefined : token;
  }

  /** Whether a token is required. */
  get required(): boolean {
    return this.#token !== undefined;
  }

  /** Who sent the request. */
  caller(request: Request, now = Date.now()): Caller {
    if (this.#token === undefined) return { allowed: true, wrongToken: false, csrf: this.#csrf, session: false };
    const bearer = bearerOf(request);
    if (bearer !== undefined && sameText(bearer, this.#token)) {
      return { allowed: true, wrongToken: false, csrf: this.#csrf, session: false };
    }
    const id = cookie(request, SESSION_COOKIE);
    const session = id === undefined ? undefined : this.#sessions.get(id);
    if (session !== undefined && session.expires > now) {
      return { allowed: true, wrongToken: false, csrf: session.csrf, session: true };
    }
    if (session !== undefined) this.#sessions.delete(id!);
    return { allowed: false, wrongToken: bearer !== undefined, csrf: "", session: false };
  }

  /** Checks a login form's token; returns the `Set-Cookie` value of a new session, or `undefined`. */
  login(token: string, now = Date.now()): string | undefined {
    if (this.#token === undefined || !sameText(token, this.#token)) return undefined;
    for (const [id, session] of this.#sessions) if (session.expires <= now) this.#sessions.delete(id);
    const id = randomToken();
    this.#sessions.set(id, { csrf: randomToken(), expires: now + SESSION_MS });
    return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_MS / 1000}`;
  }

  /** Ends the request's session; returns the `Set-Cookie` value that clears the cookie. */
  logout(request: Request): string {
    const id = cookie(request, SESSION_COOKIE);
    if (id !== undefined) this.#sessions.delete(id);
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }
}

/**
 * Slows down guessing the token: a client (by its address) that sent
 * {@linkcode FAILURES_ALLOWED} wrong tokens within a minute, by the login form
 * or as a Bearer, has every further token refused, the right one too, until
 * the oldest of those failures is a minute old. A login session already made
 * keeps working. Per address, so one guesser does not lock out the others
 * (behind a reverse proxy every client has the proxy's address: the proxy
 * then shares one budget).
 */
export class Throttle {
  readonly #failures = new Map<string, number[]>();

  /** How many milliseconds `client` must wait before a token of its is checked again; 0 if none. */
  waitMs(client: string, now = Date.now()): number {
    const recent = this.#recent(client, now);
    return recent.length < FAILURES_ALLOWED ? 0 : recent[recent.length - FAILURES_ALLOWED] + FAILURE_WINDOW_MS - now;
  }

  /** Counts a wrong token from `client`. */
  failed(client: string, now = Date.now()): void {
    const recent = this.#recent(client, now);
    this.#failures.delete(client); // re-inserted last: the map stays ordered by last failure
    this.#failures.set(client, [...recent, now].slice(-FAILURES_ALLOWED));
    if (this.#failures.size > CLIENTS_REMEMBERED) this.#failures.delete(this.#failures.keys().next().value!);
  }

  #recent(client: string, now: number): number[] {
    const recent = (this.#failures.get(client) ?? []).filter((time) => time > now - FAILURE_WINDOW_MS);
    if (recent.length === 0) this.#failures.delete(client);
    return recent;
  }
}

/** The token of an `Authorization: Bearer …` header, if the request has one. */
export function bearerOf(request: Request): string | undefined {
  return /^Bearer (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
}

/** 32 random bytes, hex. */
function randomToken(): string {
  return [...crypto.getRandomValues(new Uint8Array(32))].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Compares two strings in a time that depends on their length only. */
export function sameText(a: string, b: string): boolean {
  const left = new TextEncoder().encode(a);
  const right = new TextEncoder().encode(b);
  let difference = left.length ^ right.length;
  for (let k = 0; k < Math.max(left.length, right.length); k++) difference |= (left[k] ?? 0) ^ (right[k] ?? 0);
  return difference === 0;
}

/** A cookie's value, if the request has it. */
function cookie(request: Request, name: string): string | undefined {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
  return undefined;
}

/** Whether an address is this machine's loopback: 127.0.0.0/8, ::1 (bracketed or not) or localhost. */
export function isLoopback(hostname: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname) || hostname === "::1" || hostname === "[::1]" ||
    hostname === "localhost";
}

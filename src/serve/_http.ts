/**
 * The dashboard's HTTP helpers: the error a request handler throws for a bad
 * request, responses, path parameters, forms and their CSRF check, and
 * server-sent events.
 *
 * @module
 */
import { parseDuration } from "../protocol/_duration.ts";
import type { Frame } from "./_pages.ts";

/** A bad request: its status (400, 403, 404) and a message for the page. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "HttpError";
  }
}

/** One server-sent event: each line of `data` on its own `data:` line. */
export function sseEvent(event: string, data: string): string {
  return `event: ${event}\n${data.split(/\r\n|\r|\n/).map((line) => `data: ${line}`).join("\n")}\n\n`;
}

export function htmlResponse(body: string, status: number, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { "content-type": "text/html; charset=utf-8", ...headers } });
}

export function asset(text: string, type: string): Response {
  return new Response(text, { headers: { "content-type": type } });
}

/** The rest of a path after its prefix, percent-decoded once; checked by the backend's name checks afterwards. */
export function pathParameter(path: string, prefix: string): string {
  try {
    return decodeURIComponent(path.slice(prefix.length));
  } catch {
    throw new HttpError(400, "The path is not valid percent-encoding.");
  }
}

export function sequenceParameter(text: string): number {
  if (!/^[1-9][0-9]{0,14}$/.test(text)) throw new HttpError(400, "A sequence number is a positive integer.");
  return Number(text);
}

export function durationParameter(text: string): number {
  try {
    return parseDuration(text, "older than");
  } catch (error) {
    throw new HttpError(400, (error as Error).message);
  }
}

/** The largest form read: the dashboard's own forms are a few hundred bytes. */
export const FORM_LIMIT = 64 * 1024;

export async function formOf(request: Request): Promise<URLSearchParams> {
  const type = request.headers.get("content-type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded")) return new URLSearchParams();
  if (Number(request.headers.get("content-length") ?? 0) > FORM_LIMIT) {
    throw new HttpError(413, "The form is too large.");
  }
  const text = await request.text();
  if (text.length > FORM_LIMIT) throw new HttpError(413, "The form is too large.");
  return new URLSearchParams(text);
}

export function checkCsrf(form: URLSearchParams, frame: Frame): void {
  const sent = form.get("csrf");
  if (sent === null || sent === "" || sent !== frame.csrf) {
    throw new HttpError(403, "The form's CSRF token is missing or stale; reload the page and try again.");
  }
}

/**
 * The dashboard's frame, overview and listener pages, rendered on the server
 * (the task, confirmation, result, login and error pages: `_task_pages.ts`). Every value from the
 * backend goes through the {@linkcode html} template, which escapes it.
 *
 * @module
 */
import { formatAge } from "../protocol/_age.ts";
import type { InFlightTask, ListenerStatus } from "../protocol/listener_status.ts";
import type { TaskRecord } from "../protocol/task_file.ts";
import type { TaskList } from "../backend/operations.ts";
import { html, type HtmlValue, linkPart, listenerPath, type SafeHtml } from "./_html.ts";
import type { RatePoint, Snapshot } from "./scanner.ts";

/** What every page shows in its frame. */
export interface Frame {
  /** The event root (or broker) shown in the header. */
  root: string;
  /** Whether actions are hidden. */
  readOnly: boolean;
  /** The CSRF token for the forms. */
  csrf: string;
  /** Whether a login session is in use (shows the log-out button). */
  session: boolean;
}

/** A whole page. */
export function page(frame: Frame, title: string, body: HtmlValue, options: { live?: boolean } = {}): string {
  return html`
    <!DOCTYPE html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>${title} · hurah</title>
        <link rel="stylesheet" href="/assets/app.css">
        <script src="/assets/app.js" defer></script>
      </head>
      <body>
        <header><h1><a href="/">hurah</a></h1><span class="root">${frame.root}</span>${frame.readOnly
          ? html`<span class="muted">read-only</span>`
          : ""}<span class="live" id="live">${options.live ? "connecting..." : ""}</span>${frame.session
          ? html`
            <form class="inline" method="post"
              action="/logout"><input type="hidden" name="csrf" value="${frame.csrf}"><button>Log out</button></form>
          `
          : ""}</header>
        <main>${body}</main>
      </body>
    </html>
  `.text;
}

/** The overview page: the listener table, which `/events` replaces in place. */
export function overviewPage(frame: Frame, snapshot: Snapshot): string {
  const report = snapshot.report;
  const body = html`
    <h2>Listeners</h2>
    <div id="overview">${overviewTable(snapshot)}</div>
    <p class="muted">Scanned ${report.listeners.length} listeners in ${Math.round(snapshot.scanMs)} ms.
    <a href="/metrics">/metrics</a></p>
  `;
  return page(frame, "Overview", body, { live: true });
}

/** The overview's table, also sent as each `overview` server-sent event. */
export function overviewTable(snapshot: Snapshot): SafeHtml {
  const listeners = snapshot.report.listeners;
  if (listeners.length === 0) return html`<p>No listeners under this root yet.</p>`;
  const now = Date.parse(snapshot.report.time);
  const crossed = new Map<string, string[]>();
  for (const violation of snapshot.violations) {
    crossed.set(violation.listener, [...crossed.get(violation.listener) ?? [], violation.threshold]);
  }
  const rows = listeners.map((listener) =>
    html`
      <tr>
        <td><a href="/listener/${listenerPath(listener.listener)}">${listener.listener}</a></td>
        <td class="mono">${listener.eventType === ""
          ? html`<span class="muted">(root)</span>`
          : listener.eventType}</td>
        <td>${stateCell(
          listener,
          snapshot.failingSince.get(listener.listener),
          crossed.get(listener.listener),
          now,
        )}</td>
        <td class="n">${listener.pending}</td>
        <td class="n">${listener.inFlight.length}</td>
        <td class="n">${listener.errors}${listener.quarantined > 0
          ? html`
            <span class="warn">+${listener.quarantined}</span>
          `
          : ""}</td>
        <td class="n">${listener.archived}</td>
        <td class="n">${listener.oldestPendingAgeMs === null ? "-" : formatAge(listener.oldestPendingAgeMs)}</td>
        <td>${lastDelivery(listener.lastDelivery, now)}</td>
        <td>${rateChart(snapshot.rates.get(listener.listener) ?? [])}</td>
      </tr>
    `
  );
  return html`
    <table>
      <thead>
        <tr>
          <th>Listener</th>
          <th>Event type</th>
          <th>State</th>
          <th class="n">Pending</th>
          <th class="n">In flight</th>
          <th class="n">Errors</th>
          <th class="n">Archived</th>
          <th class="n">Oldest</th>
          <th>Last delivery</th>
          <th>Handled/s · errors/s</th>
        </tr>
      </thead>
      <tbody>${rows}</tbody>
    </table>
  `;
}

function stateCell(
  listener: ListenerStatus,
  failingSince: string | undefined,
  crossed: string[] | undefined,
  now: number,
): SafeHtml {
  const state = listener.state === "failing"
    ? html`<span class="state failing">failing at #${listener.failingAt}</span>${
      failingSince
        ? html`
          <span class="muted" title="since ${failingSince}">for ${formatAge(now - Date.parse(failingSince))}</span>
        `
        : ""
    }`
    : listener.state === "retrying"
    ? html`<span class="state retrying">retrying${listener.waiting > 0 ? ` (${listener.waiting} waiting)` : ""}</span>`
    : html`<span class="state ok">ok</span>`;
  const lost = listener.inFlight.filter((task) => task.lease !== "live").length;
  return html`${pausedBadge(listener)}${state}${
    lost > 0
      ? html`
        <span class="warn">${lost} lost</span>
      `
      : ""
  }${
    crossed
      ? html`
        <span class="warn">over ${crossed.join(", ")}</span>
      `
      : ""
  }`;
}

/** The last delivery as an age, the time in its title. */
function lastDelivery(time: string | null, now: number): SafeHtml | string {
  const at = time === null ? NaN : Date.parse(time);
  if (Number.isNaN(at)) return time ?? "-";
  return html`<span title="${time}">${formatAge(Math.max(0, now - at))} ago</span>`;
}

/** Two small lines, handled/s and errors/s, over the rate history. */
export function rateChart(points: readonly RatePoint[], width = 140, height = 28): SafeHtml {
  const last = points.at(-1);
  // The label: the mean of the last 10 s, steadier than the last point.
  const recent = last === undefined ? [] : points.filter((point) => point.time > last.time - 10_000);
  const mean = (value: (point: RatePoint) => number) => recent.reduce((sum, p) => sum + value(p), 0) / recent.length;
  const label = last === undefined
    ? "no data yet"
    : `${round(mean((p) => p.handled))}/s, ${round(mean((p) => p.errors))} errors/s`;
  if (points.length < 2) return html`<span class="muted">${label}</span>`;
  const start = points[0].time;
  const span = Math.max(1, points.at(-1)!.time - start);
  const top = Math.max(1, ...points.map((point) => Math.max(point.handled, point.errors)));
  const line = (value: (point: RatePoint) => number) =>
    points.map((point) =>
      `${round((point.time - start) / span * width)},${round(height - 1 - value(point) / top * (height - 2))}`
    ).join(" ");
  return html`
    <svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img"
      aria-label="${label}">
      <title>${label}</title>
      <line class="base" x1="0" y1="${height - 0.5}" x2="${width}" y2="${height - 0.5}" />
      <polyline class="handled" points="${line((p) => p.handled)}" />
      <polyline class="errors" points="${line((p) => p.errors)}" />
    </svg> <span class="muted">${label}</span>
  `;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** What the listener page shows. */
export interface ListenerView {
  /** The listener's status. */
  status: ListenerStatus;
  /** Its first pending tasks. */
  pending: TaskList;
  /** Its latest errors. */
  errors: TaskList;
  /** The rate history. */
  rates: readonly RatePoint[];
}

/** An operator's pause (`hurah pause`), apart from the state of the tasks; nothing when not paused. */
function pausedBadge(listener: ListenerStatus): SafeHtml | string {
  const { paused } = listener;
  if (paused === undefined) return "";
  const title = `by ${paused.by} on ${paused.host} since ${paused.since}${paused.reason ? `: ${paused.reason}` : ""}`;
  return html`
    <span class="state paused" title="${title}">paused</span>
  `;
}

/** A listener: pending tasks, in flight, recent errors with their failure records, and the actions. */
export function listenerPage(frame: Frame, view: ListenerView): string {
  const { status } = view;
  const id = status.listener;
  const cards = html`<div class="cards">${
    [
      ["state", status.state === "failing" ? `failing at #${status.failingAt}` : status.state],
      ...(status.paused ? [["paused", `since ${status.paused.since} by ${status.paused.by}`]] : []),
      ["pending", status.pending],
      ["in flight", status.inFlight.length],
      ["errors", status.errors],
      ["archived", status.archived],
      ["oldest pending", status.oldestPendingAgeMs === null ? "-" : formatAge(status.oldestPendingAgeMs)],
    ].map(([name, value]) => html`<div class="card"><span class="muted">${name}</span><b>${value}</b></div>`)
  }<div class="card"><span class="muted">handled/s · errors/s</span>${rateChart(view.rates)}</div></div>`;
  const pendingRows = view.pending.tasks.map((task) =>
    html`
      <tr>
        <td><a href="${taskLink(id, task.sequence)}">#${task.sequence}</a></td>
        <td class="n">${ageOf(task.task, task.ageMs)}</td>
        <td class="n">${task.task?.retry_count ?? 0}</td>
        <td class="mono">${task.task?.not_before === undefined ? "-" : String(task.task.not_before)}</td>
        <td>${task.problem ?? lastFailure(task.task)}</td>
      </tr>
    `
  );
  const inFlightRows = status.inFlight.map((task: InFlightTask) =>
    html`
      <tr>
        <td><a href="${taskLink(id, task.sequence)}">#${task.sequence}</a></td>
        <td class="mono">${task.worker}</td>
        <td class="n">${task.ageMs === null ? "-" : formatAge(task.ageMs)}</td>
        <td>${task.lease}</td>
      </tr>
    `
  );
  const errorRows = view.errors.tasks.map((task) =>
    html`
      <tr>
        <td><a href="${taskLink(id, task.sequence)}">#${task.sequence}</a></td>
        <td class="mono">${task.since ?? "-"}</td>
        <td>${task.problem ?? failureList(task.task)}</td>
        <td>${frame.readOnly
          ? ""
          : html`<a href="/confirm/requeue?listener=${linkPart(id)}&amp;sequence=${task.sequence}">requeue</a>`}</td>
      </tr>
    `
  );
  const actions = frame.readOnly ? "" : html`<h2>Actions</h2>
<p><a href="/confirm/requeue?listener=${linkPart(id)}&amp;all=1">Requeue every task in error/ (${status.errors})</a></p>
<form method="get" action="/confirm/prune"><input type="hidden" name="listener" value="${id}">
Prune entries older than <input type="text" name="older_than" value="7d" size="5">
<label><input type="checkbox" name="archive" value="1" checked> archive/</label>
<label><input type="checkbox" name="error" value="1"> error/</label><button>Prune...</button></form>`;
  const body = html`<h2>${id}</h2><p class="muted">event type <code>${
    status.eventType === "" ? "(root)" : status.eventType
  }</code> · ${status.dir}</p>${cards}
<h2>Pending (first ${view.pending.tasks.length} of ${view.pending.total})</h2>${
    pendingRows.length === 0 ? html`<p class="muted">Inbox empty.</p>` : html`
      <table>
        <thead>
          <tr>
            <th>Task</th>
            <th class="n">Age</th>
            <th class="n">Retries</th>
            <th>Not before</th>
            <th>Last failure</th>
          </tr>
        </thead>
        <tbody>${pendingRows}</tbody>
      </table>
    `
  }
<h2>In flight (${status.inFlight.length})</h2>${
    inFlightRows.length === 0 ? html`<p class="muted">None.</p>` : html`
      <table>
        <thead>
          <tr>
            <th>Task</th>
            <th>Owner</th>
            <th class="n">Claimed for</th>
            <th>Lease</th>
          </tr>
        </thead>
        <tbody>${inFlightRows}</tbody>
      </table>
    `
  }
<h2>Recent errors (latest ${view.errors.tasks.length} of ${view.errors.total})</h2>${
    errorRows.length === 0 ? html`<p class="muted">No task in error/.</p>` : html`
      <table>
        <thead>
          <tr>
            <th>Task</th>
            <th>In error/ since</th>
            <th>Failure records</th>
            <th></th>
          </tr>
        </thead>
        <tbody>${errorRows}</tbody>
      </table>
    `
  }${actions}`;
  return page(frame, id, body);
}

function ageOf(task: TaskRecord | null, ageMs: number | null): string {
  const delivered = typeof task?.delivery === "string" ? Date.parse(task.delivery) : NaN;
  if (!Number.isNaN(delivered)) return formatAge(Math.max(0, Date.now() - delivered));
  return ageMs === null ? "-" : formatAge(ageMs);
}

function lastFailure(task: TaskRecord | null): SafeHtml | string {
  const last = task?.failures?.at(-1);
  return last === undefined ? "" : html`<code>${last.result}</code> ${last.message}`;
}

function failureList(task: TaskRecord | null): SafeHtml {
  const failures = task?.failures ?? [];
  if (failures.length === 0) return html`<span class="muted">no failure record</span>`;
  return html`${
    failures.slice(-3).map((failure) =>
      html`<div><span class="mono">${failure.time}</span> <code>${failure.result}</code> ${failure.message}</div>`
    )
  }`;
}

/** The link of a task page. */
export function taskLink(listener: string, sequence: number): string {
  return `/task/${listenerPath(listener)}/${sequence}`;
}

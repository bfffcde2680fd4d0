/**
 * The dashboard's task page, its confirmation and result pages, and the
 * login and error pages; the frame and the listener pages are in
 * `_pages.ts`. Every value goes through the {@linkcode html} template.
 *
 * @module
 */
import type { FailureRecord } from "../protocol/task_file.ts";
import type { FoundTask, PruneReport, RequeueReport, TaskInspection } from "../backend/operations.ts";
import { html, type HtmlValue, linkPart, listenerPath, type SafeHtml } from "./_html.ts";
import { type Frame, page } from "./_pages.ts";

/** A task: what `hurah inspect` shows, the payload pretty-printed, the failure history as a timeline. */
export function taskPage(frame: Frame, inspection: TaskInspection): string {
  const title = `${inspection.listener} #${inspection.sequence}`;
  const files = inspection.found.length === 0
    ? html`<p class="notice bad">Task ${inspection.sequence} is not in inbox/, inflight/, archive/ or error/ (pruned, or never delivered).</p>`
    : inspection.found.map((found) => foundSection(frame, inspection, found));
  const body = html`<p><a href="/listener/${
    listenerPath(inspection.listener)
  }">${inspection.listener}</a></p><h2>${title}</h2>${files}`;
  return page(frame, title, body);
}

const FIELDS = ["event_type", "event_id", "task_id", "delivery", "retry_count", "lost_count", "not_before"];

function foundSection(frame: Frame, inspection: TaskInspection, found: FoundTask): SafeHtml {
  const where = found.location === "inflight"
    ? `in flight, claimed by ${found.worker}`
    : found.location === "inbox"
    ? "pending in inbox/"
    : `in ${found.location}/`;
  const task = found.task;
  const rows: [string, string][] = [["path", found.path], ["since", found.since ?? "-"]];
  if (found.problem !== null) rows.push(["problem", found.problem]);
  if (found.reason !== null) rows.push(["reason", found.reason]);
  if (task !== null) { for (const name of FIELDS) if (task[name] !== undefined) rows.push([name, String(task[name])]); }
  const requeue = !frame.readOnly && found.location === "error" && task !== null
    ? html`<p><a href="/confirm/requeue?listener=${
      linkPart(inspection.listener)
    }&amp;sequence=${inspection.sequence}">Requeue this task...</a></p>`
    : "";
  return html`
    <h2>${where}</h2><table>
      <tbody>${rows.map(([name, value]) =>
        html`
          <tr>
            <th>${name}</th>
            <td class="mono">${value}</td>
          </tr>
        `
      )}</tbody>
    </table>${requeue}${found.text !== null
      ? html`
        <h2>Text</h2>
        <pre>${found.text}</pre>
      `
      : ""}${task === null ? "" : html`<h2>Payload</h2><pre>${JSON.stringify(task.payload, null, 2) ?? "null"}</pre>
<h2>History</h2>${timeline(Array.isArray(task.failures) ? task.failures : [])}`}
  `;
}

function timeline(failures: readonly FailureRecord[]): SafeHtml {
  if (failures.length === 0) return html`<p class="muted">No failure record.</p>`;
  return html`<ol class="timeline">${
    failures.map((failure) =>
      html`<li class="${failure.result}"><span class="mono">${failure.time}</span> · attempt ${failure.attempt ?? "?"} ·
<code>${failure.result}${failure.fate ? ` -> ${failure.fate}` : ""}</code> · <span class="mono">${
        failure.worker ?? "-"
      }</span><div>${failure.message}</div>${
        typeof failure.stack === "string" && failure.stack !== "" ? html`<pre>${failure.stack}</pre>` : ""
      }${typeof failure.output === "string" && failure.output !== "" ? html`<pre>${failure.output}</pre>` : ""}</li>`
    )
  }</ol>`;
}

/** The confirmation of an action: what it will do, and one POST button. */
export function confirmPage(
  frame: Frame,
  what: string,
  action: string,
  fields: Record<string, string>,
  detail: HtmlValue = "",
): string {
  const body = html`
    <h2>Confirm</h2><p class="notice">${what}</p>${detail}<form method="post"
      action="${action}">${Object.entries(fields).map(([name, value]) =>
        html`<input type="hidden" name="${name}" value="${value}">`
      )}<input type="hidden" name="csrf" value="${frame
        .csrf}"><button class="danger">Yes, ${what}</button> <a href="/">Cancel</a></form>
  `;
  return page(frame, "Confirm", body);
}

/** What a requeue did. */
export function requeueResultPage(frame: Frame, report: RequeueReport): string {
  const body = html`
    <h2>Requeued</h2><p
      class="notice">${report.requeued.length === 0
        ? "Nothing was put back."
        : `Put back into the inbox of ${report.listener}: ${report.requeued.map((n) => `#${n}`).join(", ")}`}</p>${[
        ...report.refused,
        ...report.skipped,
      ].map((refusal) =>
        html`<p class="notice bad">${refusal.file}: ${refusal.reason}</p>`
      )}<p><a href="/listener/${listenerPath(report.listener)}">Back to ${report.listener}</a></p>
  `;
  return page(frame, "Requeued", body);
}

/** What a prune did (or would do, in a dry run). */
export function pruneResultPage(frame: Frame, report: PruneReport): string {
  const rows = report.listeners.map((listener) =>
    html`
      <tr>
        <td>${listener.listener}</td>
        <td class="n">${listener.archive}</td>
        <td class="n">${listener.error}</td>
      </tr>
    `
  );
  return page(
    frame,
    "Pruned",
    html`
      <h2>Pruned</h2>
      <p class="notice">Removed ${report.removed} files.</p>
      <table>
        <thead>
          <tr>
            <th>Listener</th>
            <th class="n">archive/</th>
            <th class="n">error/</th>
          </tr>
        </thead>
        <tbody>${rows}</tbody>
      </table>
      <p><a href="/">Overview</a></p>
    `,
  );
}

/** The login form (with `--token`). */
export function loginPage(root: string, failed: boolean): string {
  const frame: Frame = { root, readOnly: true, csrf: "", session: false };
  return page(
    frame,
    "Log in",
    html`<h2>Log in</h2>${failed ? html`<p class="notice bad">Wrong token.</p>` : ""}
<form method="post" action="/login"><label>Token <input type="password" name="token" autofocus></label>
<button>Log in</button></form>`,
  );
}

/** A page for an error answer (400, 403, 404). */
export function errorPage(frame: Frame, title: string, message: string): string {
  return page(
    frame,
    title,
    html`
      <h2>${title}</h2>
      <p class="notice bad">${message}</p>
      <p><a href="/">Overview</a></p>
    `,
  );
}

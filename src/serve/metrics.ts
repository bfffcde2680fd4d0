/**
 * `/metrics`: the last scan in the Prometheus text exposition format,
 * version 0.0.4. Gauges come from the status report; counters and the
 * latency histogram from what the dashboard saw move between its scans
 * (see docs/operations.md, "Metrics").
 *
 * @module
 */
import { LATENCY_BUCKETS, type Snapshot } from "./scanner.ts";

/** The `Content-Type` of the text format 0.0.4. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A number as the format writes it. */
function sample(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** Renders a snapshot as the text format; `now` (milliseconds since the epoch) dates `hurah_scan_age_seconds`. */
export function renderMetrics(snapshot: Snapshot, now: number = Date.now()): string {
  const lines: string[] = [];
  const family = (name: string, type: string, help: string) =>
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const listeners = snapshot.report.listeners;
  const labels = (id: string, eventType: string, extra = "") =>
    `{listener="${escapeLabel(id)}",event_type="${escapeLabel(eventType)}"${extra}}`;
  const gauge = (name: string, help: string, value: (l: (typeof listeners)[number]) => number | null) => {
    family(name, "gauge", help);
    for (const listener of listeners) {
      const found = value(listener);
      if (found !== null) lines.push(`${name}${labels(listener.listener, listener.eventType)} ${sample(found)}`);
    }
  };
  gauge("hurah_pending_tasks", "Task files in the listener's inbox/.", (l) => l.pending);
  gauge("hurah_in_flight_tasks", "Tasks claimed by parallel workers (inflight/).", (l) => l.inFlight.length);
  gauge("hurah_error_tasks", "Task files in the listener's error/.", (l) => l.errors);
  gauge("hurah_quarantined_files", "Other entries in error/: files that are not readable tasks.", (l) => l.quarantined);
  gauge("hurah_archived_tasks", "Task files in the listener's archive/.", (l) => l.archived);
  gauge(
    "hurah_oldest_pending_age_seconds",
    "Age of the lowest pending task by its delivery time; absent when the inbox is empty.",
    (l) => l.oldestPendingAgeMs === null ? null : l.oldestPendingAgeMs / 1000,
  );
  gauge(
    "hurah_failing",
    "1 when the listener is stopped at a task that returned FAILURE, else 0.",
    (l) => l.state === "failing" ? 1 : 0,
  );
  family("hurah_dispatches_total", "counter", "Tasks delivered to the listener (its tracking.json sequence).");
  for (const l of listeners) {
    lines.push(`hurah_dispatches_total${labels(l.listener, l.eventType)} ${l.lastSequence ?? 0}`);
  }
  family(
    "hurah_tasks_handled_total",
    "counter",
    "Tasks that left the queue since this server started, by result (success: archived or deleted; error: error/).",
  );
  for (const l of listeners) {
    const counters = snapshot.counters.get(l.listener);
    for (const result of ["success", "error"] as const) {
      lines.push(
        `hurah_tasks_handled_total${labels(l.listener, l.eventType, `,result="${result}"`)} ${
          counters?.handled[result] ?? 0
        }`,
      );
    }
  }
  family(
    "hurah_task_latency_seconds",
    "histogram",
    "Seconds from a task's delivery to its arrival in archive/ (waiting plus handling), of tasks archived since this " +
      "server started, read from the archived task files.",
  );
  for (const l of listeners) {
    const counters = snapshot.counters.get(l.listener);
    let cumulative = 0;
    for (let k = 0; k <= LATENCY_BUCKETS.length; k++) {
      cumulative += counters?.buckets[k] ?? 0;
      const le = k < LATENCY_BUCKETS.length ? String(LATENCY_BUCKETS[k]) : "+Inf";
      lines.push(`hurah_task_latency_seconds_bucket${labels(l.listener, l.eventType, `,le="${le}"`)} ${cumulative}`);
    }
    lines.push(`hurah_task_latency_seconds_sum${labels(l.listener, l.eventType)} ${sample(counters?.latencySum ?? 0)}`);
    lines.push(`hurah_task_latency_seconds_count${labels(l.listener, l.eventType)} ${counters?.latencyCount ?? 0}`);
  }
  family("hurah_listeners", "gauge", "Listeners under the event root.");
  lines.push(`hurah_listeners ${listeners.length}`);
  family("hurah_scan_duration_seconds", "gauge", "How long the last scan of the event root took.");
  lines.push(`hurah_scan_duration_seconds ${sample(snapshot.scanMs / 1000)}`);
  family("hurah_scan_age_seconds", "gauge", "How old the scan these values come from is.");
  lines.push(`hurah_scan_age_seconds ${sample(Math.max(0, now - Date.parse(snapshot.report.time)) / 1000)}`);
  return lines.join("\n") + "\n";
}

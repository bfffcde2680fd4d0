/**
 * Reads and checks the log of `handlers/ordering_log.ts`, for the ordering
 * key test and `scripts/acceptance/ordering.ts`.
 *
 * @module
 */

/** One handler run: started, and ended unless its process was killed first. */
export interface LoggedRun {
  sequence: number;
  key: string;
  pid: number;
  start: number;
  end?: number;
}

/** What the log shows. */
export interface OrderingCheck {
  /** Runs logged (a task run again after a kill counts twice). */
  runs: number;
  /** Runs that never ended (their process was killed). */
  unfinished: number;
  /** Distinct tasks that completed. */
  completed: number;
  /** Each breach of the per-key order, in words. */
  violations: string[];
  /** The most runs of different keys in progress at one moment. */
  mostKeysAtOnce: number;
}

/** The runs of a log. */
export function readRuns(text: string): LoggedRun[] {
  const open = new Map<string, LoggedRun>();
  const runs: LoggedRun[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const [what, sequence, key, pid, time] = line.split(" ");
    const id = `${sequence} ${pid}`;
    if (what === "start") {
      const run = { sequence: Number(sequence), key, pid: Number(pid), start: Number(time) };
      open.set(id, run);
      runs.push(run);
    } else {
      const run = open.get(id);
      if (run) run.end = Number(time);
      open.delete(id);
    }
  }
  return runs;
}

/**
 * Checks that, per key, tasks started in sequence order and that each task
 * had a completed run that ended before a later task of its key started
 * (a run cut off by a kill is allowed to be run again, by then), and
 * measures how many keys ran at once.
 */
export function checkOrdering(runs: readonly LoggedRun[]): OrderingCheck {
  const violations: string[] = [];
  const byKey = new Map<string, LoggedRun[]>();
  for (const run of runs) if (run.key !== "-") byKey.set(run.key, [...byKey.get(run.key) ?? [], run]);
  for (const [key, each] of byKey) {
    each.sort((a, b) => a.start - b.start);
    for (let k = 1; k < each.length; k++) {
      const [before, run] = [each[k - 1], each[k]];
      if (run.sequence < before.sequence) {
        violations.push(`${key}: task ${run.sequence} started after task ${before.sequence}`);
      } else if (run.sequence > before.sequence) {
        const done = each.slice(0, k).some((r) =>
          r.sequence === before.sequence && r.end !== undefined && r.end <= run.start
        );
        if (!done) violations.push(`${key}: task ${run.sequence} started before task ${before.sequence} had ended`);
      }
    }
  }
  const edges = runs.filter((run) => run.end !== undefined).flatMap((run) => [
    { at: run.start, key: run.key, step: 1 },
    { at: run.end!, key: run.key, step: -1 },
  ]).sort((a, b) => a.at - b.at || a.step - b.step);
  const running = new Map<string, number>();
  let mostKeysAtOnce = 0;
  for (const edge of edges) {
    const count = (running.get(edge.key) ?? 0) + edge.step;
    if (count === 0) running.delete(edge.key);
    else running.set(edge.key, count);
    mostKeysAtOnce = Math.max(mostKeysAtOnce, running.size);
  }
  const completed = new Set(runs.filter((run) => run.end !== undefined).map((run) => run.sequence)).size;
  return {
    runs: runs.length,
    unfinished: runs.filter((run) => run.end === undefined).length,
    completed,
    violations,
    mostKeysAtOnce,
  };
}

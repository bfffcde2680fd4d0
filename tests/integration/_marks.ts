/** The log that `handlers/marker_log.ts` and `handlers/busy_loop.ts` write: `start|end <sequence> <pid>` lines. */
import { ok } from "node:assert/strict";

/** One line of the handler's log. */
export interface Mark {
  kind: "start" | "end";
  sequence: number;
  pid: number;
}

/** The marks of a handler log so far; none while it does not exist. */
export function readMarks(log: string): Mark[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(log);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return text.split("\n").filter((line) => line !== "").map((line) => {
    const match = /^(start|end) ([0-9]+) ([0-9]+)$/.exec(line);
    ok(match, `bad log line ${JSON.stringify(line)}`);
    return { kind: match[1] as Mark["kind"], sequence: Number(match[2]), pid: Number(match[3]) };
  });
}

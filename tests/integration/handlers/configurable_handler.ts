/**
 * The counterpart of the PHP fixtures' `PhpAnchor\ConfigurableHandler`: a
 * handler module for `hurah run`, configured by environment variables so one
 * module can replay every scenario.
 *
 * - `HE_CODE`: the Task code to return for every task (`0`..`3`), or `throw`.
 * - `HE_CODE_BY_SEQ`: a JSON object from sequence number to a code as in
 *   `HE_CODE`, as `{"1":"0","2":"3","3":"1","4":"throw"}`; it wins over
 *   `HE_CODE` for the sequences it names.
 * - `HE_MAX_ATTEMPTS`: what `maxAttempts()` returns (default 0).
 * - `HE_THROW=1`: throw for every task.
 * - `HE_SEQ_LOG`: a file the handler appends each sequence it is called
 *   with to, one per line, so a test can see the processing order.
 *
 * A thrown error says `handler exploded on sequence N`, as PHP's did.
 *
 * @module
 */
import { Handler, type TaskContext, type TaskResult } from "../../../mod.ts";

/** What the handler throws, named after PHP's exception. */
export class RuntimeException extends Error {
  override name = "RuntimeException";
}

/** Reads an env var, `undefined` when unset or empty. */
function env(name: string): string | undefined {
  const value = Deno.env.get(name);
  return value === undefined || value === "" ? undefined : value;
}

/** The code configured for one sequence: a number, or `"throw"`. */
function codeFor(sequence: number): string {
  if (env("HE_THROW") === "1") return "throw";
  const bySequence = env("HE_CODE_BY_SEQ");
  if (bySequence !== undefined) {
    const table = JSON.parse(bySequence) as Record<string, string | number>;
    if (Object.hasOwn(table, String(sequence))) return String(table[String(sequence)]);
  }
  const code = env("HE_CODE");
  if (code === undefined) throw new Error("set HE_CODE, HE_CODE_BY_SEQ or HE_THROW=1");
  return code;
}

/** Returns, or throws, what the environment says. */
export default class ConfigurableHandler extends Handler {
  override maxAttempts(): number {
    return Number(env("HE_MAX_ATTEMPTS") ?? 0);
  }

  async handleTask(context: TaskContext): Promise<TaskResult> {
    const log = env("HE_SEQ_LOG");
    if (log !== undefined) await Deno.writeTextFile(log, `${context.sequence}\n`, { append: true });
    const code = codeFor(context.sequence);
    if (code === "throw") throw new RuntimeException(`handler exploded on sequence ${context.sequence}`);
    return Number(code) as TaskResult;
  }
}

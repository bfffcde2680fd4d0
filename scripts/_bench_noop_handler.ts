/**
 * The handler of the drain's `hurah run` contender: SUCCESS at once, as the other drains' no-op handlers.
 *
 * @module
 */
import { Task, type TaskResult } from "../mod.ts";

export default function noop(): TaskResult {
  return Task.SUCCESS;
}

/** What `hurah pause`, `resume` and `discard` share: the listener argument, the user, a pause in words. */
import type { ListenerPause } from "../protocol/listener_status.ts";
import { type CliIo, UsageError } from "./_io.ts";

/** The one positional argument of `pause` and `resume`: the listener id. */
export function onlyListener(positionals: string[]): string {
  if (positionals.length === 0) throw new UsageError("missing <listener>, as user/signup/mailer");
  if (positionals.length > 1) {
    throw new UsageError(`expected one <listener>, found ${positionals.length} arguments: ${positionals.join(" ")}`);
  }
  return positionals[0];
}

/** Who runs the command, from $USER (or $LOGNAME); `undefined` when neither is set. */
export function userOf(io: CliIo): string | undefined {
  return io.env("USER") ?? io.env("LOGNAME");
}

/** Who paused, where, since when and why. */
export function describePause(pause: ListenerPause): string {
  return `by ${pause.by} on ${pause.host} since ${pause.since}${pause.reason === null ? "" : `: ${pause.reason}`}`;
}

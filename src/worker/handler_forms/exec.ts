import { execHandler } from "../exec_handler.ts";
import type { HandlerForm } from "./_form.ts";

/**
 * A shell command run per task (`execHandler()`): `exec` in a config file,
 * where it runs in the config file's directory, `--exec` on the command line.
 */
export const EXEC_FORM: HandlerForm<"exec"> = {
  key: "exec",
  what: "a shell command",
  cli: {
    flag: "exec",
    value: "command",
    summary: "run a shell command per task instead of a module",
    details: "the task JSON on stdin, HURAH_* variables, exit status 0-3 is the Task code",
  },
  fromConfig: (value, base) => ({ value, cwd: base }),
  absolute: (value) => value,
  build: ({ value, maxAttempts, cwd }) => Promise.resolve(execHandler(value, { maxAttempts: maxAttempts ?? 0, cwd })),
};

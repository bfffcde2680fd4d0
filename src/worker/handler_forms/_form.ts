import type { HandlerLike } from "../handler.ts";

/** What a handler form builds a handler from. */
export interface HandlerFormSpec {
  /** The form's value: a module specifier, a shell command. */
  value: string;
  /** The directory the handler runs in, when the form keeps one (an exec handler's). */
  cwd?: string;
  /** Overrides the handler's `maxAttempts()` (the retries of an exec handler). */
  maxAttempts?: number;
}

/** How the command line names a handler of a form: the `<handler>` argument. */
export interface HandlerFormArgument {
  /** The argument's name in usage lines, as `handler` for `<handler>`. */
  readonly argument: string;
  /** What it is, for the Arguments section of `hurah run --help`. */
  readonly help: string;
}

/** How the command line names a handler of a form: a flag taking the value, as `--exec <command>`. */
export interface HandlerFormFlag {
  /** The option, without its dashes: `exec`. */
  readonly flag: string;
  /** The value's name in usage lines: `command`, for `--exec <command>` and `--exec COMMAND`. */
  readonly value: string;
  /** What the flag does, in one line (`hurah watch --help`). */
  readonly summary: string;
  /** More about it, after the summary in `hurah run --help`. */
  readonly details: string;
}

/**
 * One way to name a handler, in a config file and on the command line: a
 * module, a shell command. The registry (`registry.ts`) lists every form;
 * config loading, `--exec`-style flags, `hurah systemd` and the help texts
 * read it, so a new form is one file and one line there.
 */
export interface HandlerForm<Key extends string = string> {
  /** The config key holding the value, also the field of a handler spec: `module`, `exec`. */
  readonly key: Key;
  /** What the value is, for messages: `a module path or URL`. */
  readonly what: string;
  /** How the command line names it: the registry's `ARGUMENT_FORM` by the argument, the others by flags. */
  readonly cli: HandlerFormArgument | HandlerFormFlag;
  /** A config entry's value and working directory, relative paths resolved against `base`, the config file's directory. */
  fromConfig(value: string, base: string): { value: string; cwd?: string };
  /** The value as a systemd unit passes it to `hurah watch`: relative paths made absolute. */
  absolute(value: string): string;
  /** Builds the handler; throws `HandlerLoadError` when it cannot. */
  build(spec: HandlerFormSpec): Promise<HandlerLike>;
}

import { type CliIo, UsageError } from "./_io.ts";

/** The event root: the positional argument, then `--root`, then `HURAH_ROOT`. */
export function resolveRoot(positional: string | undefined, flag: string | undefined, io: CliIo): string {
  const root = positional ?? flag ?? io.env("HURAH_ROOT");
  if (root === undefined || root === "") {
    throw new UsageError("no event root given; pass it as an argument, with --root DIR, or in HURAH_ROOT");
  }
  return root;
}

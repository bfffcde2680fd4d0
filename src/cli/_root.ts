import { addressExists } from "../backend/connect.ts";
import { type CliIo, UsageError } from "./_io.ts";

/** The event root: the positional argument, then `--root`, then `HURAH_ROOT`. */
export function resolveRoot(positional: string | undefined, flag: string | undefined, io: CliIo): string {
  const root = positional ?? flag ?? io.env("HURAH_ROOT");
  if (root === undefined || root === "") {
    throw new UsageError("no event root given; pass it as an argument, with --root DIR, or in HURAH_ROOT");
  }
  return root;
}

/**
 * Refuses an event root that does not exist, unless `create` (`--create-root`):
 * a mistyped root would otherwise be created, and watched, empty, for ever.
 * PHP's runner creates a missing root silently; hurah asks.
 */
export function requireRoot(root: string, create: boolean | undefined): void {
  if (create || addressExists({ root })) return;
  throw new UsageError(
    `the event root ${root} does not exist; check the path, or create it (mkdir -p, or --create-root ` +
      "to let this command create it)",
    { hint: false },
  );
}

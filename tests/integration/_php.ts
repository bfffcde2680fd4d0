/** The PHP original for live interop tests: where it is, and why a test cannot run it here. */
import { join } from "node:path";
import { PROJECT } from "../_helpers.ts";

/** The runnable PHP original: `../shared/php-original`, or `$HURAH_PHP_ORIGINAL`. */
export const PHP_ORIGINAL = Deno.env.get("HURAH_PHP_ORIGINAL") ?? join(PROJECT, "..", "shared", "php-original");

/** Why the PHP original cannot run here (`needs`, a file of it, is missing, or php is), or `undefined`. */
export async function phpMissing(needs: string): Promise<string | undefined> {
  try {
    await Deno.lstat(join(PHP_ORIGINAL, needs));
  } catch {
    return `the PHP original is not at ${PHP_ORIGINAL} (set HURAH_PHP_ORIGINAL)`;
  }
  try {
    const { success } = await new Deno.Command("php", { args: ["-v"], stdout: "null", stderr: "null" }).output();
    return success ? undefined : "php does not run";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "php not installed";
    throw error;
  }
}

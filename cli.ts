/**
 * The `hurah` command: `deno run -A jsr:@hurah/events/cli <command>`, or the
 * standalone binary built with `deno task compile`. Run `hurah --help` for
 * the commands.
 *
 * @module
 */
import { main } from "./src/cli/main.ts";
import { InterruptError, processIo } from "./src/cli/_io.ts";

if (import.meta.main) {
  const controller = new AbortController();
  let signals = 0;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      // The first signal aborts (waits end, a watcher stops taking tasks); a second one exits at once, with 130.
      if (++signals > 1) Deno.exit(130);
      controller.abort(new InterruptError(signal));
    });
  }
  const code = await main(Deno.args, processIo(controller.signal));
  Deno.exit(code);
}

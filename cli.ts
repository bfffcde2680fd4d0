/**
 * The `hurah` command: `deno run -A jsr:@hurah/events/cli <command>`, or the
 * standalone binary built with `deno task compile`. Run `hurah --help` for
 * the commands.
 *
 * @module
 */
import { main } from "./src/cli/main.ts";
import { processIo } from "./src/cli/_io.ts";

if (import.meta.main) {
  const controller = new AbortController();
  let signals = 0;
  const onSignal = () => {
    if (++signals > 1) Deno.exit(130);
    controller.abort(new Error("interrupted by a signal"));
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, onSignal);
  const code = await main(Deno.args, processIo(controller.signal));
  Deno.exit(code);
}

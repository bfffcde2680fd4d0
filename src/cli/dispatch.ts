import { parseArgs } from "node:util";
import { Dispatcher } from "../dispatcher.ts";
import { type CliIo, UsageError } from "./_io.ts";
import { resolveRoot } from "./_root.ts";

/** Help text of `hurah dispatch`. */
export const DISPATCH_HELP = `Usage: hurah dispatch <event_type> [payload] [options]

Writes one task into the inbox of every listener of <event_type>, of each
parent type and of the root (deepest first), and prints one line per delivery:
<listener> <sequence> <path>.

Arguments:
  event_type     '/'-separated, as product/created; '' for the root type
  payload        JSON text, @file to read it from a file, or - for stdin
                 (default: null)

Options:
  --root DIR     the event root (default: $HURAH_ROOT)
  --no-fsync     do not flush to disk before reporting (faster, not durable)
  --json         print the deliveries as a JSON array
  -h, --help     show this help

Exit codes: 0 delivered (or no listener: said on stderr), 1 unexpected
error, 2 usage error or invalid input (nothing written).
`;

/** `hurah dispatch`: returns the exit code. */
export async function dispatchCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      root: { type: "string" },
      "no-fsync": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout(DISPATCH_HELP);
    return 0;
  }
  if (positionals.length < 1) throw new UsageError("missing <event_type>");
  if (positionals.length > 2) {
    throw new UsageError(`expected <event_type> [payload], found ${positionals.length} arguments; quote the payload`);
  }
  const [eventType, payloadArg] = positionals;
  const payload = await readPayload(payloadArg, io);
  const root = resolveRoot(undefined, values.root, io);
  const dispatcher = new Dispatcher(root, { durable: !values["no-fsync"] });
  const deliveries = await dispatcher.dispatch(eventType, payload);
  if (values.json) io.stdout(JSON.stringify(deliveries) + "\n");
  else for (const d of deliveries) io.stdout(`${d.listener} ${d.sequence} ${d.path}\n`);
  if (deliveries.length === 0) {
    io.stderr(
      `hurah dispatch: no listener for ${JSON.stringify(eventType)} under ${dispatcher.root}; nothing delivered\n`,
    );
  }
  return 0;
}

async function readPayload(arg: string | undefined, io: CliIo): Promise<unknown> {
  if (arg === undefined) return null;
  let text: string;
  let source: string;
  if (arg === "-") {
    text = await io.readStdin();
    source = "standard input";
  } else if (arg.startsWith("@")) {
    source = arg.slice(1);
    try {
      text = await Deno.readTextFile(source);
    } catch (error) {
      throw new UsageError(`cannot read payload file ${source}: ${(error as Error).message}`);
    }
  } else {
    text = arg;
    source = "the payload argument";
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${source} is not valid JSON (${(error as Error).message}); quote strings as '"text"'`);
  }
}

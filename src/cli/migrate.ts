import { LockTimeoutError } from "../errors.ts";
import type { ListenerMigration } from "../backend/migration.ts";
import { parseOptions } from "./_options.ts";
import { type CliIo, UsageError } from "./_io.ts";
import { BROKER_OPTIONS, brokerHelp, loadNats, openBackend, resolvePlace } from "./_backend.ts";
import { requireRoot, resolveRoot } from "./_root.ts";

/** Help text of `hurah migrate`. */
export const MIGRATE_HELP = `Usage: hurah migrate --root DIR --broker URL[,URL...] [options]

Moves the pending tasks of every listener under the event root to a NATS
broker: registers each listener there (its consumers), publishes each task
file of its inbox/ as it is (sequence, retry count and failure records kept)
to the listener's own requeue subject, then renames the file into the
listener's migrated/ directory. Run it twice and nothing is doubled: a task
in migrated/ is on the broker. A run that was killed is run again within 2
minutes (the stream's duplicate window): the tasks published just before
the kill are then not stored twice.

Refused while a runner works a listener (its run.lock is held). Stop the
dispatchers and runners (PHP's too) first, migrate, then start them with
--broker. Tasks in error/ and archive/ stay where they are; tasks claimed in
inflight/ by a worker that died are left and listed (run 'hurah run' of that
listener once, then migrate again).

Options:
  --root DIR              the event root (default: $HURAH_ROOT)
${brokerHelp(26)}  --dry-run               say what would be moved; publish, create and move
                          nothing
  --json                  print the report as JSON
  -h, --help              show this help

Exit codes: 0 every pending task moved, 1 some were left (listed on stderr),
a runner holds a listener's run.lock, or the broker cannot be reached,
2 usage error.
`;

/** `hurah migrate`: returns the exit code. */
export async function migrateCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseOptions(args, {
    root: { type: "string" },
    ...BROKER_OPTIONS,
    "dry-run": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  }, false);
  if (values.help) {
    io.stdout(MIGRATE_HELP);
    return 0;
  }
  const root = resolveRoot(undefined, values.root, io);
  const broker = values.broker ?? (io.env("HURAH_BROKER") || undefined);
  if (broker === undefined) {
    throw new UsageError("missing --broker URL: the NATS servers to move the tasks to (or set HURAH_BROKER)");
  }
  const place = resolvePlace(undefined, { broker, replicas: values.replicas }, io);
  requireRoot(root, false);
  await using backend = await openBackend(place);
  const nats = await loadNats();
  const dryRun = values["dry-run"];
  const print = (migration: ListenerMigration) => {
    if (values.json) return;
    const published = `${migration.published.length} ${dryRun ? "to move" : "moved"}`;
    const already = migration.alreadyThere.length > 0 ? `, ${migration.alreadyThere.length} already there` : "";
    const left = migration.left.length > 0 ? `, ${migration.left.length} left` : "";
    io.stdout(`${migration.listener}: ${published}${already}${left} -> ${migration.location}\n`);
  };
  let report;
  try {
    report = await nats.migrateRoot(root, backend, { dryRun, onListener: print });
  } catch (error) {
    if (!(error instanceof LockTimeoutError)) throw error;
    const holder = error.holderPid === undefined ? "a runner" : `a runner (pid ${error.holderPid})`;
    io.stderr(
      `hurah migrate: ${holder} holds ${error.path}; nothing was migrated. Stop the listener's hurah run or ` +
        "watch, then migrate again\n",
    );
    return 1;
  }
  if (values.json) io.stdout(JSON.stringify(report) + "\n");
  let moved = 0;
  let left = 0;
  for (const migration of report.listeners) {
    moved += migration.published.length + migration.alreadyThere.length;
    left += migration.left.length;
    for (const leftover of migration.left) {
      io.stderr(`hurah migrate: ${migration.listener}: ${leftover.file} left: ${leftover.reason}\n`);
    }
  }
  if (!values.json) {
    const listeners = `${report.listeners.length} ${report.listeners.length === 1 ? "listener" : "listeners"}`;
    io.stdout(
      `${dryRun ? "would move" : "moved"} ${moved} ${moved === 1 ? "task" : "tasks"} of ${listeners}` +
        `${left > 0 ? `, ${left} left` : ""}\n`,
    );
  }
  return left > 0 ? 1 : 0;
}

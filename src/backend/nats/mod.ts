/**
 * hurah on NATS JetStream: the same handlers, `Dispatcher`, `runOnce()` and
 * `watch()`, with tasks kept in a JetStream stream instead of an event root.
 * The only module of hurah with npm dependencies (`@nats-io/jetstream`,
 * `@nats-io/transport-node`); the core never loads it. See
 * docs/scale-out.md for the mapping and what changes in the semantics.
 *
 * @example Working a listener on NATS
 * ```ts ignore
 * import { Dispatcher, Task, watch } from "jsr:@hurah/events";
 * import { NatsBackend } from "jsr:@hurah/events/nats";
 * await using backend = await NatsBackend.connect("nats://127.0.0.1:4222");
 * await using watcher = watch(backend, {
 *   listeners: [{ name: "mailer", eventType: "user/signup", handler: () => Task.SUCCESS }],
 * });
 * await watcher.ready;
 * await new Dispatcher(backend).dispatch("user/signup", { id: 1 });
 * ```
 *
 * @module
 */
export { NatsBackend, type NatsBackendOptions } from "./backend.ts";
export { NatsOperations, type RegisteredListener } from "./operations.ts";
export {
  type ListenerMigration,
  MIGRATED_DIR,
  type MigrateOptions,
  migrateRoot,
  type MigrationLeftover,
  type MigrationReport,
} from "./migrate.ts";
export type { NatsTask } from "./queue.ts";
export {
  consumerName,
  ERROR_STREAM,
  EVENT_STREAM,
  eventSubject,
  eventTypeOfSubject,
  listenerFilter,
  STATE_STREAM,
} from "./subjects.ts";
export { BrokerError } from "../../errors.ts";
export type { BrokerListenerStatus } from "../../protocol/listener_status.ts";

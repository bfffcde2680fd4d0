/**
 * What `hurah migrate` reports: the pending tasks of a file root's listeners
 * moved to a broker (`migrateRoot()` of `@hurah/events/nats`). Types only, so
 * that the command line can name them without loading the NATS module.
 */

/** A pending task of a file root that was not moved, and why. */
export interface MigrationLeftover {
  /** Its name in the listener directory, as `inbox/12.json` or `inflight/12.json~worker`. */
  file: string;
  /** What was expected and what was found, and what to do. */
  reason: string;
}

/** What `migrateRoot()` did with one listener. */
export interface ListenerMigration {
  /** The listener id, as `product/created/image_scaler`. */
  listener: string;
  /** Where its tasks are now: the broker's consumer (`HURAH_EV_1/<consumer>`). */
  location: string;
  /** Tasks published to the broker by this run and moved to `migrated/` (in a dry run: that would be). */
  published: number[];
  /**
   * Tasks the broker already had (a run before was stopped between the
   * publish and the rename: `Nats-Msg-Id` de-duplication), moved to
   * `migrated/` without a second copy.
   */
  alreadyThere: number[];
  /** Task files left where they are: unreadable, not tasks, or claimed by a parallel worker. */
  left: MigrationLeftover[];
}

/** What `migrateRoot()` did. */
export interface MigrationReport {
  /** The event root. */
  root: string;
  /** The broker's servers. */
  broker: string;
  /** Whether this was a dry run: nothing published, registered or moved. */
  dryRun: boolean;
  /** One entry per listener of the root, ordered by listener id. */
  listeners: ListenerMigration[];
}

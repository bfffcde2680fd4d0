/**
 * The schedules side of the backend port: where the ticks of recurring
 * schedules are claimed, so that each tick is dispatched once however many
 * watchers share the tasks. The file backend keeps them under
 * `<root>/.hurah/schedules/` (`src/backend/file/schedules.ts`); the NATS
 * backend does not offer them yet.
 */

/** A schedule as the backend records it: what it is, for `hurah status` and for people. */
export interface ScheduleRecord {
  /** The schedule's id: its event type and a hash of its expression, time zone, event type and payload. */
  id: string;
  /** The cron expression, as given. */
  cron: string;
  /** The time zone's IANA name. */
  timezone: string;
  /** The event type each tick dispatches. */
  eventType: string;
}

/** What the backend knows of a schedule. */
export interface ScheduleState {
  /** The schedule. */
  record: ScheduleRecord;
  /** When a watcher first recorded it. */
  since: Date;
  /** The latest tick claimed, or `null` when none was. */
  latest: Date | null;
}

/** The claims of schedule ticks: one claim per schedule and tick succeeds, whoever asks. */
export interface ScheduleClaims {
  /**
   * Records a schedule when it is new (since `now`); returns what is known of it.
   * @throws {NotSupportedError} When the backend keeps no schedules.
   */
  announce(record: ScheduleRecord, now: Date): Promise<ScheduleState>;
  /**
   * Claims a tick for the caller `by` (a worker id): `true` for exactly one
   * caller per schedule and tick, `false` when it was claimed before.
   * @throws {NotSupportedError} When the backend keeps no schedules.
   */
  claim(id: string, tick: Date, by: string): Promise<boolean>;
  /** Forgets the claims of ticks before `before`, always keeping the latest; returns how many. */
  cleanup(id: string, before: Date): Promise<number>;
  /**
   * Every schedule recorded, ordered by id.
   * @throws {NotSupportedError} When the backend keeps no schedules.
   */
  list(): Promise<ScheduleState[]>;
}

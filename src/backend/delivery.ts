/** What a dispatch reports per task written (imports nothing, so that errors/dispatch.ts can name it). */

/** One task written by a dispatch: `Dispatcher.dispatch()` returns one per listener reached. */
export interface Delivery {
  /** The listener's handler name. */
  listener: string;
  /** The event type the listener listens to (`""` for the root). */
  listenerEventType: string;
  /** The task's sequence number in that listener. */
  sequence: number;
  /** The absolute path of the task file in the listener's inbox. */
  path: string;
  /**
   * `true` when this delivery was made by an earlier dispatch with the same
   * idempotency key (this one wrote nothing); absent otherwise.
   */
  duplicate?: true;
}

// In a module of its own so that errors.ts (DeliveryError carries deliveries) imports nothing that imports it back.

/** One task file written by `Dispatcher.dispatch()`. */
export interface Delivery {
  /** The listener's handler name. */
  listener: string;
  /** The event type the listener listens to (`""` for the root). */
  listenerEventType: string;
  /** The task's sequence number in that listener. */
  sequence: number;
  /** The absolute path of the task file in the listener's inbox. */
  path: string;
}

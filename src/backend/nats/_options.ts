/** The options of `NatsBackend.connect()`, with their defaults. */

/** Options of `NatsBackend.connect()`. */
export interface NatsBackendOptions {
  /**
   * The replicas of the streams and consumers hurah creates (3 on a cluster).
   * Streams that exist are left as they are.
   * @default {1}
   */
  replicas?: number;
  /**
   * The ack wait of a listener's consumer in ordered mode, in milliseconds
   * (parallel mode: the worker's `leaseMs`); in-progress acks go out every
   * third of it while a task runs.
   * @default {30000}
   */
  ackWaitMs?: number;
  /**
   * How often a watcher looks at every listener again (redeliveries of other
   * workers' tasks), besides the wake-up that each publish gives.
   * @default {1000}
   */
  pollIntervalMs?: number;
  /**
   * How long a pull that is not filled at once waits on the server.
   * @default {50}
   */
  pullExpiresMs?: number;
  /**
   * How long a request to the server (an ack, a publish, a state write) waits for its answer.
   * @default {10000}
   */
  requestTimeoutMs?: number;
  /**
   * How long the listener list a publish reports deliveries for is kept, in milliseconds.
   * @default {1000}
   */
  listenerCacheMs?: number;
  /**
   * The `max_ack_pending` of a consumer in parallel mode (ordered mode: 1).
   * @default {10000}
   */
  maxAckPending?: number;
  /**
   * Send in-progress acks while a task runs (every third of the ack wait).
   * Off only for tests that show what they prevent: a long task redelivered.
   * @default {true}
   */
  inProgressAcks?: boolean;
  /**
   * The connection's name, as the server shows it.
   * @default {"hurah"}
   */
  name?: string;
}

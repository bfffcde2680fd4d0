/**
 * Pulls from a listener's consumer with JetStream's own request (`$JS.API.CONSUMER.MSG.NEXT`), answered on one reply
 * subscription per queue: exactly the batch asked for, `no_wait` with a short server-side expiry, so that nothing is
 * delivered to a request nobody reads any more. Messages that answer a pull given up on are kept as `late`; after
 * the queue closed, they are handed back (a loaded server can read a request late and deliver to it then). The
 * acks a worker waits for are confirmed on the same subscription (`confirm()`).
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { createInbox, type Msg, nanos, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { BrokerError } from "../../errors.ts";
import { EVENT_STREAM } from "./subjects.ts";

/** How many pulls given up on are remembered as outstanding. */
const MAX_OUTSTANDING = 64;

/** A pull waiting for its answer. */
interface Pull {
  stream: string;
  token: string;
  batch: number;
  messages: Msg[];
  /** Whether a message or a status answered it. */
  answered: boolean;
  /** Whether the server ended it with a status (nothing more comes for it then). */
  ended: boolean;
  end(result: Msg[] | BrokerError): void;
}

/** The pulls of one queue. */
export class Puller {
  /** The inbox pulls are answered on (`<inbox>.<n>`, one subscription for the queue's life). */
  readonly #inbox = createInbox();
  readonly #replies: Subscription;
  /** The last token given to a request (a pull, `<n>`; an ack to confirm, `a<n>`). */
  #tokens = 0;
  /** The acks waiting for the server's confirmation, by token: called with the answer's status code. */
  readonly #confirming = new Map<string, (code: number) => void>();
  /** The pull waiting for its answer. */
  #pulling: Pull | undefined;
  /** Messages that answered a pull given up on (the server went quiet): owned all the same, handed out next. */
  #late: Msg[] = [];
  /** The tokens of pulls given up on with no status from the server yet: it may still deliver to them. */
  readonly #outstanding = new Set<string>();
  /** After `close()`, while a pull is outstanding: where its late deliveries go. */
  #handBack: ((message: Msg) => void) | undefined;
  #closing: ReturnType<typeof setTimeout> | undefined;
  /**
   * Whether the last pull ended with no answer at all (neither a message nor a status): a loaded server can drop
   * a request it reads after its expiry. Empty then says nothing about the consumer: pull again.
   */
  unanswered = false;

  constructor(
    readonly link: { nc: NatsConnection; jsm: JetStreamManager },
    readonly options: {
      /** The consumer's durable name. */
      consumer: string;
      /** The server-side expiry of a pull. */
      pullExpiresMs: number;
      /** How long past its expiry a pull's answer is waited for. */
      requestTimeoutMs: number;
    },
  ) {
    this.#replies = link.nc.subscribe(`${this.#inbox}.*`, { callback: (_error, message) => this.#answer(message) });
  }

  /** Messages that answered a pull given up on, not taken yet. */
  get late(): readonly Msg[] {
    return this.#late;
  }

  /** Takes the late messages. */
  takeLate(): Msg[] {
    const late = this.#late;
    this.#late = [];
    return late;
  }

  /**
   * Ends the reply subscription, at once when no pull given up on is
   * outstanding. Else it is read until each has its status from the server
   * (or for the request timeout at most), and what is delivered to them
   * meanwhile goes to `handBack`: never into an inbox nobody reads, where
   * it would wait out its ack wait.
   */
  close(handBack: (message: Msg) => void): void {
    if (this.#outstanding.size === 0) return this.#replies.unsubscribe();
    this.#handBack = handBack;
    this.#closing = setTimeout(() => this.#replies.unsubscribe(), this.options.requestTimeoutMs);
    Deno.unrefTimer(this.#closing);
  }

  /**
   * Pulls up to `batch` messages: what is there at once, then what arrives
   * until the server expires the request (it ends it: a message is never
   * delivered to a request nobody reads). The answer comes on the queue's
   * one reply subscription.
   */
  async pull(stream: string, batch: number): Promise<Msg[]> {
    const expiresMs = this.options.pullExpiresMs;
    const token = String(++this.#tokens);
    const answered = new Promise<Msg[] | BrokerError>((resolve) => {
      // The server ends the request itself (408 at its expiry). No answer within a second more: maybe no consumer
      // took the request (deleted by hand: the server says nothing then), which is looked at once; no answer by
      // the request timeout: a server gone meanwhile, and the pull ends empty.
      const look = setTimeout(() => {
        if (this.#pulling !== pull || pull.messages.length > 0) return;
        this.#checkConsumer(stream).then(() => {
          if (this.#pulling === pull && !pull.answered) pull.end(pull.messages); // dropped: a late answer is `late`
        }, (error) => pull.end(error));
      }, expiresMs + 1000);
      const timer = setTimeout(() => pull.end(pull.messages), expiresMs + this.options.requestTimeoutMs);
      const pull: Pull = {
        stream,
        token,
        batch,
        messages: [],
        answered: false,
        ended: false,
        end: (result) => {
          clearTimeout(look);
          clearTimeout(timer);
          if (this.#pulling === pull) this.#pulling = undefined;
          this.unanswered = !pull.answered;
          if (!pull.ended && pull.messages.length < batch) this.#outstanding.add(token);
          // A status the server dropped never comes: the oldest tokens are forgotten.
          for (const old of this.#outstanding) {
            if (this.#outstanding.size > MAX_OUTSTANDING) this.#outstanding.delete(old);
          }
          resolve(result);
        },
      };
      this.#pulling = pull;
    });
    this.link.nc.publish(
      `$JS.API.CONSUMER.MSG.NEXT.${stream}.${this.options.consumer}`,
      JSON.stringify({ batch, no_wait: true, expires: nanos(expiresMs) }),
      { reply: `${this.#inbox}.${token}` },
    );
    const result = await answered;
    if (result instanceof Error) throw result;
    return result;
  }

  /**
   * A message on the reply subscription. A delivery carries its own subject
   * (not the inbox): it belongs to the pull waiting, or, when none waits,
   * is late and kept for the next take. A status (404, 408, ...) names its
   * pull by the inbox token; one of a pull given up on is dropped.
   */
  #answer(message: Msg): void {
    const code = message.headers?.code ?? 0;
    // A status or a confirmation names its request by the inbox token (a delivery carries its own subject).
    const token = message.subject.slice(this.#inbox.length + 1);
    const confirmed = this.#confirming.get(token);
    if (confirmed !== undefined) return confirmed(code);
    const pull = this.#pulling;
    if (code === 0) {
      if (!message.reply) return;
      if (this.#handBack !== undefined) return this.#handBack(message);
      if (pull === undefined) {
        this.#late.push(message);
        return;
      }
      pull.answered = true;
      pull.messages.push(message);
      if (pull.messages.length >= pull.batch) pull.end(pull.messages);
      return;
    }
    if (this.#outstanding.delete(token) && this.#handBack !== undefined && this.#outstanding.size === 0) {
      clearTimeout(this.#closing);
      this.#replies.unsubscribe();
    }
    if (pull === undefined || token !== pull.token) return;
    pull.answered = true;
    pull.ended = true;
    if (code === 404 || code === 408 || (code === 409 && /exceeded/i.test(message.headers?.description ?? ""))) {
      return pull.end(pull.messages);
    }
    const description = message.headers?.description ?? "";
    pull.end(new BrokerError(`${EVENT_STREAM}/${this.options.consumer}`, code, description));
  }

  /**
   * Sends an ack (`+ACK`) to a delivery's reply subject and waits for the
   * server to confirm it, as `nc.request()` does but answered on this inbox:
   * the client's request builds two errors (their stacks) for every call,
   * answered or not, a fifth of a drain's time here.
   *
   * @throws {Error} When no confirmation came within `requestTimeoutMs`, or
   * the server answered with a status (503: the consumer is gone).
   */
  confirm(subject: string, payload: string): Promise<void> {
    const token = `a${++this.#tokens}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#confirming.delete(token);
        reject(
          new Error(`the server did not confirm ${payload} within ${this.options.requestTimeoutMs} ms (${subject})`),
        );
      }, this.options.requestTimeoutMs);
      this.#confirming.set(token, (code) => {
        clearTimeout(timer);
        this.#confirming.delete(token);
        if (code === 0) resolve();
        else reject(new Error(`the server answered ${payload} with status ${code} (${subject})`));
      });
      try {
        this.link.nc.publish(subject, payload, { reply: `${this.#inbox}.${token}` });
      } catch (error) {
        clearTimeout(timer);
        this.#confirming.delete(token);
        reject(error); // the connection is closed
      }
    });
  }

  /** Throws a {@linkcode BrokerError} when the listener's consumer is gone. */
  async #checkConsumer(stream: string): Promise<void> {
    try {
      await this.link.jsm.consumers.info(stream, this.options.consumer);
    } catch (error) {
      const code = (error as { code?: unknown })?.code;
      if (code !== 10014 && code !== 10059) throw error;
      throw new BrokerError(`${stream}/${this.options.consumer}`, 404, "consumer not found");
    }
  }
}

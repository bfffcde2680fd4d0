/**
 * Ordering keys in parallel mode (one part of `ParallelFileQueue`): a task
 * with ordering key K may be claimed only when no task with key K and a
 * lower sequence number is pending (inbox) or in flight (`inflight/`, any
 * worker). Each listing starts with a snapshot of both directories taken
 * under the listener's `order.lock`, which every put-back (and take-over)
 * of a task with a key also takes: claims move tasks from the inbox to
 * `inflight/` only, so the snapshot misses no task with a key. Keys are read
 * once per task and kept by sequence number (a task's key never changes),
 * and only in a listener with the `ordering_keys` marker, which dispatchers
 * create before the first task with a key.
 */
import { join } from "node:path";
import { Layout } from "../../protocol/layout.ts";
import { isNotFound, isTaken, lockFile } from "./_fs.ts";
import type { FileStore, ListenerRef } from "./file_store.ts";
import type { InboxListing } from "./_types.ts";
import type { OpenOptions } from "../port.ts";

/** The tasks with ordering keys of a listener, as one parallel worker sees them. */
export class OrderingKeys {
  /** Each task's ordering key (`null`: none), by sequence. */
  readonly #keys = new Map<number, string | null>();
  /** Per key, the tasks of the current listing that hold it: in flight, or pending below where the walk is. */
  #holders = new Map<string, Set<number>>();
  /** Whether the current listing has tasks with keys (else nothing is checked). */
  #active = false;
  /** Whether the listener's `ordering_keys` marker was seen (it is never removed). */
  #keyed = false;
  /** Whether a task of the current listing was held back for its key. */
  heldBack = false;

  constructor(
    readonly store: FileStore,
    readonly listener: ListenerRef,
    readonly open: Pick<OpenOptions, "maxTaskSize" | "wait">,
  ) {}

  /**
   * Lists the inbox for a new walk. When a task in it has an ordering key,
   * lists it again under the order lock with `inflight/`, and takes the
   * tasks in flight as holders of their keys.
   */
  async list(): Promise<InboxListing> {
    const first = await this.store.listInbox(this.listener);
    this.#holders = new Map();
    this.heldBack = false;
    // Looked for after the listing: a dispatcher creates the marker before the first keyed task it writes.
    this.#active = this.#marked() && first.sequences.some((sequence) => this.#read(sequence) !== null);
    if (!this.#active) return first;
    using _ = await this.lock();
    const listing = await this.store.listInbox(this.listener);
    for (const claim of this.store.listInflight(this.listener)) {
      this.hold(claim.sequence, this.#read(claim.sequence, claim.file));
    }
    for (const sequence of listing.sequences) this.#read(sequence);
    this.#keys.forEach((_, sequence) => {
      if (sequence < (listing.sequences[0] ?? 0) && !this.#isHolder(sequence)) this.#keys.delete(sequence);
    });
    return listing;
  }

  /**
   * Whether a pending task may be claimed now: it has no key, or no task of
   * its key below it is held. One that may not is held itself (it stays pending).
   */
  mayClaim(sequence: number): boolean {
    if (!this.#active) return true;
    const key = this.#keys.get(sequence) ?? null;
    if (key === null) return true;
    const holders = this.#holders.get(key);
    for (const held of holders ?? []) {
      if (held < sequence) {
        holders!.add(sequence);
        this.heldBack = true;
        return false;
      }
    }
    return true;
  }

  /** A task of the listing that is pending or in flight (skipped, claimed by anyone): it holds its key. */
  hold(sequence: number, key = this.#keys.get(sequence) ?? null): void {
    if (!this.#active || key === null) return;
    let holders = this.#holders.get(key);
    if (holders === undefined) this.#holders.set(key, holders = new Set());
    holders.add(sequence);
  }

  /** A task this worker settled for good (archived, in `error/`, quarantined): it no longer holds its key. */
  release(sequence: number): void {
    const key = this.#keys.get(sequence);
    if (key) this.#holders.get(key)?.delete(sequence);
  }

  /** Whether moving this task out of `inflight/` other than for good needs the order lock: it has a key, or may have. */
  keyed(sequence: number): boolean {
    return this.#marked() && this.#keys.get(sequence) !== null;
  }

  /** The listener's order lock (waited for as the queue's waits are). */
  async lock(): Promise<Disposable> {
    const file = await lockFile(join(this.listener.dir, Layout.ORDER_LOCK), this.open.wait);
    return { [Symbol.dispose]: () => file.close() };
  }

  /** Whether a task with an ordering key was ever dispatched to this listener (its `ordering_keys` marker). */
  #marked(): boolean {
    // isTaken(): the marker is missing in most listeners, and a thrown NotFound would cost every listing ~15 µs.
    return this.#keyed ||= isTaken(join(this.listener.dir, Layout.KEYED)); // never removed
  }

  #isHolder(sequence: number): boolean {
    const key = this.#keys.get(sequence);
    return key !== null && key !== undefined && (this.#holders.get(key)?.has(sequence) ?? false);
  }

  /**
   * A task's key, read from its file (in the inbox, or claimed as `claimed`)
   * once. A task gone from the inbox was claimed meanwhile: it is read in
   * `inflight/`, and held; one that is not there either is done. An
   * unreadable file (half-written, not a task) counts as no key and is read
   * again next time.
   */
  #read(sequence: number, claimed?: string): string | null {
    const known = this.#keys.get(sequence);
    if (known !== undefined) return known;
    const read = (dir: typeof Layout.INBOX | typeof Layout.INFLIGHT, file: string): string | null | undefined => {
      try {
        const found = this.store.readTask(this.listener, dir, file, this.open.maxTaskSize);
        if (found.kind !== "file") return null;
        const task = JSON.parse(new TextDecoder().decode(found.bytes));
        return typeof task?.ordering_key === "string" ? task.ordering_key : null;
      } catch (error) {
        if (isNotFound(error)) return undefined;
        if (error instanceof SyntaxError || error instanceof Deno.errors.PermissionDenied) return null;
        throw error;
      }
    };
    let key = read(claimed ? Layout.INFLIGHT : Layout.INBOX, claimed ?? `${sequence}.json`);
    if (key === undefined && claimed === undefined) {
      const claim = this.store.listInflight(this.listener).find((each) => each.sequence === sequence);
      key = claim === undefined ? undefined : read(Layout.INFLIGHT, claim.file);
      if (key !== undefined) this.hold(sequence, key);
    }
    if (key === undefined) return null; // done meanwhile
    this.#keys.set(sequence, key);
    return key;
  }
}

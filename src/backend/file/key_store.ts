/**
 * The file backend's idempotency keys: one file per key,
 * `<root>/.hurah/keys/<sha256 of event type and key>.json`, created
 * exclusively (staged in `tmp/`, then hard-linked to its name: the link
 * fails if another dispatcher got there first). The winner holds a flock on
 * its claim while it delivers, then records the deliveries in the file;
 * a loser reads the winner's record, waiting while the claim is held. See
 * docs/protocol.md, "Idempotency keys".
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { CorruptFileError, LockTimeoutError, UnsafePathError } from "../../errors.ts";
import type { Delivery } from "../delivery.ts";
import { hostId } from "../../worker/_worker_id.ts";
import {
  isAlreadyExists,
  isNotFound,
  lstatOrUndefined,
  noticeLockWait,
  readAllText,
  readTextIfExists,
  removeIfExists,
  syncDir,
  syncFile,
  writeFileSynced,
} from "./_fs.ts";
import type { LockWaitOptions } from "./_types.ts";

/** The key store under the event root. */
export const KEYS_DIR = ".hurah/keys";

/**
 * A claim whose deliveries are not recorded after this long is taken over
 * even when its flock is held (a dispatcher frozen that long, or one on
 * another host, whose flock this host cannot see).
 */
export const STALE_CLAIM_MS = 5 * 60 * 1000;

/** How often (at most) dispatchers remove expired keys: the mtime of `.hurah/keys/swept` says when it was last done. */
export const KEY_SWEEP_INTERVAL_MS = 60 * 60 * 1000;

/**
 * How often a loser looks again at a claim whose deliveries are not recorded
 * yet: after 2 ms, then twice as long each time, up to 50 ms (many waiters
 * polling fast would take the CPU from the dispatchers they wait for).
 */
const CLAIM_POLL_FIRST_MS = 2;
const CLAIM_POLL_MAX_MS = 50;
/** How often a loser reads the claim again and checks its claimer's flock: every 20 ms at first, up to every 500 ms. */
const CLAIM_RECHECK_FIRST_MS = 20;
const CLAIM_RECHECK_MAX_MS = 500;

/** A key's file, as stored. */
export interface KeyRecord {
  /** The key, as given. */
  key: string;
  /** The event type it is scoped to. */
  event_type: string;
  /** The id of the event published under the key (a take-over publishes with the same id). */
  event_id: string;
  /** A unique id of this claim: who owns the file. */
  claim_id: string;
  /** When it was claimed, ISO-8601, by the claimer's clock. */
  claimed: string;
  /** When the key expires (the claim time plus the window), ISO-8601. */
  expires: string;
  /** The claimer's host and pid. */
  host: string;
  pid: number;
  /** The deliveries, once recorded; absent while the claimer delivers. */
  deliveries?: Delivery[];
}

/** A key this dispatcher claimed: record its deliveries, or release it. */
export interface KeyClaim {
  readonly path: string;
  readonly record: KeyRecord;
  /** The claim's file, flocked while the claimer delivers. */
  readonly file: Deno.FsFile;
}

/** What claiming a key gave. */
export type KeyOutcome =
  | { kind: "claimed"; claim: KeyClaim }
  | { kind: "duplicate"; record: KeyRecord & { deliveries: Delivery[] } };

/** Options of {@linkcode KeyStore}. */
export interface KeyStoreOptions {
  /** Flush the key files to disk. */
  durable: boolean;
  /** The clock (of `claimed` and `expires`). */
  now: () => Date;
  /** How a claim waits for another dispatcher's claim of the same key (a lock wait: timeout, signal, notice). */
  wait: LockWaitOptions;
}

/** The file name of a key: the SHA-256 of its event type and the key, so that any key makes a safe name. */
export function keyFileName(eventType: string, key: string): string {
  return createHash("sha256").update(`${eventType}\n${key}`).digest("hex") + ".json";
}

/** The idempotency keys of an event root. */
export class KeyStore {
  readonly dir: string;
  readonly #options: KeyStoreOptions;
  #ready = false;

  constructor(root: string, options: KeyStoreOptions) {
    this.dir = join(root, KEYS_DIR);
    this.#options = options;
  }

  /**
   * Claims `key` for one event of `eventType`, publishing as `eventId`: the
   * claim, or the record of an earlier dispatch with the key that has not
   * expired. A claim being delivered by a live dispatcher is waited for; a
   * claim whose dispatcher is gone (its flock free) or that is older than
   * {@linkcode STALE_CLAIM_MS}, and an expired record, are taken over (a
   * take-over keeps the stale claim's event id).
   *
   * @throws {LockTimeoutError} When another dispatcher's claim is still being delivered after twice
   * `wait.timeoutMs` and a second (the claimer may wait that long for a dispatch lock).
   * @throws {CorruptFileError} When the key's file is not a key record.
   */
  async claim(eventType: string, key: string, windowMs: number, eventId: string): Promise<KeyOutcome> {
    this.#ensureDirs();
    await this.#sweepIfDue();
    const path = join(this.dir, keyFileName(eventType, key));
    const started = Date.now();
    const { timeoutMs = Infinity, signal } = this.#options.wait;
    let noticed = false;
    for (let pollMs = CLAIM_RECHECK_FIRST_MS;; pollMs = Math.min(pollMs * 2, CLAIM_RECHECK_MAX_MS)) {
      signal?.throwIfAborted();
      const now = this.#options.now();
      const record: KeyRecord = {
        key,
        event_type: eventType,
        event_id: eventId,
        claim_id: crypto.randomUUID(),
        claimed: now.toISOString(),
        expires: new Date(now.getTime() + windowMs).toISOString(),
        host: hostId(),
        pid: Deno.pid,
      };
      const won = await this.#link(path, record);
      if (won) return { kind: "claimed", claim: won };
      const found = this.#read(path);
      if (found === undefined) continue; // removed meanwhile: try again
      const seen = lstatOrUndefined(path)?.ino ?? null;
      if (found.deliveries !== undefined) {
        if (Date.parse(found.expires) > now.getTime()) {
          return { kind: "duplicate", record: found as KeyRecord & { deliveries: Delivery[] } };
        }
        await this.#remove(path, found.claim_id, "expired"); // claim it anew
        continue;
      }
      // Claimed, not recorded yet: wait for the claimer, unless it is gone (its flock is free, on this host) or
      // the claim is stale (a frozen claimer, or one on another host, whose flock this host cannot see).
      const stale = now.getTime() - Date.parse(found.claimed) > STALE_CLAIM_MS;
      if ((found.host === hostId() || stale) && await this.#remove(path, found.claim_id, "unrecorded", stale)) {
        eventId = found.event_id; // what the claimer may have delivered already carries this id
        continue;
      }
      const waitedMs = Date.now() - started;
      // The claimer itself may wait up to the bound for a dispatch lock: twice that, and a second.
      const boundMs = timeoutMs * 2 + 1000;
      if (waitedMs >= boundMs) throw new LockTimeoutError(path, waitedMs, found.pid);
      if (!noticed && waitedMs >= 1000) {
        noticed = true;
        (this.#options.wait.onWait ?? noticeLockWait)({ path, waitedMs, timeoutMs: boundMs, holderPid: found.pid });
      }
      await this.#whileUnchanged(path, seen, pollMs, signal);
    }
  }

  /**
   * Waits about `ms` while the key's name holds the file `ino` (one lstat
   * every few milliseconds: cheap, as a thousand waiters may poll at once).
   */
  async #whileUnchanged(path: string, ino: number | null, ms: number, signal?: AbortSignal): Promise<void> {
    const until = Date.now() + ms;
    for (let pause = CLAIM_POLL_FIRST_MS; Date.now() < until; pause = Math.min(pause * 2, CLAIM_POLL_MAX_MS)) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(1, until - Date.now()))));
      signal?.throwIfAborted();
      try {
        if (Deno.lstatSync(path).ino !== ino) return;
      } catch (error) {
        if (isNotFound(error)) return;
        throw error;
      }
    }
  }

  /**
   * Records a claim's deliveries in its file (unless it was taken over
   * meanwhile: then `false`), and lets the claim go.
   */
  async record(claim: KeyClaim, deliveries: readonly Delivery[]): Promise<boolean> {
    try {
      if (!this.#stillMine(claim)) return false;
      const staged = this.#stagingPath("record");
      try {
        await writeFileSynced(staged, JSON.stringify({ ...claim.record, deliveries }) + "\n", this.#options.durable);
        Deno.renameSync(staged, claim.path);
      } catch (error) {
        removeIfExists(staged);
        throw error;
      }
      if (this.#options.durable) await syncDir(this.dir);
      return true;
    } finally {
      claim.file.close();
    }
  }

  /** Gives a claim up (its dispatch failed), so that the next dispatch with the key delivers. */
  async release(claim: KeyClaim): Promise<void> {
    try {
      if (this.#stillMine(claim)) this.#putAside(claim.path);
    } finally {
      claim.file.close();
    }
    return await Promise.resolve();
  }

  /**
   * Whether the key's name still holds this claim's file. Only a take-over
   * of a stale claim (a claimer frozen for {@linkcode STALE_CLAIM_MS}) can
   * have replaced it: everyone else needs the claim's flock, which its
   * claimer holds.
   */
  #stillMine(claim: KeyClaim): boolean {
    const held = claim.file.statSync();
    try {
      return Deno.lstatSync(claim.path).ino === held.ino;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /**
   * Removes the keys that have expired, and claims whose dispatcher is gone
   * that would have expired; returns how many. Dispatchers call it at most
   * once per {@linkcode KEY_SWEEP_INTERVAL_MS} (all of them together).
   */
  async sweep(): Promise<number> {
    let removed = 0;
    const now = this.#options.now().getTime();
    let names: string[];
    try {
      names = [...Deno.readDirSync(this.dir)].filter((entry) => entry.isFile && entry.name.endsWith(".json"))
        .map((entry) => entry.name);
    } catch (error) {
      if (isNotFound(error)) return 0;
      throw error;
    }
    for (const name of names) {
      const path = join(this.dir, name);
      let found: KeyRecord | undefined;
      try {
        found = this.#read(path);
      } catch (error) {
        if (error instanceof CorruptFileError) continue; // not ours to judge: left for a person
        throw error;
      }
      if (found === undefined || Date.parse(found.expires) > now) continue;
      if (found.deliveries === undefined && found.host !== hostId()) continue; // judged by age at its next claim
      if (await this.#remove(path, found.claim_id, found.deliveries ? "expired" : "unrecorded")) removed++;
    }
    return removed;
  }

  /** Sweeps when `.hurah/keys/swept` is older than the interval (or missing), touching it first. */
  async #sweepIfDue(): Promise<void> {
    const marker = join(this.dir, "swept");
    let modified: number | undefined;
    try {
      modified = Deno.lstatSync(marker).mtime?.getTime();
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    if (modified !== undefined && Date.now() - modified < KEY_SWEEP_INTERVAL_MS) return;
    Deno.writeTextFileSync(marker, "");
    await this.sweep();
  }

  /** Stages a claim, flocks it, and links it to its name; `undefined` when the name is taken. */
  async #link(path: string, record: KeyRecord): Promise<KeyClaim | undefined> {
    const staged = this.#stagingPath("claim");
    const file = Deno.openSync(staged, { read: true, write: true, createNew: true });
    try {
      file.tryLockSync(true); // a new file: nobody else holds it
      const bytes = new TextEncoder().encode(JSON.stringify(record) + "\n");
      for (let written = 0; written < bytes.length;) written += file.writeSync(bytes.subarray(written));
      if (this.#options.durable) await syncFile(file, join(this.dir, "tmp"));
      try {
        Deno.linkSync(staged, path);
      } catch (error) {
        if (!isAlreadyExists(error)) throw error;
        file.close();
        return undefined;
      }
      if (this.#options.durable) await syncDir(this.dir);
      return { path, record, file };
    } catch (error) {
      file.close();
      throw error;
    } finally {
      removeIfExists(staged);
    }
  }

  /**
   * Removes a key's file if it is still the record `claimId` in the state
   * expected (`unrecorded`: its claimer has not recorded deliveries;
   * `expired`) and nobody holds its flock (a claimer delivering holds it;
   * so does another dispatcher removing it); whether it did. A `stale`
   * claim is removed even while its flock is held. The flock is held for
   * the check and the rename: a file found in the name is then the one that
   * was checked.
   */
  async #remove(path: string, claimId: string, expect: "unrecorded" | "expired", stale = false): Promise<boolean> {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { read: true });
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
    try {
      if (!file.tryLockSync(true) && !stale) return false;
      const record = this.#parse(path, await readAllText(file));
      if (record.claim_id !== claimId) return false;
      const expected = expect === "unrecorded"
        ? record.deliveries === undefined
        : Date.parse(record.expires) <= this.#options.now().getTime();
      if (!expected) return false; // recorded meanwhile (a new file with the same claim id)
      if (Deno.lstatSync(path).ino !== file.statSync().ino) return false; // replaced meanwhile
      return this.#putAside(path);
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    } finally {
      file.close();
    }
  }

  /** Removes a key's file by renaming it aside first (never unlinking by name a file that may be new). */
  #putAside(path: string): boolean {
    const aside = this.#stagingPath("removed");
    try {
      Deno.renameSync(path, aside);
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
    removeIfExists(aside);
    return true;
  }

  /** A key's record, or `undefined` when there is no file. */
  #read(path: string): KeyRecord | undefined {
    const text = readTextIfExists(path);
    return text === undefined ? undefined : this.#parse(path, text);
  }

  /** A key file's text as a record. */
  #parse(path: string, text: string): KeyRecord {
    let record: KeyRecord;
    try {
      record = JSON.parse(text);
    } catch (error) {
      throw new CorruptFileError(`${path}: not valid JSON (${(error as Error).message})`, { cause: error });
    }
    if (typeof record?.claim_id !== "string" || typeof record.expires !== "string") {
      throw new CorruptFileError(`${path}: not an idempotency key record (no claim_id or expires)`);
    }
    return record;
  }

  #stagingPath(kind: string): string {
    return join(this.dir, "tmp", `${kind}-${Deno.pid}-${crypto.randomUUID()}`);
  }

  /** Creates `.hurah/keys/tmp/` once, refusing links on the way. */
  #ensureDirs(): void {
    if (this.#ready) return;
    for (const dir of [join(this.dir, ".."), this.dir, join(this.dir, "tmp")]) {
      try {
        Deno.mkdirSync(dir);
      } catch (error) {
        if (!isAlreadyExists(error)) throw error;
        if (!Deno.lstatSync(dir).isDirectory) {
          throw new UnsafePathError(dir, "is not a directory; hurah keeps its idempotency keys there");
        }
      }
    }
    this.#ready = true;
  }
}

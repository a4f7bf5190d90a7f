// Proves that a presented API key matches its stored bcrypt hash, at most once per key and
// instance. Only the proof is cached (SHA-256 of the key -> key id); the key's status, scopes,
// allowlist and limit are read from Postgres on every request by salesos.admit_request.
//
// bcrypt is the one costly step, so it is bounded and shared fairly:
// - an unknown key id never reaches bcrypt; a wrong secret compared once is refused from memory
//   (by its SHA-256) from any source;
// - every other compare waits in a fair queue: round-robin over key ids, and within a key id over
//   source prefixes (an IPv4 address, an IPv6 /64), first come first served within one of those;
// - compares leave the queue at a global budget per instance (a token bucket, in compares at cost
//   10 per second; a hash of cost c counts 2^(c-10)), and run in the bcrypt worker pool, off the
//   thread that serves requests;
// - a full queue makes room by evicting the oldest job of its most over-represented group, so a
//   flood delays a correct key but never denies it a place: at the cap per (key id, source) the
//   newcomer is refused (its own group is the largest); at the cap per key id, the oldest job of
//   that key id's largest source group is evicted, unless that group is the newcomer's own (the
//   newcomer counted in it), which refuses the newcomer; at the global cap, the same within the
//   key id holding the most jobs (the newcomer counted in its own). A compare from a source with
//   fewer queued jobs than another of its key id (or, at the global cap, of the fullest key id) is
//   thus always admitted, and round-robin gives it a turn within a bounded time;
// - a refused or evicted job, or a wait past its deadline, is answered with VerifierBusy (503 with
//   Retry-After: try again), never with a 401: others' failures can delay a correct key, not deny it.
import { createHash } from "node:crypto";
import { type BcryptPool, bcryptPool } from "../_shared/bcrypt_pool.ts";
import { sourcePrefix } from "../_shared/client_ip.ts";
import type { Database } from "../_shared/database.ts";

/** A key proven by its bcrypt hash: its id, and whether it is a signed key (not accepted as Bearer). */
export interface VerifiedKey {
  id: string;
  signed: boolean;
}

/** Why a key was not proven, for the request's log line only (the answer says the same for all). */
export type VerifyRefusal = "unknown key id" | "wrong secret" | "wrong secret (remembered)";

export interface KeyVerifier {
  /**
   * The key when `token` is the key with this public prefix; null otherwise, after telling
   * `refused` why. Throws VerifierBusy.
   */
  verify(
    token: string,
    keyPrefix: string,
    source: string | null,
    refused?: (reason: VerifyRefusal) => void,
  ): Promise<VerifiedKey | null>;
  /** bcrypt compares done by this instance (read by the benchmark). */
  readonly bcryptCompares: number;
}

/** The verifier's queue cannot take this compare now: not an answer about the key (503, retry). */
export class VerifierBusy extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super("key verification queue is full");
    this.name = "VerifierBusy";
  }
}

export interface KeyVerifierOptions {
  /** Global budget: compares (at bcrypt cost 10) per second. */
  comparesPerSecond?: number;
  /** How many such compares may run back to back after a quiet time. */
  compareBurst?: number;
  /** Compares waiting per (key id, source prefix). */
  maxQueuedPerSource?: number;
  /** Compares waiting per key id, all sources together. */
  maxQueuedPerKey?: number;
  /** Compares waiting in all. */
  maxQueued?: number;
  /** Longest wait in the queue; then VerifierBusy. */
  maxWaitMs?: number;
  cacheSize?: number;
  /** Where compares run (default: the process's worker pool). */
  pool?: BcryptPool;
}

export const verifierDefaults = {
  comparesPerSecond: 2,
  compareBurst: 4,
  maxQueuedPerSource: 32,
  maxQueuedPerKey: 128,
  maxQueued: 1024,
  maxWaitMs: 10_000,
  cacheSize: 10_000,
};

/** A Map that forgets its oldest entry beyond `limit`, so no flood can grow memory without bound. */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly limit: number) {
    super();
  }
  override set(key: K, value: V): this {
    if (!this.has(key) && this.size >= this.limit) this.delete(this.keys().next().value as K);
    return super.set(key, value);
  }
}

// Synchronous on purpose: on every request, crypto.subtle's async digest cost more CPU than
// the rest of authentication (its hand-off to a worker thread, not the hashing).
function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** What one compare against `hash` costs of the budget: 1 at bcrypt cost 10, doubling per step. */
function compareCost(hash: string): number {
  const cost = Number(/^\$2[abxy]?\$(\d\d)\$/.exec(hash)?.[1] ?? 10);
  return 2 ** (cost - 10);
}

interface Job {
  keyId: string;
  source: string;
  cost: number;
  start: () => void;
  fail: (busy: VerifierBusy) => void;
  timer: ReturnType<typeof setTimeout>;
}

export function createKeyVerifier(db: Database, options: KeyVerifierOptions = {}): KeyVerifier {
  const settings = { ...verifierDefaults, ...options };
  const pool = options.pool ?? bcryptPool();

  const verified = new BoundedMap<string, VerifiedKey>(settings.cacheSize); // sha256(key) -> key
  const rejected = new BoundedMap<string, true>(settings.cacheSize); // sha256(key) of wrong secrets
  const inFlight = new Map<string, Promise<VerifiedKey | VerifyRefusal>>(); // one compare for concurrent firsts
  let bcryptCompares = 0;

  // The fair queue: key id -> source prefix -> jobs. Maps keep insertion order, so taking the
  // first entry and putting it back at the end is a round-robin.
  const queue = new Map<string, Map<string, Job[]>>();
  const queuedPerKey = new Map<string, number>();
  let queued = 0;
  let tokens = settings.compareBurst;
  let refilledAt = performance.now();
  let wakeTimer: ReturnType<typeof setTimeout> | undefined;

  function refill() {
    const now = performance.now();
    tokens = Math.min(settings.compareBurst, tokens + ((now - refilledAt) / 1000) * settings.comparesPerSecond);
    refilledAt = now;
  }

  function remove(job: Job) {
    const sources = queue.get(job.keyId)!;
    const jobs = sources.get(job.source)!;
    jobs.splice(jobs.indexOf(job), 1);
    if (jobs.length === 0) sources.delete(job.source);
    if (sources.size === 0) queue.delete(job.keyId);
    const left = queuedPerKey.get(job.keyId)! - 1;
    if (left === 0) queuedPerKey.delete(job.keyId);
    else queuedPerKey.set(job.keyId, left);
    queued--;
  }

  function next(): Job | undefined {
    const [keyId, sources] = queue.entries().next().value ?? [];
    if (!keyId || !sources) return undefined;
    const [source, jobs] = sources.entries().next().value!;
    const job = jobs[0];
    remove(job);
    // Round-robin: this key id and this source go to the back of their lines.
    if (queue.has(keyId)) {
      queue.delete(keyId);
      queue.set(keyId, sources);
      if (sources.has(source)) {
        sources.delete(source);
        sources.set(source, jobs);
      }
    }
    return job;
  }

  /** Starts queued compares while the budget allows; otherwise wakes when it will. */
  function pump() {
    refill();
    // A compare may take the budget below zero (one costlier than the burst still runs); the debt
    // is paid back before the next.
    while (queued > 0 && tokens > 0) {
      const job = next()!;
      clearTimeout(job.timer);
      tokens -= job.cost;
      job.start();
    }
    if (queued > 0 && wakeTimer === undefined) {
      const waitMs = Math.max(1, ((-tokens + 0.001) / settings.comparesPerSecond) * 1000);
      wakeTimer = setTimeout(() => {
        wakeTimer = undefined;
        pump();
      }, waitMs);
    }
  }

  const busy = () => new VerifierBusy(Math.max(1, Math.ceil(1 / settings.comparesPerSecond)));

  /**
   * Makes room for a newcomer (`keyId`, `source`) by evicting the oldest job of the largest source
   * group of `victimKey`, the newcomer counted in its own group. False when that group is the
   * newcomer's own (ties included): then the newcomer is the one refused.
   */
  function evict(victimKey: string, keyId: string, source: string): boolean {
    const own = victimKey === keyId ? (queue.get(keyId)?.get(source)?.length ?? 0) + 1 : 0;
    let largest: Job[] = [];
    for (const jobs of queue.get(victimKey)?.values() ?? []) if (jobs.length > largest.length) largest = jobs;
    if (largest.length <= own) return false;
    const job = largest[0];
    clearTimeout(job.timer);
    remove(job);
    job.fail(busy());
    return true;
  }

  /** The key id holding the most jobs, the newcomer counted in its own (ties go to another). */
  function fullestKey(keyId: string): string {
    let fullest = keyId;
    let most = (queuedPerKey.get(keyId) ?? 0) + 1;
    for (const [id, count] of queuedPerKey) {
      if (count > most || (count === most && fullest === keyId)) {
        [fullest, most] = [id, count];
      }
    }
    return fullest;
  }

  /** Whether the queue has (or was made) room for a compare of `keyId` from `source`. */
  function makeRoom(keyId: string, source: string): boolean {
    if ((queue.get(keyId)?.get(source)?.length ?? 0) >= settings.maxQueuedPerSource) return false;
    if ((queuedPerKey.get(keyId) ?? 0) >= settings.maxQueuedPerKey) return evict(keyId, keyId, source);
    if (queued >= settings.maxQueued) return evict(fullestKey(keyId), keyId, source);
    return true;
  }

  /** Resolves when this compare may run. */
  function admit(keyId: string, source: string, cost: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!makeRoom(keyId, source)) {
        reject(busy());
        return;
      }
      const job: Job = {
        keyId,
        source,
        cost,
        start: resolve,
        fail: reject,
        timer: setTimeout(() => {
          remove(job);
          reject(new VerifierBusy(1));
        }, settings.maxWaitMs),
      };
      let sources = queue.get(keyId);
      if (!sources) queue.set(keyId, sources = new Map());
      let jobs = sources.get(source);
      if (!jobs) sources.set(source, jobs = []);
      jobs.push(job);
      queuedPerKey.set(keyId, (queuedPerKey.get(keyId) ?? 0) + 1);
      queued++;
      pump();
    });
  }

  async function compareWithStoredHash(
    token: string,
    digest: string,
    keyPrefix: string,
    source: string,
  ): Promise<VerifiedKey | VerifyRefusal> {
    const [row] = await db.query<{ id: string; key_hash: string; auth_scheme: string }>(
      "select id, key_hash, auth_scheme from salesos.find_api_key($1)",
      [keyPrefix],
    );
    if (!row) return "unknown key id"; // no bcrypt work at all
    await admit(row.id, source, compareCost(row.key_hash));
    bcryptCompares++;
    if (await pool.compare(token, row.key_hash)) {
      // A key's scheme never changes (a rotation makes a new key), so it is cached with the proof.
      const key = { id: row.id, signed: row.auth_scheme === "signed" };
      verified.set(digest, key);
      return key;
    }
    rejected.set(digest, true);
    return "wrong secret";
  }

  return {
    get bcryptCompares() {
      return bcryptCompares;
    },
    async verify(token, keyPrefix, source, refused = () => {}) {
      const digest = sha256Hex(token);
      const known = verified.get(digest);
      if (known) return known;
      if (rejected.has(digest)) {
        refused("wrong secret (remembered)");
        return null;
      }
      let pending = inFlight.get(digest);
      if (!pending) {
        pending = compareWithStoredHash(token, digest, keyPrefix, sourcePrefix(source))
          .finally(() => inFlight.delete(digest));
        inFlight.set(digest, pending);
      }
      // Concurrent callers of one token share the compare; each hears the refusal.
      const result = await pending;
      if (typeof result !== "string") return result;
      refused(result);
      return null;
    },
  };
}

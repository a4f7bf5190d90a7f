// Proves that a presented API key matches its stored bcrypt hash, at most once per key and
// instance. Only the proof is cached (SHA-256 of the key -> key id); the key's status, scopes,
// allowlist and limit are read from Postgres on every request by salesos.admit_request.
import bcrypt from "bcryptjs";
import { createHash } from "node:crypto";
import type { Database } from "../_shared/database.ts";

export interface KeyVerifier {
  /** The key's id when `token` is the key with this public prefix; null otherwise. */
  verify(token: string, keyPrefix: string, source: string): Promise<string | null>;
  /** bcrypt compares done by this instance (read by the benchmark). */
  readonly bcryptCompares: number;
}

export interface KeyVerifierOptions {
  /** Wrong secrets tolerated per (source, key id) in a window before bcrypt is no longer tried. */
  maxFailures?: number;
  /** Failed verifications (unknown ids or wrong secrets) tolerated per source in a window before
   *  that source's unverified keys are refused without any database or bcrypt work. */
  maxSourceFailures?: number;
  /** Window of the per (source, key id) count. */
  failureWindowMs?: number;
  /** Window of the per-source count: short, since it also holds back new keys from that source. */
  sourceFailureWindowMs?: number;
  cacheSize?: number;
}

/** A Map that forgets its oldest entry beyond `limit`, so no flood can grow memory without bound. */
class BoundedMap<K, V> extends Map<K, V> {
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

export function createKeyVerifier(db: Database, options: KeyVerifierOptions = {}): KeyVerifier {
  const maxFailures = options.maxFailures ?? 10;
  const maxSourceFailures = options.maxSourceFailures ?? 100;
  const failureWindowMs = options.failureWindowMs ?? 10 * 60_000;
  const sourceFailureWindowMs = options.sourceFailureWindowMs ?? 60_000;
  const cacheSize = options.cacheSize ?? 10_000;

  const verified = new BoundedMap<string, string>(cacheSize); // sha256(key) -> key id
  const rejected = new BoundedMap<string, true>(cacheSize); // sha256(key) of wrong secrets
  const inFlight = new Map<string, Promise<string | null>>(); // one compare for concurrent firsts
  const failures = new BoundedMap<string, { count: number; since: number }>(cacheSize);
  let bcryptCompares = 0;

  function throttled(counterKey: string, limit: number, windowMs: number): boolean {
    const entry = failures.get(counterKey);
    if (!entry) return false;
    if (Date.now() - entry.since > windowMs) {
      failures.delete(counterKey);
      return false;
    }
    return entry.count >= limit;
  }

  function recordFailure(counterKey: string): void {
    const entry = failures.get(counterKey);
    if (entry) entry.count++;
    else failures.set(counterKey, { count: 1, since: Date.now() });
  }

  async function compareWithStoredHash(token: string, digest: string, keyPrefix: string, source: string) {
    const [row] = await db.query<{ id: string; key_hash: string }>(
      "select id, key_hash from salesos.find_api_key($1)",
      [keyPrefix],
    );
    if (!row) {
      recordFailure(source); // unknown id: no bcrypt work at all
      return null;
    }
    bcryptCompares++;
    if (await bcrypt.compare(token, row.key_hash)) {
      verified.set(digest, row.id);
      return row.id;
    }
    rejected.set(digest, true);
    recordFailure(source);
    recordFailure(`${source}|${keyPrefix}`);
    return null;
  }

  return {
    get bcryptCompares() {
      return bcryptCompares;
    },
    async verify(token, keyPrefix, source) {
      const digest = sha256Hex(token);
      const known = verified.get(digest);
      if (known) return known;
      if (rejected.has(digest)) return null;
      // A source that keeps failing gets no more work for keys it has not proven (cached ones pass above).
      if (
        throttled(source, maxSourceFailures, sourceFailureWindowMs) ||
        throttled(`${source}|${keyPrefix}`, maxFailures, failureWindowMs)
      ) return null;

      let pending = inFlight.get(digest);
      if (!pending) {
        pending = compareWithStoredHash(token, digest, keyPrefix, source)
          .finally(() => inFlight.delete(digest));
        inFlight.set(digest, pending);
      }
      return await pending;
    },
  };
}

// P2S-SIGN-V1 signed requests, checked in this order: header shape (auth.ts), key prefix,
// timestamp window, format/checksum/id/status, signed key, the full key string, then (once the
// body is read) the signature, and last its first use, allowlist, scope and limit in admit_request
// (auth.ts).
//
// The body is needed for the signature, so it is read before the request is admitted, but only
// for a well-formed header of a fresh timestamp and an active signed key whose full key string is
// proven (its SHA-256 against the stored one, constant-time), and through the same bulk gate
// (per-key and per-tenant concurrency, the instance's byte budget) and 5 MiB limit as an admitted
// request's body: a client without the key cannot take that key's slots or make the service
// buffer a body. No bcrypt work, except for a signed key created before key_sha256 existed: it is
// proven once per instance by its bcrypt hash, as a Bearer key is.
//
// A key found once is remembered by the instance (SignedKeyCache), so a signed request costs what a
// cached Bearer one does: no lookup before its body, one admit_request after it, which reads the
// key's status, allowlist, scope and limit on every request. A remembered key whose signature
// fails is looked up again before the answer, so a key revoked or expired since is still answered
// as such first, in the contract's order.
import type { Context } from "hono";
import { hasKnownPrefix, parseApiKey } from "../_shared/api_key.ts";
import { ApiError, messages } from "../_shared/errors.ts";
import type { AppEnv } from "../_shared/http.ts";
import {
  deriveK4,
  keySha256,
  matchesKeySha256,
  sameSignature,
  signatureFromK4,
  signatureWindowSeconds,
  signedPath,
} from "../_shared/signing.ts";
import { type AuthDeps, inactiveReason, verify } from "./auth.ts";
import { BoundedMap } from "./key_verifier.ts";

/**
 * A signed key's k1, with the k4 of its latest second and method: a client's requests within one
 * second share it, so each of them is checked with one HMAC instead of four.
 */
class SigningKey {
  #timestampAndMethod = "";
  #k4: Uint8Array = new Uint8Array();
  readonly #k1: Uint8Array;
  constructor(k1: Uint8Array) {
    this.#k1 = k1;
  }

  signature(request: { timestamp: string; method: string }, payloadSha256: string): string {
    const timestampAndMethod = `${request.timestamp} ${request.method}`;
    if (timestampAndMethod !== this.#timestampAndMethod) {
      this.#k4 = deriveK4(this.#k1, { ...request, path: signedPath });
      this.#timestampAndMethod = timestampAndMethod;
    }
    return signatureFromK4(this.#k4, payloadSha256);
  }
}

/** A signed request's key, found and active, whose signature is still to be checked. */
export interface SignedCandidate {
  keyId: string;
  tenantId: string;
  environment: "live" | "test";
  keyPrefix: string;
  signing: SigningKey;
  /** Remembered by this instance rather than read now: its status may have changed since. */
  remembered: boolean;
}

interface RememberedKey extends Omit<SignedCandidate, "remembered"> {
  /** SHA-256 of the full key string, which proves a presented one without bcrypt. */
  keySha256: Uint8Array;
}

/** Signed keys this instance has found, by public prefix; bounded, the oldest forgotten first. */
export type SignedKeyCache = Map<string, RememberedKey>;

export const signedKeyCache = (size = 10_000): SignedKeyCache => new BoundedMap(size);

interface SignedKeyRow {
  id: string;
  tenant_id: string;
  environment: "live" | "test";
  auth_scheme: "bearer" | "signed";
  active: boolean;
  signing_key: string | null;
  signing_kek_id: string | null;
  key_sha256: string | null;
}

const fromHex = (text: string) => Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));

export async function findSignedKey(
  c: Context<AppEnv>,
  deps: AuthDeps,
  credentials: { apiKey: string; timestamp: string },
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<SignedCandidate> {
  if (!hasKnownPrefix(credentials.apiKey)) throw new ApiError("UNAUTHORIZED", messages.invalidKeyPrefix);
  if (Math.abs(nowSeconds - Number(credentials.timestamp)) > signatureWindowSeconds) {
    throw new ApiError("UNAUTHORIZED", messages.timestampOutsideWindow);
  }
  const parsed = parseApiKey(credentials.apiKey);
  if (!parsed) {
    c.get("log").auth_failure = "bad format or checksum";
    throw new ApiError("UNAUTHORIZED", messages.invalidKey);
  }
  const remembered = deps.signedKeys.get(parsed.keyPrefix);
  if (remembered) {
    if (!matchesKeySha256(credentials.apiKey, remembered.keySha256)) {
      c.get("log").auth_failure = "wrong key string";
      throw new ApiError("UNAUTHORIZED", messages.invalidKey);
    }
    c.get("log").key_prefix = parsed.keyPrefix;
    return { ...remembered, remembered: true };
  }
  return await lookUpSignedKey(c, deps, credentials.apiKey, parsed.keyPrefix);
}

async function lookUpSignedKey(
  c: Context<AppEnv>,
  deps: AuthDeps,
  apiKey: string,
  keyPrefix: string,
): Promise<SignedCandidate> {
  const [row] = await deps.db.query<SignedKeyRow>(
    `select id, tenant_id, environment, auth_scheme, active, encode(signing_key, 'hex') as signing_key, signing_kek_id,
            encode(key_sha256, 'hex') as key_sha256
       from salesos.find_signed_key($1)`,
    [keyPrefix],
  );
  if (!row || !row.active) {
    c.get("log").auth_failure = row ? await inactiveReason(deps.db, row.id) : "unknown key id";
    throw new ApiError("UNAUTHORIZED", messages.invalidKey);
  }
  c.get("log").key_prefix = keyPrefix;
  if (row.auth_scheme !== "signed" || !row.signing_key || !row.signing_kek_id) {
    throw new ApiError("UNAUTHORIZED", messages.keyNotSigned);
  }
  const proven = row.key_sha256
    ? matchesKeySha256(apiKey, fromHex(row.key_sha256))
    : (await verify(c, deps.keys, apiKey, keyPrefix, c.get("clientIp")))?.id === row.id;
  if (!proven) {
    c.get("log").auth_failure ??= "wrong key string";
    throw new ApiError("UNAUTHORIZED", messages.invalidKey);
  }
  // A deployment that holds signed keys but lost its SIGNING_KEK is misconfigured: a 500, logged.
  if (!deps.keyring) throw new Error("a signed key was presented but SIGNING_KEK is not set");
  const k1 = await deps.keyring.decrypt(fromHex(row.signing_key), row.signing_kek_id, keyPrefix);
  const key = {
    keyId: row.id,
    tenantId: row.tenant_id,
    environment: row.environment,
    keyPrefix,
    signing: new SigningKey(k1),
  };
  deps.signedKeys.set(keyPrefix, { ...key, keySha256: row.key_sha256 ? fromHex(row.key_sha256) : keySha256(apiKey) });
  return { ...key, remembered: false };
}

/**
 * 401 unless `signature` signs this request: its key, timestamp, method, public path and body (by its
 * SHA-256, `payloadSha256`).
 * A remembered key is looked up again first, so one revoked or expired since is answered as such.
 */
export async function checkSignature(
  c: Context<AppEnv>,
  deps: AuthDeps,
  candidate: SignedCandidate,
  request: { apiKey: string; timestamp: string; method: string; signature: string },
  payloadSha256: string,
): Promise<void> {
  const signed = (key: SigningKey) =>
    sameSignature(
      key.signature({ timestamp: request.timestamp, method: request.method.toUpperCase() }, payloadSha256),
      request.signature,
    );
  if (signed(candidate.signing)) return;
  if (candidate.remembered) {
    deps.signedKeys.delete(candidate.keyPrefix);
    if (signed((await lookUpSignedKey(c, deps, request.apiKey, candidate.keyPrefix)).signing)) return;
  }
  throw new ApiError("UNAUTHORIZED", messages.invalidSignature);
}

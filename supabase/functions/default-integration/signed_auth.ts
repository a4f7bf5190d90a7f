// P2S-SIGN-V1 signed requests, checked in this order: header shape (auth.ts), key prefix,
// timestamp window, format/checksum/id/status, signed key, then (once the body is read) the
// signature, and last its first use, allowlist, scope and limit in admit_request (auth.ts).
//
// The body is needed for the signature, so it is read before the request is admitted, but only
// for a well-formed header of a fresh timestamp and an existing, active signed key, and through
// the same bulk gate (per-key and per-tenant concurrency, the instance's byte budget) and 5 MiB
// limit as an admitted request's body: a client without the key cannot make the service buffer
// more than one with it. No bcrypt work: the HMAC chain over the full key string proves the key.
import type { Context } from "hono";
import { hasKnownPrefix, parseApiKey } from "../_shared/api_key.ts";
import type { Database } from "../_shared/database.ts";
import { ApiError, messages } from "../_shared/errors.ts";
import type { AppEnv } from "../_shared/http.ts";
import { inactiveReason } from "./auth.ts";
import {
  type Keyring,
  sameSignature,
  sha256Hex,
  signatureFromK1,
  signatureWindowSeconds,
  signedPath,
} from "../_shared/signing.ts";

/** A signed request's key, found and active, whose signature is still to be checked. */
export interface SignedCandidate {
  keyId: string;
  tenantId: string;
  environment: "live" | "test";
  k1: Uint8Array;
}

interface SignedKeyRow {
  id: string;
  tenant_id: string;
  environment: "live" | "test";
  auth_scheme: "bearer" | "signed";
  active: boolean;
  signing_key: string | null;
  signing_kek_id: string | null;
}

const fromHex = (text: string) => Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));

export async function findSignedKey(
  c: Context<AppEnv>,
  deps: { db: Database; keyring: Keyring | null },
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
  const [row] = await deps.db.query<SignedKeyRow>(
    `select id, tenant_id, environment, auth_scheme, active, encode(signing_key, 'hex') as signing_key, signing_kek_id
       from salesos.find_signed_key($1)`,
    [parsed.keyPrefix],
  );
  if (!row || !row.active) {
    c.get("log").auth_failure = row ? await inactiveReason(deps.db, row.id) : "unknown key id";
    throw new ApiError("UNAUTHORIZED", messages.invalidKey);
  }
  c.get("log").key_prefix = parsed.keyPrefix;
  if (row.auth_scheme !== "signed" || !row.signing_key || !row.signing_kek_id) {
    throw new ApiError("UNAUTHORIZED", messages.keyNotSigned);
  }
  // A deployment that holds signed keys but lost its SIGNING_KEK is misconfigured: a 500, logged.
  if (!deps.keyring) throw new Error("a signed key was presented but SIGNING_KEK is not set");
  const k1 = await deps.keyring.decrypt(fromHex(row.signing_key), row.signing_kek_id, parsed.keyPrefix);
  return { keyId: row.id, tenantId: row.tenant_id, environment: row.environment, k1 };
}

/** 401 unless `signature` signs this request: its key, timestamp, method, public path and body bytes. */
export function checkSignature(
  candidate: SignedCandidate,
  request: { timestamp: string; method: string; signature: string },
  body: Uint8Array,
): void {
  const expected = signatureFromK1(candidate.k1, {
    timestamp: request.timestamp,
    method: request.method.toUpperCase(),
    path: signedPath,
    payloadSha256: sha256Hex(body),
  });
  if (!sameSignature(expected, request.signature)) throw new ApiError("UNAUTHORIZED", messages.invalidSignature);
}

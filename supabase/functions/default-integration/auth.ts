// API-key authentication of default-integration, in this order: header, prefix,
// format/checksum/id/secret (one message), then status, IP allowlist, scope and rate limit, all
// of which Postgres decides per request so a revoke or change acts on the very next request.
// Signed requests (P2S-SIGN-V1) share the header parsing and the admission; their own
// checks are in signed_auth.ts.
import type { Context } from "hono";
import { hasKnownPrefix, parseApiKey } from "../_shared/api_key.ts";
import type { Database } from "../_shared/database.ts";
import { ApiError, messages } from "../_shared/errors.ts";
import { type AppEnv, elapsedMs } from "../_shared/http.ts";
import type { Keyring } from "../_shared/signing.ts";
import { type KeyVerifier, VerifierBusy } from "./key_verifier.ts";
import type { SignedKeyCache } from "./signed_auth.ts";

export const requiredScope = "default:sync";

/** The caller a request was admitted for. */
export interface Principal {
  keyId: string;
  tenantId: string;
  environment: "live" | "test";
  ip: string | null;
}

/** What salesos.admit_request decides for a proven key. */
export interface Admission {
  outcome: "admitted" | "invalid" | "ip_not_allowed" | "missing_scope" | "rate_limited" | "replayed";
  tenant_id: string;
  environment: "live" | "test";
  rate_limit: number;
  remaining: number;
  reset_seconds: number;
}

const bearer = /^Bearer +(\S+) *$/i;
const signedSchemeName = /^P2S-SIGN-V1(?: |$)/i;
// After "P2S-SIGN-V1 " (the scheme name case-insensitive, one space): API_KEY:TIMESTAMP:SIGNATURE,
// the timestamp decimal digits only, the signature 64 lowercase hex characters.
const signedCredentials = /^([^\s:]+):([0-9]+):([0-9a-f]{64})$/;

/** What the Authorization header holds: a Bearer token or P2S-SIGN-V1 credentials. */
export type Credentials =
  | { scheme: "bearer"; token: string }
  | { scheme: "signed"; apiKey: string; timestamp: string; signature: string };

/** The header's credentials; 401 with the Bearer message when it is neither shape. */
export function readCredentials(header: string | undefined): Credentials {
  const value = header ?? "";
  if (signedSchemeName.test(value)) {
    const parts = signedCredentials.exec(value.slice("P2S-SIGN-V1 ".length));
    if (!parts) throw new ApiError("UNAUTHORIZED", messages.malformedSignedAuthorization);
    return { scheme: "signed", apiKey: parts[1], timestamp: parts[2], signature: parts[3] };
  }
  const token = bearer.exec(value)?.[1];
  if (!token) throw new ApiError("UNAUTHORIZED", messages.missingAuthorization);
  return { scheme: "bearer", token };
}

/** The rate-limit headers of every answer to an admitted key (as named in the OpenAPI document). */
export const rateLimitHeaderNames = [
  "X-RateLimit-Limit",
  "X-RateLimit-Remaining",
  "X-RateLimit-Reset",
  "RateLimit-Policy",
  "RateLimit",
];

function rateLimitHeaders(a: Admission): Record<string, string> {
  return {
    "X-RateLimit-Limit": String(a.rate_limit),
    "X-RateLimit-Remaining": String(a.remaining),
    "X-RateLimit-Reset": String(a.reset_seconds),
    "RateLimit-Policy": `"hourly";q=${a.rate_limit};w=3600`,
    "RateLimit": `"hourly";r=${a.remaining};t=${a.reset_seconds}`,
  };
}

export interface AuthDeps {
  db: Database;
  keys: KeyVerifier;
  /** Decrypts signed keys' k1 (SIGNING_KEK); null when the deployment has none. */
  keyring: Keyring | null;
  /** Signed keys this instance has found (signed_auth.ts). */
  signedKeys: SignedKeyCache;
}

/**
 * The verifier's answer; when its fair queue is full, 503 with Retry-After: that says nothing about
 * the key (which may well be right), only to send it again.
 */
export async function verify(
  c: Context<AppEnv>,
  keys: KeyVerifier,
  token: string,
  keyPrefix: string,
  ip: string | null,
) {
  try {
    return await keys.verify(token, keyPrefix, ip, (reason) => c.get("log").auth_failure = reason);
  } catch (error) {
    if (error instanceof VerifierBusy) {
      c.get("log").auth_failure = "key verification queue full";
      throw new ApiError("SERVICE_UNAVAILABLE", messages.serviceUnavailable, { retryAfter: error.retryAfterSeconds });
    }
    throw error;
  }
}

/** A Bearer API key; a signed key is refused here. */
export async function authenticate(c: Context<AppEnv>, deps: AuthDeps, token: string): Promise<Principal> {
  if (!hasKnownPrefix(token)) throw new ApiError("UNAUTHORIZED", messages.invalidKeyPrefix);

  const ip = c.get("clientIp");
  const parsed = parseApiKey(token);
  if (!parsed) {
    c.get("log").auth_failure = "bad format or checksum";
    throw new ApiError("UNAUTHORIZED", messages.invalidKey);
  }
  const key = await verify(c, deps.keys, token, parsed.keyPrefix, ip);
  if (!key) throw new ApiError("UNAUTHORIZED", messages.invalidKey);
  c.get("log").key_prefix = parsed.keyPrefix;
  if (key.signed) throw new ApiError("UNAUTHORIZED", messages.signedKeyAsBearer);
  return await admit(c, deps, key.id, ip, null);
}

/**
 * Status, IP allowlist, scope and hourly limit of a proven key, decided by Postgres in one call
 * (with a signed request's signature, recorded in the same call: accepted once).
 */
export async function admit(
  c: Context<AppEnv>,
  deps: AuthDeps,
  keyId: string,
  ip: string | null,
  signature: string | null,
): Promise<Principal> {
  const [admission] = await deps.db.query<Admission>(
    "select * from salesos.admit_request($1::uuid, $2::inet, $3, $4::uuid, $5, $6)",
    [keyId, ip, requiredScope, c.get("requestId"), elapsedMs(c), signature],
  );
  return await principalOf(c, deps, keyId, ip, admission);
}

/** The principal of an admitted request, with its rate-limit headers set; a refusal is thrown. */
export async function principalOf(
  c: Context<AppEnv>,
  deps: AuthDeps,
  keyId: string,
  ip: string | null,
  admission: Admission,
): Promise<Principal> {
  if (admission.outcome === "invalid") {
    c.get("log").auth_failure = await inactiveReason(deps.db, keyId);
    throw new ApiError("UNAUTHORIZED", messages.invalidKey);
  }
  if (admission.outcome === "replayed") throw new ApiError("UNAUTHORIZED", messages.signatureReplayed);

  Object.assign(c.get("log"), { tenant_id: admission.tenant_id, environment: admission.environment });
  const headers = rateLimitHeaders(admission);
  switch (admission.outcome) {
    case "ip_not_allowed":
      throw new ApiError("FORBIDDEN", messages.ipNotAllowed, { headers });
    case "missing_scope":
      throw new ApiError("FORBIDDEN", messages.missingScope(requiredScope), { headers });
    case "rate_limited":
      throw new ApiError("RATE_LIMITED", messages.rateLimited, { headers, retryAfter: admission.reset_seconds });
  }
  for (const [name, value] of Object.entries(headers)) c.header(name, value);
  return {
    keyId,
    tenantId: admission.tenant_id,
    environment: admission.environment,
    ip,
  };
}

/**
 * Why a proven key was refused (revoked, expired or deleted since), for the log line only: asked
 * only on that refusal, never on the way of an admitted request.
 */
export async function inactiveReason(db: Database, keyId: string): Promise<string> {
  try {
    const [row] = await db.query<{ reason: string }>("select salesos.inactive_key_reason($1::uuid) as reason", [keyId]);
    return row.reason;
  } catch {
    return "revoked or expired"; // the answer is the same 401 either way
  }
}

// API-key authentication of default-integration, in the contract's order (3.1): header, prefix,
// format/checksum/id/secret (one message), then status, IP allowlist, scope and rate limit, all
// of which Postgres decides per request so a revoke or change acts on the very next request.
import type { Context } from "hono";
import { hasKnownPrefix, parseApiKey } from "../_shared/api_key.ts";
import { clientIp } from "../_shared/client_ip.ts";
import type { Database } from "../_shared/database.ts";
import { ApiError, messages } from "../_shared/errors.ts";
import { type AppEnv, elapsedMs } from "../_shared/http.ts";
import { type KeyVerifier, VerifierBusy } from "./key_verifier.ts";

export const requiredScope = "default:sync";

/** The caller a request was admitted for. */
export interface Principal {
  keyId: string;
  tenantId: string;
  environment: "live" | "test";
  ip: string | null;
}

interface Admission {
  outcome: "admitted" | "invalid" | "ip_not_allowed" | "missing_scope" | "rate_limited";
  tenant_id: string;
  environment: "live" | "test";
  rate_limit: number;
  remaining: number;
  reset_seconds: number;
}

const bearer = /^Bearer +(\S+) *$/i;

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
  trustedProxyHops: number;
}

/**
 * The verifier's answer; when its fair queue is full, 503 with Retry-After: that says nothing about
 * the key (which may well be right), only to send it again.
 */
async function verify(keys: KeyVerifier, token: string, keyPrefix: string, ip: string | null) {
  try {
    return await keys.verify(token, keyPrefix, ip);
  } catch (error) {
    if (error instanceof VerifierBusy) {
      throw new ApiError("SERVICE_UNAVAILABLE", messages.serviceUnavailable, { retryAfter: error.retryAfterSeconds });
    }
    throw error;
  }
}

export async function authenticate(c: Context<AppEnv>, deps: AuthDeps): Promise<Principal> {
  const token = bearer.exec(c.req.header("authorization") ?? "")?.[1];
  if (!token) throw new ApiError("UNAUTHORIZED", messages.missingAuthorization);
  if (!hasKnownPrefix(token)) throw new ApiError("UNAUTHORIZED", messages.invalidKeyPrefix);

  const ip = clientIp(c.env?.remoteAddr?.hostname, c.req.header("x-forwarded-for") ?? null, deps.trustedProxyHops);
  const parsed = parseApiKey(token);
  const keyId = parsed && (await verify(deps.keys, token, parsed.keyPrefix, ip));
  if (!parsed || !keyId) throw new ApiError("UNAUTHORIZED", messages.invalidKey);
  c.get("log").key_prefix = parsed.keyPrefix;

  const [admission] = await deps.db.query<Admission>(
    "select * from salesos.admit_request($1::uuid, $2::inet, $3, $4::uuid, $5)",
    [keyId, ip, requiredScope, c.get("requestId"), elapsedMs(c)],
  );
  if (admission.outcome === "invalid") throw new ApiError("UNAUTHORIZED", messages.invalidKey);

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

// Verification of Dashboard JWTs (Supabase Auth access tokens, and service_role tokens) for the
// api-keys function. Algorithms allowed: HS256, ES256, RS256; anything else (`none` included) is
// rejected before any key is looked at.
//   HS256         -> jose, with the project's JWT secret. supabase-js cannot verify these offline:
//                    its getClaims would send them to the Auth server.
//   ES256, RS256  -> supabase-js `auth.getClaims`, which verifies locally with WebCrypto against the
//                    project's JWKS (SUPABASE_URL + /auth/v1/.well-known/jwks.json) and caches it
//                    for 10 minutes per process.
// supabase-js has no setting for the JWKS location, but takes a custom `fetch`: the one given here
// serves its JWKS request from SUPABASE_JWKS_URL when set (else the default location), with a
// timeout, one fetch at a time and at most one network fetch per cool-down (30 s), so tokens with
// unknown key ids cannot make every request fetch the JWKS. It answers every other request of
// supabase-js with 401: when a token's key id is in no JWKS, getClaims falls back to asking the
// Auth server (`/auth/v1/user`); this service never hands a token on, and refuses it instead.
// After the signature, exactly what Supabase issues: `exp` in the future and `iat` (when present)
// not more than 60 s ahead. A user's access token: `role` "authenticated", `aud` "authenticated",
// a uuid `sub`, and `iss` = SUPABASE_URL + "/auth/v1" when SUPABASE_URL is configured. The
// service_role key (a platform admin's): `role` "service_role" and no `sub` (it names no user;
// it carries no `aud` either, so none is required of it). Any other `role` (`anon`) is refused.
import type { SupabaseClient } from "@supabase/supabase-js";
import { decodeProtectedHeader, jwtVerify } from "jose";
import type { Config } from "../_shared/config.ts";

export type DashboardIdentity =
  | { kind: "user"; userId: string }
  | { kind: "service_role"; subject: string | null };

/** The token is not acceptable; `reason` is safe to log (never the token). */
export class JwtRejected extends Error {
  constructor(readonly reason: string) {
    super(`JWT rejected: ${reason}`);
    this.name = "JwtRejected";
  }
}

/** The JWKS could not be fetched: the token may be fine, but cannot be checked now. */
export class JwksUnavailable extends Error {
  constructor(cause: unknown) {
    super("JWKS unavailable", { cause });
    this.name = "JwksUnavailable";
  }
}

export interface JwtVerifier {
  verify(token: string): Promise<DashboardIdentity>;
}

export type JwtVerifierOptions = Pick<Config, "jwtSecret" | "supabaseUrl" | "jwksUrl" | "supabaseAnonKey"> & {
  /** Minimum time between two network fetches of the JWKS (default 30 s). */
  jwksCooldownMs?: number;
  /** Deadline of one JWKS fetch (default 5 s). */
  jwksTimeoutMs?: number;
};

/** How far a token's `iat` may be ahead of this instance's clock. */
const clockSkewSeconds = 60;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const jwksPath = "/auth/v1/.well-known/jwks.json";

function reject(reason: string): never {
  throw new JwtRejected(reason);
}

/** The `fetch` handed to supabase-js: the JWKS from its configured source, nothing else. */
function jwksOnlyFetch(source: string, options: JwtVerifierOptions): typeof fetch {
  const cooldownMs = options.jwksCooldownMs ?? 30_000;
  const timeoutMs = options.jwksTimeoutMs ?? 5_000;
  let cached: { body: string; at: number } | null = null;
  let inFlight: Promise<string> | null = null;

  async function download(): Promise<string> {
    const headers = new Headers({ accept: "application/json" });
    if (options.supabaseAnonKey) headers.set("apikey", options.supabaseAnonKey);
    const response = await fetch(source, { headers, signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`JWKS answered ${response.status}`);
    }
    const body = await response.text();
    cached = { body, at: Date.now() };
    return body;
  }

  return async (input: string | URL | Request) => {
    const url = new URL(input instanceof Request ? input.url : input);
    if (!url.pathname.endsWith(jwksPath)) {
      return Response.json({ code: 401, error_code: "bad_jwt", msg: "Token not verifiable locally" }, { status: 401 });
    }
    let body: string;
    if (cached && Date.now() - cached.at < cooldownMs) {
      body = cached.body;
    } else {
      inFlight ??= download().finally(() => (inFlight = null));
      body = await inFlight;
    }
    return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
  };
}

export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const secret = options.jwtSecret ? new TextEncoder().encode(options.jwtSecret) : null;
  // The project URL; with only SUPABASE_JWKS_URL set, its origin stands in (supabase-js needs one).
  const projectUrl = options.supabaseUrl ?? (options.jwksUrl && new URL(options.jwksUrl).origin);
  // supabase-js is loaded with the first asymmetric token: most requests (and every cold start)
  // never need its weight.
  let supabase: Promise<{ auth: SupabaseClient["auth"]; isRetryable: (error: unknown) => boolean }> | null = null;
  const loadSupabase = async () => {
    const { createClient, isAuthRetryableFetchError } = await import("@supabase/supabase-js");
    const client = createClient(projectUrl!, options.supabaseAnonKey ?? "jwks-only", {
      auth: {
        persistSession: false,
        autoRefreshToken: false,
        detectSessionInUrl: false,
        // Its JWKS cache is per storage key and process-wide: one of its own for each verifier.
        storageKey: `salesos-api-keys-${crypto.randomUUID()}`,
      },
      global: {
        fetch: jwksOnlyFetch(
          options.jwksUrl ?? new URL(jwksPath.slice(1), `${projectUrl!.replace(/\/+$/, "")}/`).href,
          options,
        ),
      },
    });
    return { auth: client.auth, isRetryable: isAuthRetryableFetchError };
  };

  async function verifyHs256(token: string): Promise<Record<string, unknown>> {
    if (!secret) reject("HS256 not accepted: no JWT secret configured");
    try {
      return (await jwtVerify(token, secret, { algorithms: ["HS256"] })).payload;
    } catch (error) {
      return reject(`HS256: ${String((error as { code?: unknown }).code ?? "invalid")}`);
    }
  }

  async function verifyWithJwks(token: string, kid: string | undefined): Promise<Record<string, unknown>> {
    if (!projectUrl) reject("asymmetric token not accepted: no SUPABASE_URL configured");
    if (!kid) reject("asymmetric token without kid");
    const { auth, isRetryable } = await (supabase ??= loadSupabase());
    let result: Awaited<ReturnType<typeof auth.getClaims>>;
    try {
      result = await auth.getClaims(token);
    } catch {
      // WebCrypto refused the key for the token's algorithm (e.g. an EC key named by an RS256 token).
      return reject("key does not fit the algorithm");
    }
    if (result.error) {
      if (isRetryable(result.error)) throw new JwksUnavailable(result.error);
      return reject(`JWKS: ${result.error.message}`);
    }
    return result.data!.claims as Record<string, unknown>;
  }

  // Supabase Auth's issuer, when the project is known.
  const issuer = options.supabaseUrl && `${options.supabaseUrl.replace(/\/+$/, "")}/auth/v1`;

  /** Exactly what Supabase issues: a user's access token, or the service_role key. */
  function identify(claims: Record<string, unknown>): DashboardIdentity {
    const now = Date.now() / 1000;
    if (typeof claims.exp !== "number" || claims.exp <= now) reject("expired or without exp");
    if (claims.iat !== undefined && (typeof claims.iat !== "number" || claims.iat > now + clockSkewSeconds)) {
      reject("issued in the future");
    }
    if (claims.role === "service_role") {
      // Supabase's service_role key names no user: a token with a subject is someone's, not the platform's.
      if (claims.sub !== undefined) reject("service_role token with a subject");
      return { kind: "service_role", subject: null };
    }
    if (claims.role !== "authenticated") reject("role");
    if (issuer && claims.iss !== issuer) reject("issuer");
    const aud = claims.aud;
    if (aud !== "authenticated" && !(Array.isArray(aud) && aud.includes("authenticated"))) reject("audience");
    const sub = typeof claims.sub === "string" && uuid.test(claims.sub) ? claims.sub.toLowerCase() : null;
    if (!sub) reject("subject is not a user id");
    return { kind: "user", userId: sub };
  }

  return {
    async verify(token) {
      let header: ReturnType<typeof decodeProtectedHeader>;
      try {
        header = decodeProtectedHeader(token);
      } catch {
        return reject("malformed");
      }
      const claims = header.alg === "HS256"
        ? await verifyHs256(token)
        : header.alg === "ES256" || header.alg === "RS256"
        ? await verifyWithJwks(token, header.kid)
        : reject("algorithm not allowed");
      return identify(claims);
    },
  };
}

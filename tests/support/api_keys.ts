// The api-keys app in process on a real database, real signed tokens, and a real JWKS server.
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import type { Database } from "../../supabase/functions/_shared/database.ts";
import { createJwtVerifier, type JwtVerifierOptions } from "../../supabase/functions/api-keys/jwt.ts";
import { createApiKeysApp } from "../../supabase/functions/api-keys/app.ts";
import type { MutationThrottle } from "../../supabase/functions/api-keys/mutation_throttle.ts";
import { type Answer, inProcess } from "./in_process.ts";
import { testConfig } from "./database.ts";
import { testSigningSettings } from "./fixtures.ts";

export const testSecret = "test-only-hs256-secret-0123456789abcdef";

export interface ApiCall {
  method?: string;
  /** Path below /api-keys, e.g. "" or "/<id>/revoke". */
  path?: string;
  token?: string;
  tenant?: string;
  headers?: Record<string, string>;
  body?: unknown;
  ip?: string;
}

export interface ApiKeysHarness {
  logs: Record<string, unknown>[];
  call(options?: ApiCall): Promise<Answer>;
}

export function apiKeysHarness(
  db: Database,
  options: {
    jwt?: JwtVerifierOptions;
    trustedProxyHops?: number;
    maxActiveKeysPerTenant?: number;
    mutations?: MutationThrottle;
    /** SIGNING_KEK (default: the tests' one); null: a deployment without it. */
    signingKek?: string | null;
  } = {},
): ApiKeysHarness {
  const { logs, call } = inProcess((log) =>
    createApiKeysApp({
      db,
      jwt: createJwtVerifier(options.jwt ?? { jwtSecret: testSecret }),
      config: {
        trustedProxyHops: options.trustedProxyHops ?? 0,
        maxActiveKeysPerTenant: options.maxActiveKeysPerTenant ?? 100,
        bcryptCost: testConfig.bcryptCost,
        ...(options.signingKek === null
          ? {}
          : { ...testSigningSettings, signingKek: options.signingKek ?? testSigningSettings.signingKek }),
      },
      log,
      mutations: options.mutations,
    })
  );
  return {
    logs,
    call: ({ token, tenant, method = "GET", path = "", headers, ...rest }: ApiCall = {}) =>
      call({
        ...rest,
        method,
        path: `/api-keys${path}`,
        bearer: token,
        headers: tenant === undefined ? headers : { ...headers, "x-tenant-id": tenant },
      }),
  };
}

// --- tokens ---

export function userClaims(userId: string, extra: JWTPayload = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return { sub: userId, aud: "authenticated", role: "authenticated", iat: now, exp: now + 3600, ...extra };
}

export function serviceRoleClaims(extra: JWTPayload = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  // The shape of Supabase's service_role key: no sub, no aud.
  return { iss: "supabase", ref: "localproject", role: "service_role", iat: now, exp: now + 3600, ...extra };
}

export async function hs256(claims: JWTPayload, secret = testSecret): Promise<string> {
  return await new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(
    new TextEncoder().encode(secret),
  );
}

/** An unsigned token (`alg: none`). */
export function unsigned(claims: JWTPayload): string {
  const part = (value: unknown) =>
    btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  return `${part({ alg: "none", typ: "JWT" })}.${part(claims)}.`;
}

export interface SigningKey {
  kid: string;
  alg: "ES256" | "RS256";
  jwk: JWK;
  sign(claims: JWTPayload, header?: Record<string, unknown>): Promise<string>;
}

export async function signingKey(alg: "ES256" | "RS256", kid: string = crypto.randomUUID()): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig", key_ops: ["verify"] };
  return {
    kid,
    alg,
    jwk,
    sign: (claims, header = {}) =>
      new SignJWT(claims).setProtectedHeader({ alg, typ: "JWT", kid, ...header }).sign(privateKey),
  };
}

/** A real HTTP server that serves JWKS documents, as Supabase Auth does, and records every request. */
export interface JwksServer extends AsyncDisposable {
  url: string;
  requests: { path: string; apikey: string | null }[];
  /** Serve `{keys}` at `path` (default: Supabase's /auth/v1/.well-known/jwks.json). */
  publish(keys: JWK[], path?: string): void;
  /** Answer every request with this status instead. */
  failWith(status: number | null): void;
}

export function jwksServer(): JwksServer {
  const documents = new Map<string, { keys: JWK[] }>();
  const requests: { path: string; apikey: string | null }[] = [];
  let failure: number | null = null;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const path = new URL(request.url).pathname;
    requests.push({ path, apikey: request.headers.get("apikey") });
    if (failure !== null) return new Response("unavailable", { status: failure });
    const document = documents.get(path);
    return document ? Response.json(document) : Response.json({ message: "not found" }, { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    publish: (keys, path = "/auth/v1/.well-known/jwks.json") => void documents.set(path, { keys }),
    failWith: (status) => void (failure = status),
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

// --- people ---

/**
 * A Dashboard user with `role` in the tenant (one user per email, as in Supabase Auth), and their
 * access token signed by `sign` (by default with this harness's secret).
 */
export async function member(
  db: Database,
  tenantId: string,
  role: "owner" | "admin" | "member",
  email?: string,
  sign: (claims: JWTPayload) => Promise<string> = hs256,
) {
  const address = email ?? `${role}-${crypto.randomUUID().slice(0, 8)}@example.com`;
  const [{ id }] = await db.query<{ id: string }>(
    "select salesos.ensure_dashboard_member($1::uuid, $2, $3) as id",
    [tenantId, address, role],
  );
  return { userId: id, email: address, token: await sign(userClaims(id, { email: address })) };
}

// Who is calling api-keys, and for which tenant:
//   1. `Authorization: Bearer <JWT>`: a Dashboard access token or a service_role token, verified by
//      _shared/jwt.ts (401 otherwise; an sk_ key gets its own 401 message).
//   2. A user acts for a tenant where they hold admin.integrations (roles owner, admin): the one
//      named by X-Tenant-Id, or, without it, the only such tenant they have (400 when they have
//      several, 403 when none or when X-Tenant-Id names a tenant where they lack it). A tenant id in
//      a body or query string is ignored for users.
//   3. A service_role token acts for the tenant named by X-Tenant-Id or the body's tenant_id
//      (400 without one or when the two differ, 404 when no such tenant exists).
import type { Context } from "hono";
import { hasKnownPrefix } from "../_shared/api_key.ts";
import type { Database } from "../_shared/database.ts";
import { ApiError, messages as sharedMessages } from "../_shared/errors.ts";
import { type AppEnv, readJsonBody } from "../_shared/http.ts";
import { type DashboardIdentity, JwksUnavailable, JwtRejected, type JwtVerifier } from "./jwt.ts";
import type { MutationThrottle } from "./mutation_throttle.ts";
import { isUuid, messages } from "./schemas.ts";

/** The caller of a request, resolved to one tenant. */
export interface Actor {
  tenantId: string;
  actorId: string | null;
  actorType: "user" | "service_role";
  ip: string | null;
}

export interface AuthDeps {
  db: Database;
  jwt: JwtVerifier;
  mutations?: MutationThrottle;
}

/** The request's JSON body, read at most once (and only if someone asks for it). */
export type BodyReader = () => Promise<unknown>;

const bearer = /^Bearer +(\S+) *$/i;
const adminRoles = new Set(["owner", "admin"]);
const jwksRetryAfterSeconds = 5;

async function identify(c: Context<AppEnv>, jwt: JwtVerifier): Promise<DashboardIdentity> {
  const token = bearer.exec(c.req.header("authorization") ?? "")?.[1];
  if (!token) throw new ApiError("UNAUTHORIZED", messages.missingAuthorization);
  if (hasKnownPrefix(token)) throw new ApiError("UNAUTHORIZED", messages.apiKeyNotAccepted);
  try {
    return await jwt.verify(token);
  } catch (error) {
    if (error instanceof JwtRejected) {
      c.get("log").auth_failure = error.reason;
      throw new ApiError("UNAUTHORIZED", messages.invalidToken);
    }
    if (error instanceof JwksUnavailable) {
      c.get("log").auth_failure = "jwks unavailable";
      throw new ApiError("SERVICE_UNAVAILABLE", sharedMessages.serviceUnavailable, {
        retryAfter: jwksRetryAfterSeconds,
      });
    }
    throw error;
  }
}

function invalidTenant(field: string): ApiError {
  return new ApiError("VALIDATION_ERROR", messages.invalidTenant, {
    details: [{ field, message: `${field} must be a tenant id (uuid)` }],
  });
}

function tenantHeader(c: Context<AppEnv>): string | undefined {
  const value = c.req.header("x-tenant-id")?.trim();
  if (value === undefined) return undefined;
  if (!isUuid(value)) throw invalidTenant("X-Tenant-Id");
  return value.toLowerCase();
}

async function userTenant(c: Context<AppEnv>, db: Database, userId: string): Promise<string> {
  const named = tenantHeader(c);
  const memberships = await db.query<{ tenant_id: string; role: string }>(
    "select tenant_id, role from salesos.dashboard_memberships($1::uuid)",
    [userId],
  );
  const managed = memberships.filter((m) => adminRoles.has(m.role)).map((m) => m.tenant_id);
  if (named !== undefined) {
    if (!managed.includes(named)) throw new ApiError("FORBIDDEN", messages.forbidden);
    return named;
  }
  if (managed.length === 0) throw new ApiError("FORBIDDEN", messages.forbidden);
  if (managed.length > 1) {
    throw new ApiError("VALIDATION_ERROR", messages.tenantAmbiguous, {
      details: [{ field: "X-Tenant-Id", message: "required: you manage API keys in several tenants" }],
    });
  }
  return managed[0];
}

async function platformTenant(c: Context<AppEnv>, db: Database, body: BodyReader | undefined): Promise<string> {
  const named = tenantHeader(c);
  const payload = body ? await body() : undefined;
  const inBody = payload !== null && typeof payload === "object" && !Array.isArray(payload)
    ? (payload as Record<string, unknown>).tenant_id
    : undefined;
  if (inBody !== undefined && !isUuid(inBody)) throw invalidTenant("tenant_id");
  const fromBody = inBody?.toLowerCase();
  if (named !== undefined && fromBody !== undefined && named !== fromBody) {
    throw new ApiError("VALIDATION_ERROR", messages.invalidTenant, {
      details: [{ field: "tenant_id", message: "X-Tenant-Id and tenant_id name different tenants" }],
    });
  }
  const tenantId = named ?? fromBody;
  if (tenantId === undefined) {
    throw new ApiError("VALIDATION_ERROR", messages.tenantRequired, {
      details: [{ field: "X-Tenant-Id", message: "required with a service_role token" }],
    });
  }
  const [{ exists }] = await db.query<{ exists: boolean }>("select salesos.tenant_exists($1::uuid) as exists", [
    tenantId,
  ]);
  if (!exists) throw new ApiError("NOT_FOUND", messages.tenantNotFound);
  return tenantId;
}

/**
 * Authenticates the caller and resolves its tenant. `body` is the route's body reader, if it has
 * a body: only a service_role caller's tenant comes from it, so a user's body is read after this.
 */
export async function authorize(c: Context<AppEnv>, deps: AuthDeps, body?: BodyReader): Promise<Actor> {
  const identity = await identify(c, deps.jwt);
  const ip = c.get("clientIp");
  const actor: Actor = identity.kind === "user"
    ? { tenantId: await userTenant(c, deps.db, identity.userId), actorId: identity.userId, actorType: "user", ip }
    : { tenantId: await platformTenant(c, deps.db, body), actorId: identity.subject, actorType: "service_role", ip };
  Object.assign(c.get("log"), { tenant_id: actor.tenantId, actor_type: actor.actorType, actor_id: actor.actorId });
  // Changes are throttled per actor and tenant before any of their own work (body, bcrypt, SQL).
  if (deps.mutations && c.req.method !== "GET" && c.req.method !== "HEAD") {
    const retryAfter = deps.mutations.take(actor.actorId ?? actor.actorType, actor.tenantId);
    if (retryAfter !== null) throw new ApiError("RATE_LIMITED", sharedMessages.rateLimited, { retryAfter });
  }
  return actor;
}

/** The `:id` of a key route; anything but a uuid is a key no tenant has (404). */
export function keyIdParam(c: Context<AppEnv>): string {
  const id = c.req.param("id");
  if (!isUuid(id)) throw new ApiError("NOT_FOUND", messages.keyNotFound);
  c.get("log").key_id = id.toLowerCase();
  return id.toLowerCase();
}

/**
 * Reads the JSON body once, when first asked. `optional`: a request without a body, or with an
 * empty one (whatever its headers say), reads as undefined.
 */
export function bodyReader(c: Context<AppEnv>, { optional = false } = {}): BodyReader {
  let pending: Promise<unknown> | undefined;
  return () => (pending ??= readJsonBody(c.req.raw, { optional }));
}

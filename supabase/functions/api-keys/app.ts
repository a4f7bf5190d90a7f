// The api-keys app: importable, so tests and the local server call it in process. Its routes are
// listed here, once; each route's contract is in its file under routes/.
import { cors } from "hono/cors";
import { apiVersion } from "../_shared/version.ts";
import type { Config } from "../_shared/config.ts";
import type { Database } from "../_shared/database.ts";
import { messages as sharedMessages } from "../_shared/errors.ts";
import { createFunctionApp, jsonLog, type LogSink } from "../_shared/http.ts";
import { type DocumentSpec, errorExample, errorResponse, openApiRoute, serveRoutes } from "../_shared/openapi.ts";
import type { JwtVerifier } from "./jwt.ts";
import { createKeyring, type Keyring } from "../_shared/signing.ts";
import { createMutationThrottle, mutationLimits, type MutationThrottle } from "./mutation_throttle.ts";
import * as audit from "./routes/audit.ts";
import * as create from "./routes/create.ts";
import * as deleteKey from "./routes/delete.ts";
import * as get from "./routes/get.ts";
import * as list from "./routes/list.ts";
import * as requests from "./routes/requests.ts";
import * as revoke from "./routes/revoke.ts";
import * as rotate from "./routes/rotate.ts";
import * as update from "./routes/update.ts";
import * as usage from "./routes/usage.ts";
import { keyNotActiveExample, messages, tenantParameter } from "./schemas.ts";

export interface ApiKeysDeps {
  db: Database;
  jwt: JwtVerifier;
  config:
    & Pick<Config, "trustedProxyHops" | "maxActiveKeysPerTenant" | "bcryptCost">
    & Partial<Pick<Config, "signingKek" | "signingKekId" | "signingKeksPrevious" | "consoleOrigins" | "docsUrl">>;
  log?: LogSink;
  /** Mutations per actor and tenant (default: createMutationThrottle(), per instance). */
  mutations?: MutationThrottle;
}

/** What every route handler gets. */
export interface RouteDeps {
  db: Database;
  jwt: JwtVerifier;
  maxActiveKeysPerTenant: number;
  bcryptCost: number;
  mutations: MutationThrottle;
  /** Encrypts signed keys' k1 (SIGNING_KEK); null: signed keys cannot be created. */
  keyring: Keyring | null;
}

export function createApiKeysApp(
  { db, jwt, config, log = jsonLog, mutations = createMutationThrottle() }: ApiKeysDeps,
) {
  const app = createFunctionApp("api-keys", log, {
    trustedProxyHops: config.trustedProxyHops,
    docsUrl: config.docsUrl,
  });
  allowConsoles(app, config.consoleOrigins ?? []);
  // /audit and /openapi.json (the API's description, without authentication) before /:id, so that
  // they are never taken for a key id.
  serveRoutes<RouteDeps>(app, document, { db, jwt, ...config, mutations, keyring: createKeyring(config) }, [
    create,
    list,
    audit,
    openApiRoute("api-keys"),
    get,
    update,
    deleteKey,
    revoke,
    rotate,
    usage,
    requests,
  ]);
  return app;
}

/**
 * CORS for the Integrations consoles at `origins` (CONSOLE_ORIGINS), and for no one else: a request
 * from another origin, or with no Origin, gets no CORS header (and a preflight from it is answered
 * as any OPTIONS request is, 405). The token travels in Authorization, never in a cookie, so
 * credentials are not allowed.
 */
function allowConsoles(app: ReturnType<typeof createFunctionApp>, origins: string[]) {
  if (origins.length === 0) return;
  const listed = new Set(origins);
  const corsForConsoles = cors({
    origin: origins,
    allowMethods: ["GET", "POST", "PATCH", "DELETE"],
    allowHeaders: ["Authorization", "Content-Type", "X-Tenant-Id"],
    exposeHeaders: ["X-Request-Id", "Retry-After"],
    maxAge: 600,
    credentials: false,
  });
  app.use("*", async (c, next) => {
    if (listed.has(c.req.header("origin") ?? "")) return await corsForConsoles(c, next);
    await next();
    c.header("Vary", "Origin", { append: true }); // the answer to a listed origin differs
  });
}

const description = `
Tenant admins manage their integration API keys themselves with their Dashboard access token.

## Authentication

\`Authorization: Bearer <Dashboard JWT>\`: a Supabase Auth access token (\`sub\` = user id,
\`aud\` = \`authenticated\`), HS256 with the project's JWT secret or ES256/RS256 from the project's
JWKS. Anything else (\`alg: none\`, tampered, expired, wrong audience) is 401
\`${messages.invalidToken}\`; an \`sk_…\` API key is 401 \`${messages.apiKeyNotAccepted}\`.

## Who may do what

- A user needs the \`admin.integrations\` capability in the tenant (roles \`owner\` and \`admin\`):
  otherwise 403 \`${messages.forbidden}\`. A user who manages several tenants names one with
  \`X-Tenant-Id\`; with a user token any \`tenant_id\` in a body or query is ignored.
- A \`service_role\` token names the tenant with \`X-Tenant-Id\` or \`tenant_id\` in the JSON body.
- A key of another tenant, or a key id that is not a uuid, is 404 for every method.
- Changes (every method but GET) are limited per instance to ${mutationLimits.perUser} a minute per user (or
  \`service_role\` token) and ${mutationLimits.perTenant} a minute per tenant, counted whatever their outcome:
  beyond, 429 \`${sharedMessages.rateLimited}\` with \`retry_after\`.

## Errors

Every answer carries \`X-Request-Id\`, equal to \`meta.request_id\`. Errors have the \`Error\` schema;
their \`message\` is stable. Any method other than the ones documented for a path answers 405
\`METHOD_NOT_ALLOWED\` with \`Allow\`; an unknown path answers 404 \`NOT_FOUND\`. Every mutation and
its audit entry commit in one transaction. No CORS headers are sent (except on \`openapi.json\`), but to
the origins of Integrations consoles listed in \`CONSOLE_ORIGINS\` (none by default).
`.trim();

const document: DocumentSpec = {
  info: {
    title: "SalesOS Integration API: api-keys",
    version: apiVersion,
    summary: "Self-service management of integration API keys with a Dashboard access token.",
    description,
  },
  tags: [
    { name: "Keys", description: "Create, list, change, revoke, rotate and delete API keys" },
    { name: "Usage", description: "What a key was used for" },
    { name: "Audit", description: "Who did what to which key" },
    { name: "Operations", description: "This document; no authentication" },
  ],
  securitySchemes: {
    dashboardJwt: {
      type: "http",
      scheme: "bearer",
      bearerFormat: "JWT",
      description: "A Supabase Auth access token of a Dashboard user (or a `service_role` token, with `X-Tenant-Id`).",
    },
  },
  components: {
    parameters: { TenantId: tenantParameter },
    responses: {
      BadRequest: errorResponse("Invalid body, query or tenant.", [
        errorExample("Invalid settings", "VALIDATION_ERROR", messages.invalidSettings, {
          details: [{
            field: "rate_limit_per_hour",
            message: "rate_limit_per_hour must be an integer from 1 to 100000",
          }],
        }),
        errorExample("Body is not a JSON object", "VALIDATION_ERROR", messages.invalidBody),
        errorExample("Invalid query", "VALIDATION_ERROR", messages.invalidQuery, {
          details: [{ field: "limit", message: "limit must be an integer from 1 to 100" }],
        }),
        errorExample("Several tenants, none named", "VALIDATION_ERROR", messages.tenantAmbiguous, {
          details: [{ field: "X-Tenant-Id", message: "required: you manage API keys in several tenants" }],
        }),
      ]),
      Unauthorized: errorResponse("No valid Dashboard access token.", [
        errorExample("No Authorization header", "UNAUTHORIZED", messages.missingAuthorization),
        errorExample("Invalid, tampered or expired token", "UNAUTHORIZED", messages.invalidToken),
        errorExample("An API key instead of a token", "UNAUTHORIZED", messages.apiKeyNotAccepted),
      ]),
      Forbidden: errorResponse("The user lacks `admin.integrations` in the tenant.", [
        errorExample("Not an owner or admin", "FORBIDDEN", messages.forbidden),
      ]),
      KeyNotFound: errorResponse("No such key in this tenant (or the id is not a uuid).", [
        errorExample("No such key in this tenant", "NOT_FOUND", messages.keyNotFound),
      ]),
      TenantNotFound: errorResponse("A `service_role` token named a tenant that does not exist.", [
        errorExample("Unknown tenant", "NOT_FOUND", messages.tenantNotFound),
      ]),
      RateLimited: errorResponse(
        "Too many changes by this user or in this tenant within a minute: wait `retry_after` seconds.",
        [errorExample("Over the mutation limit", "RATE_LIMITED", sharedMessages.rateLimited, { retry_after: 42 })],
        ["Retry-After"],
      ),
      KeyNotActive: errorResponse("The key is revoked or expired.", [keyNotActiveExample]),
      ServiceUnavailable: errorResponse(
        "The database (or the project's JWKS) is unreachable or timed out; nothing was written.",
        [errorExample("Unavailable", "SERVICE_UNAVAILABLE", sharedMessages.serviceUnavailable, { retry_after: 5 })],
        ["Retry-After"],
      ),
    },
  },
};

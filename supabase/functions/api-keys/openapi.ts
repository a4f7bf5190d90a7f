// The OpenAPI 3.1 document of api-keys, generated from the zod schemas of schemas.ts (the ones the
// handlers validate with and answer with). Served at GET /functions/v1/api-keys/openapi.json.
import { messages as sharedMessages } from "../_shared/errors.ts";
import { knownScopes } from "./key_settings.ts";
import {
  commonHeaders,
  errorExample,
  errorResponse,
  type Example,
  exampleMeta,
  once,
  openApiDocument,
  openApiObject,
  type OperationSpec,
  servers,
} from "../_shared/openapi.ts";
import {
  apiKeyPage,
  apiKeyResponse,
  auditPage,
  auditQuerySchema,
  createdApiKeyResponse,
  createKeySchema,
  deletedApiKeyResponse,
  keyPathSchema,
  listQuerySchema,
  maxGracePeriodSeconds,
  maxUsageBuckets,
  messages,
  pageQuerySchema,
  requestLogPage,
  rotatedApiKeyResponse,
  rotateSchema,
  tenantHeaderSchema,
  updateKeySchema,
  usageQuerySchema,
  usageResponse,
} from "./schemas.ts";

const keyId = "5f0c2a8e-3b1d-4c7a-9e2f-8a6b4d1c0e93";
const apiKey = {
  id: keyId,
  name: "CRM sync",
  key_prefix: "sk_live_a1b2c3d4",
  environment: "live",
  scopes: ["default:sync"],
  rate_limit_per_hour: 5000,
  ip_allowlist: [],
  expires_at: null,
  status: "active",
  created_at: "2026-03-17T12:00:00.000Z",
  created_by: "2c9a7e41-6d3f-4b8e-a1c5-7f0e9d2b4a68",
  revoked_at: null,
  last_used_at: null,
  last_used_ip: null,
  request_count: 0,
};
const plaintext = "sk_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6";

const ok = (summary: string, data: unknown, meta: Record<string, unknown> = {}): Example => ({
  summary,
  value: { data, meta: { ...exampleMeta, ...meta } },
});

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

## Errors

Every answer carries \`X-Request-Id\`, equal to \`meta.request_id\`. Errors have the \`Error\` schema;
their \`message\` is stable. Any method other than the ones documented for a path answers 405
\`METHOD_NOT_ALLOWED\` with \`Allow\`; an unknown path answers 404 \`NOT_FOUND\`. Every mutation and
its audit entry commit in one transaction. No CORS headers are sent (except on \`openapi.json\`):
the Dashboard's server calls this API, not a browser.
`.trim();

const keyNotFound = errorExample("No such key in this tenant", "NOT_FOUND", messages.keyNotFound);
const notActive = errorExample("Revoked or expired key", "CONFLICT", messages.keyNotActive);
const invalidSettings = errorExample("Invalid settings", "VALIDATION_ERROR", messages.invalidSettings, {
  details: [{ field: "rate_limit_per_hour", message: "rate_limit_per_hour must be an integer from 1 to 100000" }],
});

/** The answers every authenticated operation may give, by status. */
const authenticated = {
  "400": "BadRequest",
  "401": "Unauthorized",
  "403": "Forbidden",
  "500": "ServerError",
  "503": "ServiceUnavailable",
};
/** …and those of an operation with a JSON body. */
const withBody = { ...authenticated, "413": "PayloadTooLarge", "415": "UnsupportedMediaType" };

const operations: OperationSpec[] = [
  {
    method: "post",
    path: "/api-keys",
    operationId: "createApiKey",
    summary: "Create a key",
    description: `201: the key object plus \`key\`, the plaintext, shown in this answer only. At most
the configured number of active keys per tenant (100 by default): 409 beyond. Scopes: ${
      knownScopes.map((s) => `\`${s}\``).join(", ")
    }; \`[]\` = unrestricted.`,
    tags: ["Keys"],
    parameters: ["TenantId"],
    body: {
      schema: createKeySchema,
      required: true,
      examples: {
        crm_sync: {
          summary: "A key for a CRM job",
          value: { name: "CRM sync", scopes: ["default:sync"], rate_limit_per_hour: 5000 },
        },
        test_key: {
          summary: "A test key that expires, from two addresses",
          value: {
            name: "Staging",
            environment: "test",
            scopes: ["default:sync"],
            expires_at: "2027-01-01T00:00:00Z",
            ip_allowlist: ["203.0.113.7", "198.51.100.0/24"],
          },
        },
      },
    },
    responses: {
      "201": {
        description: "The new key, with its plaintext `key` (this once).",
        schema: createdApiKeyResponse,
        headers: ["X-Request-Id"],
        examples: { created: ok("Created", { ...apiKey, key: plaintext }) },
      },
      ...withBody,
      "404": "TenantNotFound",
      "409": errorResponse("The tenant's active key limit is reached.", [
        errorExample("Too many active keys", "CONFLICT", messages.keyLimit(100)),
      ]),
    },
  },
  {
    method: "get",
    path: "/api-keys",
    operationId: "listApiKeys",
    summary: "List keys",
    description: "Newest first, a page at a time: pass `meta.next_cursor` as `cursor` for the next page.",
    tags: ["Keys"],
    parameters: ["TenantId"],
    query: listQuerySchema,
    responses: {
      "200": {
        description: "A page of keys.",
        schema: apiKeyPage,
        headers: ["X-Request-Id"],
        examples: { page: ok("One key, last page", [apiKey], { next_cursor: null }) },
      },
      ...authenticated,
      "404": "TenantNotFound",
    },
  },
  {
    method: "get",
    path: "/api-keys/audit",
    operationId: "listAuditEntries",
    summary: "The tenant's audit log",
    description: "Who did what to which key, when and from where; newest first, a page at a time.",
    tags: ["Audit"],
    parameters: ["TenantId"],
    query: auditQuerySchema,
    responses: {
      "200": {
        description: "A page of audit entries.",
        schema: auditPage,
        headers: ["X-Request-Id"],
        examples: {
          page: ok("A key's creation", [{
            id: 1,
            time: "2026-03-17T12:00:00.000Z",
            action: "key.create",
            actor: { type: "user", id: apiKey.created_by, email: "owner@acme.example" },
            key_id: keyId,
            key_prefix: apiKey.key_prefix,
            source_ip: "203.0.113.7",
            changes: { name: "CRM sync", environment: "live", scopes: ["default:sync"] },
          }], { next_cursor: null }),
        },
      },
      ...authenticated,
      "404": "TenantNotFound",
    },
  },
  {
    method: "get",
    path: "/api-keys/{id}",
    operationId: "getApiKey",
    summary: "Get a key",
    tags: ["Keys"],
    pathParams: keyPathSchema,
    parameters: ["TenantId"],
    responses: {
      "200": {
        description: "The key object.",
        schema: apiKeyResponse,
        headers: ["X-Request-Id"],
        examples: { key: ok("A key", apiKey) },
      },
      ...authenticated,
      "404": "KeyNotFound",
    },
  },
  {
    method: "patch",
    path: "/api-keys/{id}",
    operationId: "updateApiKey",
    summary: "Change a key",
    description: "Any of `name`, `scopes`, `rate_limit_per_hour`, `expires_at`, `ip_allowlist`, validated like " +
      "create; `null` clears `expires_at` or `ip_allowlist`; `environment` is 400. Acts on default-integration's " +
      "next request.",
    tags: ["Keys"],
    pathParams: keyPathSchema,
    parameters: ["TenantId"],
    body: {
      schema: updateKeySchema,
      required: true,
      examples: { limit: { summary: "Raise the limit", value: { rate_limit_per_hour: 10000 } } },
    },
    responses: {
      "200": {
        description: "The changed key.",
        schema: apiKeyResponse,
        headers: ["X-Request-Id"],
        examples: { key: ok("Changed", { ...apiKey, rate_limit_per_hour: 10000 }) },
      },
      ...withBody,
      "404": "KeyNotFound",
      "409": "KeyNotActive",
    },
  },
  {
    method: "delete",
    path: "/api-keys/{id}",
    operationId: "deleteApiKey",
    summary: "Delete a key",
    description: "Permanently; its audit entries and request log stay.",
    tags: ["Keys"],
    pathParams: keyPathSchema,
    parameters: ["TenantId"],
    responses: {
      "200": {
        description: "The key is gone.",
        schema: deletedApiKeyResponse,
        headers: ["X-Request-Id"],
        examples: { deleted: ok("Deleted", { id: keyId, key_prefix: apiKey.key_prefix, deleted: true }) },
      },
      ...withBody,
      "404": "KeyNotFound",
    },
  },
  {
    method: "post",
    path: "/api-keys/{id}/revoke",
    operationId: "revokeApiKey",
    summary: "Revoke a key",
    description: "Now, for every instance's next request. Again: 200 with the same `revoked_at`.",
    tags: ["Keys"],
    pathParams: keyPathSchema,
    parameters: ["TenantId"],
    responses: {
      "200": {
        description: "The revoked key.",
        schema: apiKeyResponse,
        headers: ["X-Request-Id"],
        examples: {
          revoked: ok("Revoked", { ...apiKey, status: "revoked", revoked_at: "2026-03-18T08:00:00.000Z" }),
        },
      },
      ...withBody,
      "404": "KeyNotFound",
    },
  },
  {
    method: "post",
    path: "/api-keys/{id}/rotate",
    operationId: "rotateApiKey",
    summary: "Rotate a key",
    description: `201: a new key with the same name, environment, scopes, limit, allowlist and expiry, its
plaintext \`key\` (this once), and \`rotated_from\`. The old key expires after \`grace_period_seconds\`
(0–${maxGracePeriodSeconds}, default 0; no body = 0). A revoked or expired key is 409. With a grace period the
old key stays active beside the new one, so it needs a free place under the tenant's active key limit (409
otherwise); without one the number of active keys does not change.`,
    tags: ["Keys"],
    pathParams: keyPathSchema,
    parameters: ["TenantId"],
    body: {
      schema: rotateSchema,
      required: false,
      examples: { grace: { summary: "One hour of overlap", value: { grace_period_seconds: 3600 } } },
    },
    responses: {
      "201": {
        description: "The new key, with its plaintext `key` (this once), and what became of the old one.",
        schema: rotatedApiKeyResponse,
        headers: ["X-Request-Id"],
        examples: {
          rotated: ok("Rotated with one hour of grace", {
            ...apiKey,
            id: "9d4e1b7a-2c8f-4e3d-b6a1-0f5c8e2d7b94",
            key_prefix: "sk_live_q7r8s9t0",
            key: "sk_live_q7r8s9t0u1v2w3x4y5z6a7b8c9d0e1f2",
            rotated_from: { id: keyId, key_prefix: apiKey.key_prefix, expires_at: "2026-03-18T09:00:00.000Z" },
          }),
        },
      },
      ...withBody,
      "404": "KeyNotFound",
      "409": errorResponse("The key is revoked or expired, or a grace period would exceed the active key limit.", [
        notActive,
        errorExample("Too many active keys for a grace period", "CONFLICT", messages.keyLimit(100)),
      ]),
    },
  },
  {
    method: "get",
    path: "/api-keys/{id}/usage",
    operationId: "getApiKeyUsage",
    summary: "A key's usage",
    description: `Request counts per UTC \`hour\` (default) or \`day\` bucket of [\`from\`, \`to\`) (default: the
last 24 hours, or 30 days for days; at most ${maxUsageBuckets} buckets, empty ones included), by status
class, plus \`last_used_at\`, \`last_used_ip\` and \`request_count\`.`,
    tags: ["Usage"],
    pathParams: keyPathSchema,
    parameters: ["TenantId"],
    query: usageQuerySchema,
    responses: {
      "200": {
        description: "Counts per bucket.",
        schema: usageResponse,
        headers: ["X-Request-Id"],
        examples: {
          usage: ok("Two hours", {
            key_id: keyId,
            from: "2026-03-17T10:00:00.000Z",
            to: "2026-03-17T12:00:00.000Z",
            bucket: "hour",
            totals: { total: 3, "2xx": 2, "4xx": 1, "5xx": 0 },
            buckets: [
              { start: "2026-03-17T10:00:00.000Z", total: 0, "2xx": 0, "4xx": 0, "5xx": 0 },
              { start: "2026-03-17T11:00:00.000Z", total: 3, "2xx": 2, "4xx": 1, "5xx": 0 },
            ],
            last_used_at: "2026-03-17T11:42:10.123Z",
            last_used_ip: "203.0.113.7",
            request_count: 3,
          }),
        },
      },
      ...authenticated,
      "404": "KeyNotFound",
    },
  },
  {
    method: "get",
    path: "/api-keys/{id}/requests",
    operationId: "listApiKeyRequests",
    summary: "A key's request log",
    description: "Newest first, a page at a time: `request_id`, time, action, status, ip, latency, item counts.",
    tags: ["Usage"],
    pathParams: keyPathSchema,
    parameters: ["TenantId"],
    query: pageQuerySchema,
    responses: {
      "200": {
        description: "A page of requests.",
        schema: requestLogPage,
        headers: ["X-Request-Id"],
        examples: {
          page: ok("One sync", [{
            request_id: exampleMeta.request_id,
            time: "2026-03-17T11:42:10.123Z",
            action: "sync_activities",
            status: 200,
            ip: "203.0.113.7",
            latency_ms: 18,
            item_counts: { total: 1, processed: 1, skipped: 0, duplicates: 0, errors: 0 },
          }], { next_cursor: null }),
        },
      },
      ...authenticated,
      "404": "KeyNotFound",
    },
  },
  {
    method: "get",
    path: "/api-keys/openapi.json",
    operationId: "openapi",
    summary: "This OpenAPI document",
    description: "No authentication. The document itself, not in the envelope.",
    tags: ["Operations"],
    security: [],
    responses: {
      "200": {
        description: "The OpenAPI 3.1 document of api-keys.",
        schema: openApiObject,
        headers: ["X-Request-Id"],
      },
      "500": "ServerError",
    },
  },
];

function build() {
  return openApiDocument({
    info: {
      title: "SalesOS Integration API: api-keys",
      version: "1.0.0",
      summary: "Self-service management of integration API keys with a Dashboard access token.",
      description,
    },
    servers,
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
        description:
          "A Supabase Auth access token of a Dashboard user (or a `service_role` token, with `X-Tenant-Id`).",
      },
    },
    security: ["dashboardJwt"],
    headers: commonHeaders,
    parameters: {
      TenantId: {
        name: "X-Tenant-Id",
        in: "header",
        description: "The tenant to act for: needed by a user who manages several tenants, and by a `service_role` " +
          "token (which may instead send `tenant_id` in a JSON body). Not a uuid: 400.",
        schema: tenantHeaderSchema,
      },
    },
    responses: {
      BadRequest: errorResponse("Invalid body, query or tenant.", [
        invalidSettings,
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
      KeyNotFound: errorResponse("No such key in this tenant (or the id is not a uuid).", [keyNotFound]),
      TenantNotFound: errorResponse("A `service_role` token named a tenant that does not exist.", [
        errorExample("Unknown tenant", "NOT_FOUND", messages.tenantNotFound),
      ]),
      KeyNotActive: errorResponse("The key is revoked or expired.", [notActive]),
      PayloadTooLarge: errorResponse("The body is over 5 MiB.", [
        errorExample("Over 5 MiB", "PAYLOAD_TOO_LARGE", sharedMessages.payloadTooLarge),
      ]),
      UnsupportedMediaType: errorResponse("The body was not sent as `application/json`.", [
        errorExample("Not application/json", "UNSUPPORTED_MEDIA_TYPE", sharedMessages.unsupportedMediaType),
      ]),
      ServerError: errorResponse("Unexpected failure; nothing about it is disclosed.", [
        errorExample("A bug", "SERVER_ERROR", sharedMessages.serverError),
      ]),
      ServiceUnavailable: errorResponse(
        "The database (or the project's JWKS) is unreachable or timed out; nothing was written.",
        [errorExample("Unavailable", "SERVICE_UNAVAILABLE", sharedMessages.serviceUnavailable, { retry_after: 5 })],
        ["Retry-After"],
      ),
    },
    operations,
  });
}

export const apiKeysOpenApi = once(build);

// The OpenAPI 3.1 document of default-integration, generated from the zod schemas of schemas.ts
// and _shared/schemas.ts (the ones the handlers validate with and answer with). Served at
// GET /functions/v1/default-integration/openapi.json; the examples are the contract's (section 5).
import { messages } from "../_shared/errors.ts";
import {
  commonHeaders,
  errorExample,
  errorResponse,
  type Example,
  exampleMeta,
  once,
  openApiDocument,
  openApiObject,
  servers,
} from "../_shared/openapi.ts";
import { z } from "zod";
import { requiredScope } from "./auth.ts";
import {
  actions,
  healthResponse,
  maxActivitiesPerRequest,
  maxCollaboratorsPerRequest,
  syncRequest,
  syncResponse,
} from "./schemas.ts";
import { healthTimeoutMs } from "./routes/health.ts";

const rateLimitHeaders = [
  "X-RateLimit-Limit",
  "X-RateLimit-Remaining",
  "X-RateLimit-Reset",
  "RateLimit-Policy",
  "RateLimit",
];

const maria = { external_id: "emp-101", name: "Maria Santos", email: "maria@yourcompany.com" };
const call5001 = {
  activity_code: "001",
  external_id: "crm-call-5001",
  collaborator_email: "maria@yourcompany.com",
  data: { client: "Acme Corp", duration_min: 12 },
  occurred_at: "2026-03-17T09:15:00-03:00",
};

const ok = (summary: string, data: unknown): Example => ({ summary, value: { data, meta: exampleMeta } });

const description = `
Companies connect their CRM to SalesOS through this function: a nightly job or a website backend
registers salespeople (\`sync_collaborators\`) and sends numbered activities (\`sync_activities\`,
codes \`001\`–\`999\`). Both actions are idempotent: after a timeout, a 429 (wait \`retry_after\`)
or a 503, send the same request again.

## Authentication

\`Authorization: Bearer <API key>\`. Checked in this order, before the body is read; the first
failing check answers:

1. the header is \`Bearer <token>\` → else 401 \`${messages.missingAuthorization}\`
2. the token starts \`sk_live_\` or \`sk_test_\` → else 401 \`${messages.invalidKeyPrefix}\`
3. format and checksum, key id known, secret matches, not revoked, not expired → else 401 \`${messages.invalidKey}\`
4. the source IP is in the key's allowlist, when it has one → else 403 \`${messages.ipNotAllowed}\`
5. the key holds \`${requiredScope}\` (or no scopes at all) → else 403 \`${messages.missingScope(requiredScope)}\`
6. the hourly window is below the key's \`rate_limit_per_hour\` → else 429 \`${messages.rateLimited}\` with \`retry_after\`

A \`sk_test_\` key reads and writes only test data, a \`sk_live_\` key only live data.

## Rate limit

A fixed window per key: the first admitted request opens a one-hour window, every admitted request
counts (also one whose body is then refused), refused ones (401, 403, 429) do not. Every
authenticated answer carries \`X-RateLimit-Limit\`, \`X-RateLimit-Remaining\`, \`X-RateLimit-Reset\`,
\`RateLimit-Policy\` and \`RateLimit\`.

## Errors

Every answer carries \`X-Request-Id\`, equal to \`meta.request_id\`. Errors have the \`Error\` schema;
their \`message\` is stable. Any method other than the ones documented here answers 405
\`METHOD_NOT_ALLOWED\` with \`Allow\`; an unknown path answers 404 \`NOT_FOUND\`.

## Health

\`GET /default-integration/health\` (no authentication) answers 200 when the database answers
\`select 1\` within ${healthTimeoutMs / 1000} s, else 503 with \`Retry-After\`.
`.trim();

const keyFormat = `
An API key: \`sk_live_\` (production) or \`sk_test_\` (testing), then 32 characters of \`[a-z0-9]\`:
8 for the public key id (\`key_prefix\` = \`sk_live_\` + those 8, shown in lists and logs), 18 random,
and 6 of checksum. For secret scanners:
\`checksum = base36(crc32(the first 34 characters) mod 36^6)\`, left-padded with \`0\` to 6
characters, where crc32 is the common CRC-32 (IEEE 802.3, as in zlib).
Example: \`sk_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6\` (the shape only; its checksum is not valid).
`.trim();

function build() {
  return openApiDocument({
    info: {
      title: "SalesOS Integration API: default-integration",
      version: "1.0.0",
      summary: "Sync collaborators and activities from a CRM with an API key.",
      description,
    },
    servers,
    tags: [
      { name: "Sync", description: "Collaborators and activities from your CRM" },
      { name: "Operations", description: "Health and this document; no authentication" },
    ],
    securitySchemes: {
      apiKey: { type: "http", scheme: "bearer", bearerFormat: "sk_live_… / sk_test_… API key", description: keyFormat },
    },
    security: ["apiKey"],
    headers: {
      ...commonHeaders,
      "X-RateLimit-Limit": {
        description: "The key's `rate_limit_per_hour`. On every answer to an authenticated key.",
        schema: z.int().min(1),
      },
      "X-RateLimit-Remaining": {
        description: "Requests left in the current window.",
        schema: z.int().min(0),
      },
      "X-RateLimit-Reset": {
        description: "Seconds until the window ends (3600 when no window is open).",
        schema: z.int().min(0),
      },
      "RateLimit-Policy": {
        description: 'IETF draft: `"hourly";q=<limit>;w=3600`.',
        schema: z.string().meta({ examples: ['"hourly";q=1000;w=3600'] }),
      },
      "RateLimit": {
        description: 'IETF draft: `"hourly";r=<remaining>;t=<seconds until reset>`.',
        schema: z.string().meta({ examples: ['"hourly";r=998;t=3540'] }),
      },
    },
    responses: {
      BadRequest: errorResponse("The body is not JSON, has no valid `action`, or its items are invalid.", [
        errorExample("Missing or unknown action", "VALIDATION_ERROR", messages.invalidAction),
        errorExample("Body is not JSON", "VALIDATION_ERROR", messages.invalidJson),
        errorExample("An invalid activity (nothing written)", "VALIDATION_ERROR", "Invalid activities payload", {
          details: [{ index: 0, field: "activity_code", message: 'Required 3-digit string (001-999), e.g. "001"' }],
        }),
        errorExample(
          `More than ${maxCollaboratorsPerRequest} collaborators`,
          "VALIDATION_ERROR",
          "Invalid collaborators payload",
          {
            details: [{
              field: "collaborators",
              message: `Required array of at most ${maxCollaboratorsPerRequest} collaborators`,
            }],
          },
        ),
      ], rateLimitHeaders),
      Unauthorized: errorResponse("No valid API key.", [
        errorExample("No Authorization header", "UNAUTHORIZED", messages.missingAuthorization),
        errorExample('"Bearer mytoken123456789"', "UNAUTHORIZED", messages.invalidKeyPrefix),
        errorExample("Unknown, wrong, revoked or expired key", "UNAUTHORIZED", messages.invalidKey),
      ]),
      Forbidden: errorResponse("The key is valid, but its scopes or IP allowlist do not allow this request.", [
        errorExample("A key with only leads:read", "FORBIDDEN", messages.missingScope(requiredScope)),
        errorExample("Source IP not in the key's allowlist", "FORBIDDEN", messages.ipNotAllowed),
      ], rateLimitHeaders),
      PayloadTooLarge: errorResponse("The body is over 5 MiB (announced or while reading).", [
        errorExample("Over 5 MiB", "PAYLOAD_TOO_LARGE", messages.payloadTooLarge),
      ], rateLimitHeaders),
      UnsupportedMediaType: errorResponse("The body was not sent as `application/json`.", [
        errorExample("Not application/json", "UNSUPPORTED_MEDIA_TYPE", messages.unsupportedMediaType),
      ], rateLimitHeaders),
      RateLimited: errorResponse(
        "The key's hourly limit is reached: wait `retry_after` seconds, then send the same request.",
        [
          errorExample("Over the hourly limit", "RATE_LIMITED", messages.rateLimited, { retry_after: 1847 }),
        ],
        ["Retry-After", ...rateLimitHeaders],
      ),
      ServerError: errorResponse("Unexpected failure; nothing about it is disclosed.", [
        errorExample("A bug", "SERVER_ERROR", messages.serverError),
      ]),
      ServiceUnavailable: errorResponse(
        "The database is unreachable or timed out; nothing was written. Retry after `Retry-After` seconds.",
        [
          errorExample("Database unavailable", "SERVICE_UNAVAILABLE", messages.serviceUnavailable, { retry_after: 5 }),
        ],
        ["Retry-After"],
      ),
    },
    operations: [
      {
        method: "post",
        path: "/default-integration",
        operationId: "sync",
        summary: "Sync collaborators or activities",
        description: `
\`sync_collaborators\`: at most ${maxCollaboratorsPerRequest} items. An email not seen before creates a
collaborator (\`created\`), a known one updates it (\`existing\`): given fields overwrite, omitted
optional fields keep their value. Items apply in order. An invalid item is left out and reported in
\`errors\` as \`Collaborator <external_id> (<email>): <reason>\`; the rest is written.

\`sync_activities\`: at most ${maxActivitiesPerRequest} items, all or nothing: any invalid item is a 400
with one \`details\` entry per invalid field. Then, in one transaction, items apply in order: an email
that matches no collaborator is \`skipped\` (not stored, it records nothing); per \`external_id\`, the
first item with a known collaborator is \`processed\` and the later ones are \`duplicates\`; an
\`external_id\` already stored makes all its items \`duplicates\`. Replays store each activity once.

Valid actions: ${actions.map((a) => `\`${a}\``).join(", ")}.`.trim(),
        tags: ["Sync"],
        body: {
          schema: syncRequest,
          required: true,
          examples: {
            sync_collaborators: {
              summary: "Register a collaborator",
              value: { action: "sync_collaborators", collaborators: [maria] },
            },
            sync_activities: {
              summary: "Send an activity",
              value: { action: "sync_activities", activities: [call5001] },
            },
            empty: {
              summary: "An empty batch: 200 with every count 0",
              value: { action: "sync_activities", activities: [] },
            },
          },
        },
        responses: {
          "200": {
            description: "The action's counts. Rate-limit headers on every authenticated answer.",
            schema: syncResponse,
            headers: ["X-Request-Id", ...rateLimitHeaders],
            examples: {
              collaborators_created: ok("sync_collaborators, first time", {
                created: 1,
                existing: 0,
                errors: [],
                total: 1,
              }),
              collaborators_existing: ok("sync_collaborators, again", {
                created: 0,
                existing: 1,
                errors: [],
                total: 1,
              }),
              collaborators_item_error: ok("sync_collaborators with an invalid item", {
                created: 0,
                existing: 1,
                errors: ["Collaborator emp-102 (not-an-email): email must be a valid email"],
                total: 2,
              }),
              activities_processed: ok("sync_activities", {
                processed: 1,
                skipped: 0,
                duplicates: 0,
                errors: [],
                total: 1,
              }),
              activities_duplicate: ok("sync_activities, the same again", {
                processed: 0,
                skipped: 0,
                duplicates: 1,
                errors: [],
                total: 1,
              }),
            },
          },
          "400": "BadRequest",
          "401": "Unauthorized",
          "403": "Forbidden",
          "413": "PayloadTooLarge",
          "415": "UnsupportedMediaType",
          "429": "RateLimited",
          "500": "ServerError",
          "503": "ServiceUnavailable",
        },
      },
      {
        method: "get",
        path: "/default-integration/health",
        operationId: "health",
        summary: "Health: does the service reach its database?",
        description: `No authentication. 200 when the database answers \`select 1\` within ${
          healthTimeoutMs / 1000
        } s; otherwise 503 with \`Retry-After\`. Not counted against any rate limit.`,
        tags: ["Operations"],
        security: [],
        responses: {
          "200": {
            description: "The database answers.",
            schema: healthResponse,
            headers: ["X-Request-Id"],
            examples: { healthy: ok("Healthy", { status: "ok", database: { status: "ok", latency_ms: 1 } }) },
          },
          "500": "ServerError",
          "503": "ServiceUnavailable",
        },
      },
      {
        method: "get",
        path: "/default-integration/openapi.json",
        operationId: "openapi",
        summary: "This OpenAPI document",
        description: "No authentication. The document itself, not in the envelope.",
        tags: ["Operations"],
        security: [],
        responses: {
          "200": {
            description: "The OpenAPI 3.1 document of default-integration.",
            schema: openApiObject,
            headers: ["X-Request-Id"],
          },
          "500": "ServerError",
        },
      },
    ],
  });
}

export const integrationOpenApi = once(build);

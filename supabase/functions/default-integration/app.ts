// The default-integration app: importable, so tests and the local server call it in process. Its
// routes are listed here, once; each route's contract is in its file under routes/.
import { apiVersion } from "../_shared/version.ts";
import type { Config } from "../_shared/config.ts";
import type { Database } from "../_shared/database.ts";
import { messages } from "../_shared/errors.ts";
import { createFunctionApp, jsonLog, type LogSink } from "../_shared/http.ts";
import { type DocumentSpec, errorExample, errorResponse, openApiRoute, serveRoutes } from "../_shared/openapi.ts";
import { rateLimitHeaderNames, requiredScope } from "./auth.ts";
import type { KeyVerifier } from "./key_verifier.ts";
import { createKeyring, signedPath, signedScheme } from "../_shared/signing.ts";
import * as health from "./routes/health.ts";
import * as sync from "./routes/sync.ts";
import { signedKeyCache } from "./signed_auth.ts";
import { BulkGate, concurrencyMessages, retryAfterConcurrentSeconds } from "./bulk_gate.ts";
import { maxCollaboratorsPerRequest } from "./schemas.ts";
import { idempotencyKeyHeader, idempotencyMessages, replayedHeader } from "./idempotency.ts";

export interface IntegrationDeps {
  db: Database;
  keys: KeyVerifier;
  config: Pick<Config, "trustedProxyHops"> & Partial<Pick<Config, BulkSetting | SigningSetting | "docsUrl">>;
  log?: LogSink;
  /** The instance's fairness limits; by default from `config`. */
  gate?: BulkGate;
}

type BulkSetting = "maxBulkRequestsPerKey" | "maxBulkRequestsPerTenant" | "bodyBudgetMib" | "bodyWaitMs";
type SigningSetting = "signingKek" | "signingKekId" | "signingKeksPrevious";

export function createIntegrationApp({ db, keys, config, log = jsonLog, gate }: IntegrationDeps) {
  const app = createFunctionApp("default-integration", log, {
    trustedProxyHops: config.trustedProxyHops,
    docsUrl: config.docsUrl,
  });
  gate ??= new BulkGate({
    ...(config.maxBulkRequestsPerKey ? { maxBulkPerKey: config.maxBulkRequestsPerKey } : {}),
    ...(config.maxBulkRequestsPerTenant ? { maxBulkPerTenant: config.maxBulkRequestsPerTenant } : {}),
    ...(config.bodyBudgetMib ? { bodyBudgetBytes: config.bodyBudgetMib * 1024 * 1024 } : {}),
    ...(config.bodyWaitMs !== undefined ? { bodyWaitMs: config.bodyWaitMs } : {}),
  });
  // No authentication on health and openapi.json: a load balancer's health check, and the API's description.
  const keyring = createKeyring(config);
  const deps = { db, keys, gate, keyring, signedKeys: signedKeyCache() };
  serveRoutes(app, document, deps, [
    sync,
    health,
    openApiRoute("default-integration"),
  ]);
  return app;
}

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

A signed key (created with \`auth_scheme: "signed"\`) is refused as Bearer (401
\`${messages.signedKeyAsBearer}\`): it signs each request instead, \`Authorization: P2S-SIGN-V1
<API key>:<timestamp>:<signature>\` (security scheme \`signedRequest\`), and its secret never travels.
Its checks, in order: the header's shape → 401 \`${messages.malformedSignedAuthorization}\`; the key
prefix (as 2); the timestamp within 30 s of now → 401 \`${messages.timestampOutsideWindow}\`; the key
(as 3, no bcrypt) → 401 \`${messages.invalidKey}\`; a signed key → 401 \`${messages.keyNotSigned}\`;
the signature → 401 \`${messages.invalidSignature}\`; its first use → 401
\`${messages.signatureReplayed}\`; then 4–6 as above. A retry is signed again, with a new timestamp.

A \`sk_test_\` key reads and writes only test data, a \`sk_live_\` key only live data.

## Rate limit

A fixed window per key: the first admitted request opens a one-hour window, every admitted request
counts (also one whose body is then refused), refused ones (401, 403, 429) do not. Every
authenticated answer carries \`X-RateLimit-Limit\`, \`X-RateLimit-Remaining\`, \`X-RateLimit-Reset\`,
\`RateLimit-Policy\` and \`RateLimit\`.

## Concurrency and load

Per instance, after authentication and before the body is read: a body announced over 1 MiB (or,
without \`Content-Length\`, once over 1 MiB of it arrived) counts against its key's concurrency (2 at once) and its tenant's (4 at once); over either, 429
\`${concurrencyMessages.key}\` or \`${concurrencyMessages.tenant}\` with \`retry_after\` ${retryAfterConcurrentSeconds}
(this request still counts against the hourly limit). Bodies over 64 KiB (or without
\`Content-Length\`, until one ends within 64 KiB) share a budget of bytes being read at once; when it
is full a request waits up to 10 s, then gets 503 with \`Retry-After\`. Their parsing runs in slices
that leave small requests at least half of the CPU.

## Idempotency-Key

Optional, as the IETF httpapi draft and Stripe have it: send \`Idempotency-Key: <1–255 visible
ASCII characters>\` (a UUID per batch) and reuse it on every retry of that batch. The first answer
(200) for the API key and that Idempotency-Key is kept 24 hours; a retry with the same body bytes
gets it again, with \`Idempotent-Replayed: true\`, and nothing is applied again (so an old batch
retried after a newer one cannot overwrite newer data). The same key with another body or action:
422 \`IDEMPOTENCY_KEY_REUSED\` \`${idempotencyMessages.reused}\`; while the first is being applied:
409 \`CONFLICT\` \`${idempotencyMessages.inFlight}\`. Answers refused before the batch is applied
(401, 403, 429, 400 …) are not kept: retrying them with the same key is fine. Each API key has its
own keys (test and live never share one). A replay carries its own \`request_id\`.

## Numbers

A number in \`metadata\` or \`data\` is stored as the client's JSON number (a double), or refused when
it cannot be held exactly: not finite (\`1e400\`), a non-zero literal that rounds to 0 (\`1e-400\`),
an integer beyond ±9007199254740991 (\`12345678901234567890\`). A refused collaborator is an item
error; a refused activity a \`details\` entry for \`data\` (nothing written).

## Errors

Every answer carries \`X-Request-Id\`, equal to \`meta.request_id\`. Errors have the \`Error\` schema;
their \`message\` is stable. Any method other than the ones documented here answers 405
\`METHOD_NOT_ALLOWED\` with \`Allow\`; an unknown path answers 404 \`NOT_FOUND\`.

## Health

\`GET /default-integration/health\` (no authentication) answers 200 when the database answers
\`select 1\` within ${health.healthTimeoutMs / 1000} s, else 503 with \`Retry-After\`.
`.trim();

const keyFormat = `
An API key: \`sk_live_\` (production) or \`sk_test_\` (testing), then 32 characters of \`[a-z0-9]\`:
8 for the public key id (\`key_prefix\` = \`sk_live_\` + those 8, shown in lists and logs), 18 random,
and 6 of checksum. For secret scanners:
\`checksum = base36(crc32(the first 34 characters) mod 36^6)\`, left-padded with \`0\` to 6
characters, where crc32 is the common CRC-32 (IEEE 802.3, as in zlib).
Example: \`sk_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6\` (the shape only; its checksum is not valid).
`.trim();

const signedFormat = `
A signed key's requests (the key's secret is never sent):
\`Authorization: ${signedScheme} <API_KEY>:<TIMESTAMP>:<SIGNATURE>\` (the scheme name in any case, one
space), where API_KEY is the full key string, TIMESTAMP Unix seconds (digits only, within 30 s of
the server's clock) and SIGNATURE 64 lowercase hex characters:

    k1 = HMAC_SHA256(key = SECRET, msg = API_KEY)    SECRET: the 64-character string, as UTF-8
    k2 = HMAC_SHA256(k1, TIMESTAMP)                  the decimal string as sent
    k3 = HMAC_SHA256(k2, METHOD)                     POST
    k4 = HMAC_SHA256(k3, PATH)                       ${signedPath}
    SIGNATURE = hex(HMAC_SHA256(k4, hex(SHA-256(raw body bytes))))

Each k is the raw 32-byte digest. A signature is accepted once. Test vectors: docs/authentication.md.
`.trim();

const count = (description: string, minimum: number) => ({ description, schema: { type: "integer", minimum } });
const text = (description: string, example: string) => ({
  description,
  schema: { type: "string", examples: [example] },
});

const document: DocumentSpec = {
  info: {
    title: "SalesOS Integration API: default-integration",
    version: apiVersion,
    summary: "Sync collaborators and activities from a CRM with an API key.",
    description,
  },
  tags: [
    { name: "Sync", description: "Collaborators and activities from your CRM" },
    { name: "Operations", description: "Health and this document; no authentication" },
  ],
  securitySchemes: {
    apiKey: { type: "http", scheme: "bearer", bearerFormat: "sk_live_… / sk_test_… API key", description: keyFormat },
    signedRequest: { type: "http", scheme: signedScheme, description: signedFormat },
  },
  components: {
    headers: {
      "X-RateLimit-Limit": count("The key's `rate_limit_per_hour`. On every answer to an authenticated key.", 1),
      "X-RateLimit-Remaining": count("Requests left in the current window.", 0),
      "X-RateLimit-Reset": count("Seconds until the window ends (3600 when no window is open).", 0),
      "RateLimit-Policy": text('IETF draft: `"hourly";q=<limit>;w=3600`.', '"hourly";q=1000;w=3600'),
      "RateLimit": text('IETF draft: `"hourly";r=<remaining>;t=<seconds until reset>`.', '"hourly";r=998;t=3540'),
      [replayedHeader]: {
        description: "`true` when the answer is the stored first answer to this Idempotency-Key (nothing was " +
          "applied again); absent otherwise.",
        required: false,
        schema: { type: "string", enum: ["true"] },
      },
    },
    responses: {
      BadRequest: errorResponse("The body is not JSON, has no valid `action`, or its items are invalid.", [
        errorExample("Missing or unknown action", "VALIDATION_ERROR", messages.invalidAction),
        errorExample("Body is not JSON", "VALIDATION_ERROR", messages.invalidJson),
        errorExample("A malformed Idempotency-Key", "VALIDATION_ERROR", idempotencyMessages.invalid, {
          details: [{ field: idempotencyKeyHeader, message: idempotencyMessages.invalid }],
        }),
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
      ], rateLimitHeaderNames),
      Unauthorized: errorResponse("No valid API key or signature.", [
        errorExample("No Authorization header", "UNAUTHORIZED", messages.missingAuthorization),
        errorExample('"Bearer mytoken123456789"', "UNAUTHORIZED", messages.invalidKeyPrefix),
        errorExample("Unknown, wrong, revoked or expired key", "UNAUTHORIZED", messages.invalidKey),
        errorExample("A signed key sent as Bearer", "UNAUTHORIZED", messages.signedKeyAsBearer),
        errorExample("P2S-SIGN-V1 header of the wrong shape", "UNAUTHORIZED", messages.malformedSignedAuthorization),
        errorExample("Signed: timestamp over 30 s off", "UNAUTHORIZED", messages.timestampOutsideWindow),
        errorExample("Signed: a Bearer key", "UNAUTHORIZED", messages.keyNotSigned),
        errorExample("Signed: wrong signature", "UNAUTHORIZED", messages.invalidSignature),
        errorExample("Signed: the same request again", "UNAUTHORIZED", messages.signatureReplayed),
      ]),
      Forbidden: errorResponse("The key is valid, but its scopes or IP allowlist do not allow this request.", [
        errorExample("A key with only leads:read", "FORBIDDEN", messages.missingScope(requiredScope)),
        errorExample("Source IP not in the key's allowlist", "FORBIDDEN", messages.ipNotAllowed),
      ], rateLimitHeaderNames),
      Conflict: errorResponse(
        "A request with the same Idempotency-Key is being applied right now (on any instance): retry shortly, " +
          "then the stored answer comes back.",
        [errorExample("Same Idempotency-Key in flight", "CONFLICT", idempotencyMessages.inFlight)],
        rateLimitHeaderNames,
      ),
      UnprocessableContent: errorResponse(
        "The Idempotency-Key was used in the last 24 hours by this API key for a request with another body " +
          "(or action): nothing was applied. Use a new key for a new batch.",
        [errorExample("Idempotency-Key reused", "IDEMPOTENCY_KEY_REUSED", idempotencyMessages.reused)],
        rateLimitHeaderNames,
      ),
      PayloadTooLarge: errorResponse("The body is over 5 MiB (announced or while reading).", [
        errorExample("Over 5 MiB", "PAYLOAD_TOO_LARGE", messages.payloadTooLarge),
      ], rateLimitHeaderNames),
      UnsupportedMediaType: errorResponse(
        "A body that is not JSON, sent under a media type other than `application/json` (a JSON object body is read whatever the header says).",
        [
          errorExample("Not JSON", "UNSUPPORTED_MEDIA_TYPE", messages.unsupportedMediaType),
        ],
        rateLimitHeaderNames,
      ),
      RateLimited: errorResponse(
        "The key's hourly limit is reached, or too many of its (or its tenant's) bodies over 1 MiB are in " +
          "progress at once: wait `retry_after` seconds, then send the same request.",
        [
          errorExample("Over the hourly limit", "RATE_LIMITED", messages.rateLimited, { retry_after: 1847 }),
          errorExample("Too many large bodies at once for this key", "RATE_LIMITED", concurrencyMessages.key, {
            retry_after: retryAfterConcurrentSeconds,
          }),
          errorExample("Too many large bodies at once for this tenant", "RATE_LIMITED", concurrencyMessages.tenant, {
            retry_after: retryAfterConcurrentSeconds,
          }),
        ],
        ["Retry-After", ...rateLimitHeaderNames],
      ),
      ServiceUnavailable: errorResponse(
        "The database is unreachable or timed out; nothing was written. Retry after `Retry-After` seconds.",
        [errorExample("Database unavailable", "SERVICE_UNAVAILABLE", messages.serviceUnavailable, { retry_after: 5 })],
        ["Retry-After"],
      ),
    },
  },
};

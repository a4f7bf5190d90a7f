// POST /api-keys/:id/rotate {grace_period_seconds?}: a new key with the same settings (plaintext
// once, 201); the old one expires after the grace period, never later than it would have anyway.
// A grace period keeps the old key active beside the new one, so it needs a free place under the
// tenant's cap (409 as for a creation); without one the count does not change.
// The key is read first: its environment (fixed for a key's life) to mint the new key with the
// right prefix, and its status and the tenant's cap, so that a refusal costs no bcrypt hash; the
// rotation itself checks the key's state under a row lock (409, or 404 when the key was deleted in
// between).
import { z } from "zod";
import { mintApiKey } from "../../_shared/api_key.ts";
import { ApiError } from "../../_shared/errors.ts";
import { errorResponse, jsonResponse, okExample, type RouteHandler } from "../../_shared/openapi.ts";
import { respond, successEnvelope } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, bodyReader, keyIdParam } from "../auth.ts";
import { atKeyLimit, sealSigningKey, signingNotEnabled } from "../key_settings.ts";
import {
  type ApiKey,
  apiKeySchema,
  exampleKey,
  isoTime,
  keyLimitExample,
  keyNotActiveExample,
  keysRoute,
  messages,
  parseBody,
  plaintextKey,
  plaintextSecret,
} from "../schemas.ts";

const maxGracePeriodSeconds = 7 * 24 * 60 * 60;

const rotateSchema = z.object({
  grace_period_seconds: z.int().min(0).max(maxGracePeriodSeconds).default(0).meta({
    description: "The old key keeps working this long (never longer than it would have anyway)",
  }),
}).meta({ id: "RotateApiKeyRequest" });
const fieldMessages = {
  grace_period_seconds: `grace_period_seconds must be an integer from 0 to ${maxGracePeriodSeconds}`,
};

const rotatedApiKeyResponse = successEnvelope(
  z.strictObject({
    ...apiKeySchema.shape,
    key: plaintextKey,
    secret: plaintextSecret.optional(),
    rotated_from: z.strictObject({
      id: z.uuid(),
      key_prefix: z.string(),
      expires_at: isoTime.nullable().meta({ description: "When the old key stops working" }),
    }),
  }).meta({ id: "RotatedApiKey" }),
).meta({ id: "RotatedApiKeyResponse" });

export const route = keysRoute({
  method: "post",
  path: "/{id}/rotate",
  operationId: "rotateApiKey",
  summary: "Rotate a key",
  description: `201: a new key with the same name, environment, scopes, limit, allowlist and expiry, its
plaintext \`key\` (this once), and \`rotated_from\`. The new key keeps the scheme: a signed key's successor is
signed, with a new \`secret\` (this once). The old key expires after \`grace_period_seconds\`
(0–${maxGracePeriodSeconds}, default 0; no body = 0). A revoked or expired key is 409. With a grace period the
old key stays active beside the new one, so it needs a free place under the tenant's active key limit (409
otherwise); without one the number of active keys does not change.`,
  tags: ["Keys"],
  request: {
    body: {
      required: false,
      content: {
        "application/json": {
          schema: rotateSchema,
          examples: { grace: { summary: "One hour of overlap", value: { grace_period_seconds: 3600 } } },
        },
      },
    },
  },
  responses: {
    201: jsonResponse(
      "The new key, with its plaintext `key` (this once), and what became of the old one.",
      rotatedApiKeyResponse,
      {
        rotated: okExample("Rotated with one hour of grace", {
          ...exampleKey,
          id: "9d4e1b7a-2c8f-4e3d-b6a1-0f5c8e2d7b94",
          key_prefix: "sk_live_q7r8s9t0",
          key: "sk_live_q7r8s9t0u1v2w3x4y5z6a7b8c9d0e1f2",
          rotated_from: {
            id: exampleKey.id,
            key_prefix: exampleKey.key_prefix,
            expires_at: "2026-03-18T09:00:00.000Z",
          },
        }),
      },
    ),
    409: errorResponse("The key is revoked or expired, or a grace period would exceed the active key limit.", [
      keyNotActiveExample,
      keyLimitExample("Too many active keys for a grace period"),
    ]),
  },
});

export const handler: RouteHandler<RouteDeps> = (deps) => async (c) => {
  const body = bodyReader(c, { optional: true });
  const actor = await authorize(c, deps, body);
  const keyId = keyIdParam(c);
  const { grace_period_seconds } = parseBody(
    rotateSchema,
    (await body()) ?? {},
    messages.invalidRotation,
    fieldMessages,
  );

  const [{ key: current }] = await deps.db.query<{ key: ApiKey | null }>(
    "select salesos.get_api_key($1::uuid, $2::uuid) as key",
    [actor.tenantId, keyId],
  );
  if (!current) throw new ApiError("NOT_FOUND", messages.keyNotFound);
  // Everything that can refuse the rotation is looked at before the bcrypt hash is made; the SQL
  // function checks it all again, under its row lock.
  if (current.status !== "active") throw new ApiError("CONFLICT", messages.keyNotActive);
  if (current.auth_scheme === "signed" && !deps.keyring) throw signingNotEnabled();
  if (grace_period_seconds > 0 && await atKeyLimit(deps.db, actor.tenantId, deps.maxActiveKeysPerTenant)) {
    throw new ApiError("CONFLICT", messages.keyLimit(deps.maxActiveKeysPerTenant));
  }

  const { key, keyPrefix, hash } = await mintApiKey(current.environment, deps.bcryptCost);
  const signing = current.auth_scheme === "signed" ? await sealSigningKey(deps.keyring!, key, keyPrefix) : null;
  const [result] = await deps.db.query<
    { outcome: "rotated" | "not_found" | "conflict" | "limit"; key: ApiKey; previous: ApiKey }
  >(
    `select outcome, key, previous
       from salesos.rotate_api_key($1::uuid, $2::uuid, $3::uuid, $4, $5::inet, $6, $7, $8, $9, $10::bytea, $11, $12::bytea)`,
    [
      actor.tenantId,
      keyId,
      actor.actorId,
      actor.actorType,
      actor.ip,
      keyPrefix,
      hash,
      grace_period_seconds,
      deps.maxActiveKeysPerTenant,
      signing?.sealed ?? null,
      signing?.kekId ?? null,
      signing?.keySha256 ?? null,
    ],
  );
  if (result.outcome === "not_found") throw new ApiError("NOT_FOUND", messages.keyNotFound);
  if (result.outcome === "conflict") throw new ApiError("CONFLICT", messages.keyNotActive);
  if (result.outcome === "limit") throw new ApiError("CONFLICT", messages.keyLimit(deps.maxActiveKeysPerTenant));
  Object.assign(c.get("log"), { new_key_id: result.key.id, key_prefix: keyPrefix });
  const { id, key_prefix, expires_at } = result.previous;
  return respond(
    c,
    rotatedApiKeyResponse,
    {
      ...result.key,
      key,
      ...(signing ? { secret: signing.secret } : {}),
      rotated_from: { id, key_prefix, expires_at },
    },
    201,
  );
};

// POST /api-keys/:id/rotate {grace_period_seconds?}: a new key with the same settings (plaintext
// once, 201); the old one expires after the grace period, never later than it would have anyway.
// A grace period keeps the old key active beside the new one, so it needs a free place under the
// tenant's cap (409 as for a creation); without one the count does not change.
// The key's environment is read first (it is fixed for a key's life) to mint the new key with the
// right prefix; the rotation itself checks the key's state under a row lock (409, or 404 when the
// key was deleted in between).
import type { Context } from "hono";
import { mintApiKey } from "../../_shared/api_key.ts";
import { ApiError } from "../../_shared/errors.ts";
import type { AppEnv } from "../../_shared/http.ts";
import { respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, bodyReader, keyIdParam } from "../auth.ts";
import { type ApiKey, messages, parseBody, rotatedApiKeyResponse, rotateSchema } from "../schemas.ts";

export function rotateKeyHandler(deps: RouteDeps) {
  return async (c: Context<AppEnv>) => {
    const body = bodyReader(c, { optional: true });
    const actor = await authorize(c, deps, body);
    const keyId = keyIdParam(c);
    const { grace_period_seconds } = parseBody(rotateSchema, (await body()) ?? {}, messages.invalidRotation);

    const [{ key: current }] = await deps.db.query<{ key: ApiKey | null }>(
      "select salesos.get_api_key($1::uuid, $2::uuid) as key",
      [actor.tenantId, keyId],
    );
    if (!current) throw new ApiError("NOT_FOUND", messages.keyNotFound);

    const { key, keyPrefix, hash } = await mintApiKey(current.environment, deps.bcryptCost);
    const [result] = await deps.db.query<
      { outcome: "rotated" | "not_found" | "conflict" | "limit"; key: ApiKey; previous: ApiKey }
    >(
      `select outcome, key, previous
         from salesos.rotate_api_key($1::uuid, $2::uuid, $3::uuid, $4, $5::inet, $6, $7, $8, $9)`,
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
      ],
    );
    if (result.outcome === "not_found") throw new ApiError("NOT_FOUND", messages.keyNotFound);
    if (result.outcome === "conflict") throw new ApiError("CONFLICT", messages.keyNotActive);
    if (result.outcome === "limit") throw new ApiError("CONFLICT", messages.keyLimit(deps.maxActiveKeysPerTenant));
    Object.assign(c.get("log"), { new_key_id: result.key.id, key_prefix: keyPrefix });
    const { id, key_prefix, expires_at } = result.previous;
    return respond(c, rotatedApiKeyResponse, { ...result.key, key, rotated_from: { id, key_prefix, expires_at } }, 201);
  };
}

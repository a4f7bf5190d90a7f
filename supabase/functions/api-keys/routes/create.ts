// POST /api-keys: a new key with the given settings; the plaintext `key` appears in this response only.
import type { Context } from "hono";
import { mintApiKey } from "../../_shared/api-key.ts";
import { ApiError } from "../../_shared/errors.ts";
import type { AppEnv } from "../../_shared/http.ts";
import { respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, bodyReader } from "../auth.ts";
import { type ApiKey, createdApiKeyResponse, createKeySchema, messages, parseBody } from "../schemas.ts";

export function createKeyHandler(deps: RouteDeps) {
  return async (c: Context<AppEnv>) => {
    const body = bodyReader(c);
    const actor = await authorize(c, deps, body);
    const settings = parseBody(createKeySchema, await body(), messages.invalidSettings);
    const { key, keyPrefix, hash } = await mintApiKey(settings.environment, deps.bcryptCost);
    const [{ created }] = await deps.db.query<{ created: ApiKey | null }>(
      `select salesos.create_api_key($1::uuid, $2::uuid, $3, $4::inet, $5, $6, $7, $8, $9::text[], $10,
                                     $11::timestamptz, $12::cidr[], $13) as created`,
      [
        actor.tenantId,
        actor.actorId,
        actor.actorType,
        actor.ip,
        settings.name,
        settings.environment,
        keyPrefix,
        hash,
        settings.scopes,
        settings.rate_limit_per_hour,
        settings.expires_at ?? null,
        settings.ip_allowlist ?? null,
        deps.maxActiveKeysPerTenant,
      ],
    );
    if (!created) throw new ApiError("CONFLICT", messages.keyLimit(deps.maxActiveKeysPerTenant));
    Object.assign(c.get("log"), { key_id: created.id, key_prefix: keyPrefix });
    return respond(c, createdApiKeyResponse, { ...created, key }, 201);
  };
}

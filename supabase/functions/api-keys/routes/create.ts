// POST /api-keys: a new key with the given settings; the plaintext `key` appears in this response only.
import type { Context } from "hono";
import { ApiError } from "../../_shared/errors.ts";
import type { AppEnv } from "../../_shared/http.ts";
import { createApiKey } from "../key_settings.ts";
import { respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, bodyReader } from "../auth.ts";
import { type ApiKey, createdApiKeyResponse, createKeySchema, messages, parseBody } from "../schemas.ts";

export function createKeyHandler(deps: RouteDeps) {
  return async (c: Context<AppEnv>) => {
    const body = bodyReader(c);
    const actor = await authorize(c, deps, body);
    const settings = parseBody(createKeySchema, await body(), messages.invalidSettings);
    const created = await createApiKey<ApiKey>(deps.db, actor, settings, {
      bcryptCost: deps.bcryptCost,
      maxActiveKeys: deps.maxActiveKeysPerTenant,
    });
    if (!created) throw new ApiError("CONFLICT", messages.keyLimit(deps.maxActiveKeysPerTenant));
    Object.assign(c.get("log"), { key_id: created.id, key_prefix: created.key_prefix });
    return respond(c, createdApiKeyResponse, created, 201);
  };
}

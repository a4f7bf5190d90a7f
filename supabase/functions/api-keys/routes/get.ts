// GET /api-keys/:id: one key of the tenant (404 for any other).
import type { Context } from "hono";
import { ApiError } from "../../_shared/errors.ts";
import type { AppEnv } from "../../_shared/http.ts";
import { respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, keyIdParam } from "../auth.ts";
import { type ApiKey, apiKeyResponse, messages } from "../schemas.ts";

export function getKeyHandler(deps: RouteDeps) {
  return async (c: Context<AppEnv>) => {
    const actor = await authorize(c, deps);
    const keyId = keyIdParam(c);
    const [{ key }] = await deps.db.query<{ key: ApiKey | null }>(
      "select salesos.get_api_key($1::uuid, $2::uuid) as key",
      [actor.tenantId, keyId],
    );
    if (!key) throw new ApiError("NOT_FOUND", messages.keyNotFound);
    return respond(c, apiKeyResponse, key);
  };
}

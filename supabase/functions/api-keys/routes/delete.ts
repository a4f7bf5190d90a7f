// DELETE /api-keys/:id: the key is gone for good (its audit history and request log stay).
import type { Context } from "hono";
import { ApiError } from "../../_shared/errors.ts";
import type { AppEnv } from "../../_shared/http.ts";
import { respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, bodyReader, keyIdParam } from "../auth.ts";
import { type DeletedApiKey, deletedApiKeyResponse, messages } from "../schemas.ts";

export function deleteKeyHandler(deps: RouteDeps) {
  return async (c: Context<AppEnv>) => {
    const actor = await authorize(c, deps, bodyReader(c, { optional: true }));
    const keyId = keyIdParam(c);
    const [{ deleted }] = await deps.db.query<{ deleted: DeletedApiKey | null }>(
      "select salesos.delete_api_key($1::uuid, $2::uuid, $3::uuid, $4, $5::inet) as deleted",
      [actor.tenantId, keyId, actor.actorId, actor.actorType, actor.ip],
    );
    if (!deleted) throw new ApiError("NOT_FOUND", messages.keyNotFound);
    return respond(c, deletedApiKeyResponse, deleted);
  };
}

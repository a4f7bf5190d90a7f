// PATCH /api-keys/:id: change name, scopes, rate_limit_per_hour, expires_at, ip_allowlist of an
// active key (validated like create; 409 for a revoked or expired key). The key.update audit entry
// records each changed field as {from, to}; a patch that changes nothing records nothing.
import type { Context } from "hono";
import { ApiError } from "../../_shared/errors.ts";
import type { AppEnv } from "../../_shared/http.ts";
import { respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, bodyReader, keyIdParam } from "../auth.ts";
import { type ApiKey, apiKeyResponse, messages, parsePatch } from "../schemas.ts";

export function updateKeyHandler(deps: RouteDeps) {
  return async (c: Context<AppEnv>) => {
    const body = bodyReader(c);
    const actor = await authorize(c, deps, body);
    const keyId = keyIdParam(c);
    const changes = parsePatch(await body());
    const [result] = await deps.db.query<{ outcome: "updated" | "not_found" | "conflict"; key: ApiKey }>(
      "select outcome, key from salesos.update_api_key($1::uuid, $2::uuid, $3::uuid, $4, $5::inet, $6::jsonb)",
      [actor.tenantId, keyId, actor.actorId, actor.actorType, actor.ip, changes],
    );
    if (result.outcome === "not_found") throw new ApiError("NOT_FOUND", messages.keyNotFound);
    if (result.outcome === "conflict") throw new ApiError("CONFLICT", messages.keyNotActive);
    return respond(c, apiKeyResponse, result.key);
  };
}

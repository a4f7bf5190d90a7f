// GET /api-keys/:id/usage?from&to&bucket=hour|day: request counts per UTC bucket by status class,
// plus last_used_at, last_used_ip and the lifetime request_count.
import type { Context } from "hono";
import { ApiError } from "../../_shared/errors.ts";
import type { AppEnv } from "../../_shared/http.ts";
import { respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, keyIdParam } from "../auth.ts";
import { type ApiKeyUsage, messages, parseWith, usageQuerySchema, usageResponse } from "../schemas.ts";

export function usageHandler(deps: RouteDeps) {
  return async (c: Context<AppEnv>) => {
    const actor = await authorize(c, deps);
    const keyId = keyIdParam(c);
    const query = parseWith(usageQuerySchema, c.req.query(), messages.invalidQuery);
    const [{ usage }] = await deps.db.query<{ usage: ApiKeyUsage | null }>(
      "select salesos.api_key_usage($1::uuid, $2::uuid, $3::timestamptz, $4::timestamptz, $5) as usage",
      [actor.tenantId, keyId, query.from, query.to, query.bucket],
    );
    if (!usage) throw new ApiError("NOT_FOUND", messages.keyNotFound);
    return respond(c, usageResponse, usage);
  };
}

// GET /api-keys/:id: one key of the tenant (404 for any other).
import { ApiError } from "../../_shared/errors.ts";
import { jsonResponse, okExample, type RouteHandler } from "../../_shared/openapi.ts";
import { respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, keyIdParam } from "../auth.ts";
import { type ApiKey, apiKeyResponse, exampleKey, keysRoute, messages } from "../schemas.ts";

export const route = keysRoute({
  method: "get",
  path: "/{id}",
  operationId: "getApiKey",
  summary: "Get a key",
  tags: ["Keys"],
  responses: {
    200: jsonResponse("The key object.", apiKeyResponse, { key: okExample("A key", exampleKey) }),
  },
});

export const handler: RouteHandler<RouteDeps> = (deps) => async (c) => {
  const actor = await authorize(c, deps);
  const keyId = keyIdParam(c);
  const [{ key }] = await deps.db.query<{ key: ApiKey | null }>(
    "select salesos.get_api_key($1::uuid, $2::uuid) as key",
    [actor.tenantId, keyId],
  );
  if (!key) throw new ApiError("NOT_FOUND", messages.keyNotFound);
  return respond(c, apiKeyResponse, key);
};

// GET /api-keys/:id: one key of the tenant (404 for any other).
import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../../_shared/errors.ts";
import type { AppEnv } from "../../_shared/http.ts";
import { jsonResponse, okExample } from "../../_shared/openapi.ts";
import { respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, keyIdParam } from "../auth.ts";
import {
  type ApiKey,
  apiKeyResponse,
  authErrors,
  exampleKey,
  keyNotFound,
  keyPathSchema,
  messages,
  tenantParameters,
} from "../schemas.ts";

export const route = createRoute({
  method: "get",
  path: "/{id}",
  operationId: "getApiKey",
  summary: "Get a key",
  tags: ["Keys"],
  parameters: tenantParameters,
  request: { params: keyPathSchema },
  responses: {
    200: jsonResponse("The key object.", apiKeyResponse, { key: okExample("A key", exampleKey) }),
    ...authErrors(),
    ...keyNotFound,
  },
});

export const handler = (deps: RouteDeps) => async (c: Context<AppEnv>) => {
  const actor = await authorize(c, deps);
  const keyId = keyIdParam(c);
  const [{ key }] = await deps.db.query<{ key: ApiKey | null }>(
    "select salesos.get_api_key($1::uuid, $2::uuid) as key",
    [actor.tenantId, keyId],
  );
  if (!key) throw new ApiError("NOT_FOUND", messages.keyNotFound);
  return respond(c, apiKeyResponse, key);
};

// POST /api-keys/:id/revoke: revoked now, for every instance's next request; revoking again
// answers the same revoked key (and adds no audit entry).
import { ApiError } from "../../_shared/errors.ts";
import { jsonResponse, okExample, type RouteHandler } from "../../_shared/openapi.ts";
import { respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, bodyReader, keyIdParam } from "../auth.ts";
import { type ApiKey, apiKeyResponse, exampleKey, keysRoute, messages } from "../schemas.ts";

export const route = keysRoute({
  method: "post",
  path: "/{id}/revoke",
  operationId: "revokeApiKey",
  summary: "Revoke a key",
  description: "Now, for every instance's next request. Again: 200 with the same `revoked_at`.",
  tags: ["Keys"],
  responses: {
    200: jsonResponse("The revoked key.", apiKeyResponse, {
      revoked: okExample("Revoked", { ...exampleKey, status: "revoked", revoked_at: "2026-03-18T08:00:00.000Z" }),
    }),
  },
});

export const handler: RouteHandler<RouteDeps> = (deps) => async (c) => {
  const actor = await authorize(c, deps, bodyReader(c, { optional: true }));
  const keyId = keyIdParam(c);
  const [{ key }] = await deps.db.query<{ key: ApiKey | null }>(
    "select salesos.revoke_api_key($1::uuid, $2::uuid, $3::uuid, $4, $5::inet) as key",
    [actor.tenantId, keyId, actor.actorId, actor.actorType, actor.ip],
  );
  if (!key) throw new ApiError("NOT_FOUND", messages.keyNotFound);
  return respond(c, apiKeyResponse, key);
};

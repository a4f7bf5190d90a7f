// DELETE /api-keys/:id: the key is gone for good (its audit history and request log stay).
import { z } from "zod";
import { ApiError } from "../../_shared/errors.ts";
import { jsonResponse, okExample, type RouteHandler } from "../../_shared/openapi.ts";
import { respond, successEnvelope } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, bodyReader, keyIdParam } from "../auth.ts";
import { exampleKey, keysRoute, messages } from "../schemas.ts";

const deletedApiKeySchema = z.strictObject({
  id: z.uuid(),
  key_prefix: z.string(),
  deleted: z.literal(true),
}).meta({ id: "DeletedApiKey" });
const deletedApiKeyResponse = successEnvelope(deletedApiKeySchema).meta({ id: "DeletedApiKeyResponse" });

export const route = keysRoute({
  method: "delete",
  path: "/{id}",
  operationId: "deleteApiKey",
  summary: "Delete a key",
  description: "Permanently; its audit entries and request log stay.",
  tags: ["Keys"],
  responses: {
    200: jsonResponse("The key is gone.", deletedApiKeyResponse, {
      deleted: okExample("Deleted", { id: exampleKey.id, key_prefix: exampleKey.key_prefix, deleted: true }),
    }),
  },
});

export const handler: RouteHandler<RouteDeps> = (deps) => async (c) => {
  const actor = await authorize(c, deps, bodyReader(c, { optional: true }));
  const keyId = keyIdParam(c);
  const [{ deleted }] = await deps.db.query<{ deleted: z.output<typeof deletedApiKeySchema> | null }>(
    "select salesos.delete_api_key($1::uuid, $2::uuid, $3::uuid, $4, $5::inet) as deleted",
    [actor.tenantId, keyId, actor.actorId, actor.actorType, actor.ip],
  );
  if (!deleted) throw new ApiError("NOT_FOUND", messages.keyNotFound);
  return respond(c, deletedApiKeyResponse, deleted);
};

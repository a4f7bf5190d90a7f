// PATCH /api-keys/:id: change name, scopes, rate_limit_per_hour, expires_at, ip_allowlist of an
// active key (validated like create; 409 for a revoked or expired key). The key.update audit entry
// records each changed field as {from, to}; a patch that changes nothing records nothing.
import type { z } from "zod";
import { ApiError } from "../../_shared/errors.ts";
import { jsonResponse, okExample, responseRef, type RouteHandler } from "../../_shared/openapi.ts";
import { respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, bodyReader, keyIdParam } from "../auth.ts";
import {
  type ApiKey,
  apiKeyResponse,
  exampleKey,
  isObject,
  keySettings,
  keysRoute,
  messages,
  parseWith,
} from "../schemas.ts";

/** Any of the settings but `environment` (400), validated like create; null clears expires_at, ip_allowlist. */
const updateKeySchema = keySettings.omit({ environment: true, auth_scheme: true }).partial().meta({
  id: "UpdateApiKeyRequest",
});
type KeyPatch = z.infer<typeof updateKeySchema>;

export const route = keysRoute({
  method: "patch",
  path: "/{id}",
  operationId: "updateApiKey",
  summary: "Change a key",
  description: "Any of `name`, `scopes`, `rate_limit_per_hour`, `expires_at`, `ip_allowlist`, validated like " +
    "create; `null` clears `expires_at` or `ip_allowlist`; `environment` is 400. Acts on default-integration's " +
    "next request.",
  tags: ["Keys"],
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          schema: updateKeySchema,
          examples: { limit: { summary: "Raise the limit", value: { rate_limit_per_hour: 10000 } } },
        },
      },
    },
  },
  responses: {
    200: jsonResponse("The changed key.", apiKeyResponse, {
      key: okExample("Changed", { ...exampleKey, rate_limit_per_hour: 10000 }),
    }),
    409: responseRef("KeyNotActive"),
  },
});

/** The patch: validated like create, but only the fields sent; `environment` cannot change. */
export function parsePatch(body: unknown): KeyPatch {
  if (!isObject(body)) throw new ApiError("VALIDATION_ERROR", messages.invalidBody);
  if ("environment" in body) {
    throw new ApiError("VALIDATION_ERROR", messages.invalidSettings, {
      details: [{ field: "environment", message: "environment cannot be changed: create a new key instead" }],
    });
  }
  const parsed = parseWith(updateKeySchema, body, messages.invalidSettings);
  // partial() still fills in defaults: keep exactly the fields the client sent.
  return Object.fromEntries(Object.entries(parsed).filter(([field]) => field in body)) as KeyPatch;
}

export const handler: RouteHandler<RouteDeps> = (deps) => async (c) => {
  const body = bodyReader(c);
  const actor = await authorize(c, deps, body);
  const keyId = keyIdParam(c);
  const changes = parsePatch(await body());
  const [result] = await deps.db.query<{ outcome: "updated" | "not_found" | "conflict"; key: ApiKey }>(
    "select outcome, key from salesos.update_api_key($1::uuid, $2::uuid, $3::uuid, $4, $5::inet, $6::text::jsonb)",
    [actor.tenantId, keyId, actor.actorId, actor.actorType, actor.ip, JSON.stringify(changes)],
  );
  if (result.outcome === "not_found") throw new ApiError("NOT_FOUND", messages.keyNotFound);
  if (result.outcome === "conflict") throw new ApiError("CONFLICT", messages.keyNotActive);
  return respond(c, apiKeyResponse, result.key);
};

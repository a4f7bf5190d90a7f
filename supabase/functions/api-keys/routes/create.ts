// POST /api-keys: a new key with the given settings; the plaintext `key` appears in this response only.
import { z } from "zod";
import { ApiError } from "../../_shared/errors.ts";
import { errorResponse, jsonResponse, okExample, type RouteHandler } from "../../_shared/openapi.ts";
import { respond, successEnvelope } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, bodyReader } from "../auth.ts";
import { createApiKey, knownScopes } from "../key_settings.ts";
import {
  type ApiKey,
  apiKeySchema,
  exampleKey,
  keyLimitExample,
  keySettings,
  keysRoute,
  messages,
  parseBody,
  plaintextKey,
  plaintextSecret,
} from "../schemas.ts";

const createKeySchema = keySettings.meta({ id: "CreateApiKeyRequest" });

const createdApiKeyResponse = successEnvelope(
  z.strictObject({ ...apiKeySchema.shape, key: plaintextKey, secret: plaintextSecret.optional() }).meta({
    id: "CreatedApiKey",
  }),
).meta({ id: "CreatedApiKeyResponse" });

export const route = keysRoute({
  method: "post",
  path: "/",
  operationId: "createApiKey",
  summary: "Create a key",
  description: `201: the key object plus \`key\`, the plaintext, shown in this answer only. At most
the configured number of active keys per tenant (100 by default): 409 beyond. Scopes: ${
    knownScopes.map((s) => `\`${s}\``).join(", ")
  }; \`[]\` = unrestricted. \`auth_scheme: "signed"\`: the key signs its requests (P2S-SIGN-V1) and the answer
also holds \`secret\` (64 hex characters, this once); a deployment without \`SIGNING_KEK\` answers 400
\`Signed keys are not enabled on this deployment (SIGNING_KEK is not set)\`.`,
  tags: ["Keys"],
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          schema: createKeySchema,
          examples: {
            crm_sync: {
              summary: "A key for a CRM job",
              value: { name: "CRM sync", scopes: ["default:sync"], rate_limit_per_hour: 5000 },
            },
            signed: {
              summary: "A key that signs its requests (P2S-SIGN-V1)",
              value: { name: "CRM sync (signed)", scopes: ["default:sync"], auth_scheme: "signed" },
            },
            test_key: {
              summary: "A test key that expires, from two addresses",
              value: {
                name: "Staging",
                environment: "test",
                scopes: ["default:sync"],
                expires_at: "2027-01-01T00:00:00Z",
                ip_allowlist: ["203.0.113.7", "198.51.100.0/24"],
              },
            },
          },
        },
      },
    },
  },
  responses: {
    201: jsonResponse("The new key, with its plaintext `key` (this once).", createdApiKeyResponse, {
      created: okExample("Created", { ...exampleKey, key: "sk_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6" }),
      signed: okExample("Created, signed", {
        ...exampleKey,
        auth_scheme: "signed",
        key: "sk_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6",
        secret: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
      }),
    }),
    409: errorResponse("The tenant's active key limit is reached.", [keyLimitExample("Too many active keys")]),
  },
});

export const handler: RouteHandler<RouteDeps> = (deps) => async (c) => {
  const body = bodyReader(c);
  const actor = await authorize(c, deps, body);
  const settings = parseBody(createKeySchema, await body(), messages.invalidSettings);
  const created = await createApiKey<ApiKey>(deps.db, actor, settings, {
    bcryptCost: deps.bcryptCost,
    maxActiveKeys: deps.maxActiveKeysPerTenant,
    keyring: deps.keyring,
  });
  if (!created) throw new ApiError("CONFLICT", messages.keyLimit(deps.maxActiveKeysPerTenant));
  Object.assign(c.get("log"), { key_id: created.id, key_prefix: created.key_prefix });
  return respond(c, createdApiKeyResponse, created, 201);
};

// The client's hand-written wire types (it ships without zod) against the zod schemas the service
// validates with (this file does not compile when they drift apart), and against the types that
// openapi-typescript generates from the OpenAPI documents the functions serve (checked by a
// generated module). Mutual assignability catches a changed field type or a field that became
// required; equal key sets catch an added or removed optional field.
import assert from "node:assert/strict";
import openapiTS, { astToString } from "openapi-typescript";
import { functionDocuments } from "../../tools/docs.ts";
import type { z } from "zod";
import type * as client from "../../clients/typescript/src/index.ts";
import type { ErrorCode, ErrorDetail } from "../../supabase/functions/_shared/errors.ts";
import type { keySettingsSchema, knownScopes } from "../../supabase/functions/api-keys/key_settings.ts";
import type { parsePatch } from "../../supabase/functions/api-keys/routes/update.ts";
import type {
  activitySchema,
  collaboratorSchema,
  syncActivitiesResult,
  syncCollaboratorsResult,
} from "../../supabase/functions/default-integration/schemas.ts";

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type SameShape<A, B> = Same<A, B> extends true ? Same<keyof A, keyof B> : false;

// What a caller sends is the schema's input; what a handler works with, its output.
const checks = {
  collaboratorInput: true as SameShape<client.Collaborator, z.input<typeof collaboratorSchema>>,
  collaboratorOutput: true as SameShape<client.Collaborator, z.output<typeof collaboratorSchema>>,
  activityInput: true as SameShape<client.Activity, z.input<typeof activitySchema>>,
  activityOutput: true as SameShape<client.Activity, z.output<typeof activitySchema>>,
  collaboratorsResult: true as SameShape<client.SyncCollaboratorsResult, z.output<typeof syncCollaboratorsResult>>,
  activitiesResult: true as SameShape<client.SyncActivitiesResult, z.output<typeof syncActivitiesResult>>,
  errorCode: true as Same<client.ErrorCode, ErrorCode>,
  errorDetail: true as SameShape<client.ErrorDetail, ErrorDetail>,
  scope: true as Same<client.Scope, (typeof knownScopes)[number]>,
  createKey: true as SameShape<client.CreateApiKeyInput, z.input<typeof keySettingsSchema>>,
  updateKey: true as SameShape<client.UpdateApiKeyInput, ReturnType<typeof parsePatch>>,
} satisfies Record<string, true>;

Deno.test("the client's wire types match the service's zod schemas", () => {
  // The proof is the type check of this file; at run time there is nothing left to compare.
  assert.ok(Object.values(checks).every(Boolean));
});

/**
 * The documents show request bodies in their parsed form: a field with a default is listed as
 * required. A client may leave it out, so it is made optional here (in *Request schemas only).
 */
function defaultsOptional(document: unknown): unknown {
  const copy = structuredClone(document) as { components: { schemas: Record<string, Record<string, any>> } };
  for (const [name, schema] of Object.entries(copy.components.schemas)) {
    if (!name.endsWith("Request") || !Array.isArray(schema.required)) continue;
    schema.required = schema.required.filter((field: string) => schema.properties?.[field]?.default === undefined);
  }
  return copy;
}

const openApiChecks = `
import type * as client from "${new URL("../../clients/typescript/src/index.ts", import.meta.url).href}";
import type { components as integration } from "./default_integration.ts";
import type { components as keys } from "./api_keys.ts";
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type SameShape<A, B> = Same<A, B> extends true ? Same<keyof A, keyof B> : false;
type I = integration["schemas"];
type K = keys["schemas"];
export const checks = {
  collaborator: true as SameShape<client.Collaborator, I["Collaborator"]>,
  activity: true as SameShape<client.Activity, I["Activity"]>,
  collaboratorsResult: true as SameShape<client.SyncCollaboratorsResult, I["SyncCollaboratorsResult"]>,
  activitiesResult: true as SameShape<client.SyncActivitiesResult, I["SyncActivitiesResult"]>,
  errorDetail: true as SameShape<client.ErrorDetail, I["ErrorDetail"]>,
  // The documents type the code as any string: the client's list of codes must at least be strings.
  errorCode: true as (client.ErrorCode extends I["ErrorCode"] & K["ErrorCode"] ? true : false),
  // One type for both: a page's meta has next_cursor, other answers' do not.
  meta: true as SameShape<client.ResponseMeta, I["Meta"] & Partial<Pick<K["PageMeta"], "next_cursor">>>,
  apiKey: true as SameShape<client.ApiKey, K["ApiKey"]>,
  createdKey: true as SameShape<client.ApiKeyWithSecret, K["CreatedApiKey"]>,
  rotatedKey: true as SameShape<client.RotatedApiKey, K["RotatedApiKey"]>,
  deletedKey: true as SameShape<client.DeletedApiKey, K["DeletedApiKey"]>,
  createKey: true as SameShape<client.CreateApiKeyInput, K["CreateApiKeyRequest"]>,
  updateKey: true as SameShape<client.UpdateApiKeyInput, K["UpdateApiKeyRequest"]>,
  usage: true as SameShape<client.ApiKeyUsage, K["ApiKeyUsage"]>,
  requestLogEntry: true as SameShape<client.RequestLogEntry, K["RequestLogEntry"]>,
  auditEntry: true as SameShape<client.AuditEntry, K["AuditEntry"]>,
} satisfies Record<string, true>;
`;

Deno.test("the client's wire types match the types generated from the OpenAPI documents", async () => {
  const dir = await Deno.makeTempDir({ prefix: "salesos-client-openapi-types-" });
  try {
    const documents = await functionDocuments();
    for (const [name, document] of Object.entries(documents)) {
      const ast = await openapiTS(defaultsOptional(document) as any, {
        emptyObjectsUnknown: true,
        defaultNonNullable: false,
      });
      await Deno.writeTextFile(`${dir}/${name.replace("-", "_")}.ts`, astToString(ast));
    }
    await Deno.writeTextFile(`${dir}/checks.ts`, openApiChecks);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--no-config", "--no-lock", "checks.ts"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, `a client type differs from the OpenAPI documents':\n${text}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// The client's hand-written wire types (it ships without zod) against the zod schemas the service
// validates with: this file does not compile when they drift apart. Mutual assignability catches
// a changed field type or a field that became required; equal key sets catch an added or removed
// optional field.
import assert from "node:assert/strict";
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

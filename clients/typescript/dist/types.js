// The API's wire shapes. The service defines them with zod (supabase/functions/default-integration/
// schemas.ts and api-keys/key_settings.ts); this package has no runtime dependencies, so they are
// written out here, and tests/client/types_test.ts fails when they drift from the zod schemas or
// from the types openapi-typescript generates from the served OpenAPI documents.
export const scopes = ["default:sync", "leads:read", "leads:write"];

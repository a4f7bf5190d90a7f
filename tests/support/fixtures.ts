// Test data made through the same SQL the product uses: tenants and API keys with real bcrypt hashes.
import type { Database } from "../../supabase/functions/_shared/database.ts";
import { checksum } from "../../supabase/functions/_shared/api_key.ts";
import { createApiKey, type KeySettings } from "../../supabase/functions/api-keys/key_settings.ts";
import { createKeyring } from "../../supabase/functions/_shared/signing.ts";
import { testConfig } from "./database.ts";

/** The key-encryption key of signed keys in tests (32 bytes, base64). */
export const testSigningKek = "dGVzdC1vbmx5LXNpZ25pbmcta2V5LWVuY3J5cHRpb24=";
/** The tests' key-encryption key and its id in the functions' config ... */
export const testSigningSettings = { signingKek: testSigningKek, signingKekId: "test" };
/** ... and in the environment of `deno task start`. */
export const testSigningEnv = { SIGNING_KEK: testSigningKek, SIGNING_KEK_ID: "test" };
export const testKeyring = createKeyring(testSigningSettings)!;

export interface TestKey {
  id: string;
  key: string;
  keyPrefix: string;
  tenantId: string;
  /** Signed keys only: the secret (P2S-SIGN-V1). */
  secret?: string;
}

export async function createTenant(db: Database, slug = `t-${crypto.randomUUID().slice(0, 8)}`): Promise<string> {
  const [{ id }] = await db.query<{ id: string }>("select salesos.ensure_tenant($1) as id", [slug]);
  return id;
}

export async function createKey(
  db: Database,
  tenantId: string,
  settings: Partial<KeySettings> = {},
): Promise<TestKey> {
  const created = await createApiKey(
    db,
    { tenantId, actorId: null, actorType: "cli", ip: null },
    {
      name: settings.name ?? "test key",
      environment: settings.environment ?? "live",
      scopes: settings.scopes ?? ["default:sync"],
      rate_limit_per_hour: settings.rate_limit_per_hour ?? 1000,
      expires_at: settings.expires_at,
      ip_allowlist: settings.ip_allowlist,
      auth_scheme: settings.auth_scheme ?? "bearer",
    },
    { bcryptCost: testConfig.bcryptCost, maxActiveKeys: 1000, keyring: testKeyring },
  );
  if (!created) throw new Error("the tenant is at its cap of active keys");
  return {
    id: created.id,
    key: created.key,
    keyPrefix: created.key_prefix,
    tenantId,
    ...(created.secret ? { secret: created.secret } : {}),
  };
}

/**
 * `key`'s id with another secret and a valid checksum: a well-formed key that reaches the verifier
 * (a changed character alone breaks the checksum, which is refused before any lookup).
 */
export function withWrongSecret(key: string, secret = "b".repeat(18)): string {
  const body = key.slice(0, 16) + secret;
  return body + checksum(body);
}

/** A well-formed key (valid checksum) whose id no tenant has. */
export function unknownKey(environment: "live" | "test" = "live"): string {
  const body = `sk_${environment}_zzzzzzzz${"a".repeat(18)}`;
  return body + checksum(body);
}

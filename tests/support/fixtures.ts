// Test data made through the same SQL the product uses: tenants and API keys with real bcrypt hashes.
import type { Database } from "../../supabase/functions/_shared/database.ts";
import { checksum } from "../../supabase/functions/_shared/api_key.ts";
import { createApiKey, type KeySettings } from "../../supabase/functions/api-keys/key_settings.ts";
import { testConfig } from "./database.ts";

export interface TestKey {
  id: string;
  key: string;
  keyPrefix: string;
  tenantId: string;
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
    },
    { bcryptCost: testConfig.bcryptCost, maxActiveKeys: 1000 },
  );
  if (!created) throw new Error("the tenant is at its cap of active keys");
  return { id: created.id, key: created.key, keyPrefix: created.key_prefix, tenantId };
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

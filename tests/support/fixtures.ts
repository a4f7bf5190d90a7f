// Test data made through the same SQL the product uses: tenants and API keys with real bcrypt hashes.
import { mintApiKey } from "../../supabase/functions/_shared/api-key.ts";
import type { Database } from "../../supabase/functions/_shared/database.ts";
import type { KeySettings } from "../../supabase/functions/_shared/key-settings.ts";
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
  const environment = settings.environment ?? "live";
  const { key, keyPrefix, hash } = await mintApiKey(environment, testConfig.bcryptCost);
  const [{ created }] = await db.query<{ created: { id: string } }>(
    `select salesos.create_api_key($1::uuid, null, 'cli', null, $2, $3, $4, $5, $6::text[], $7, $8::timestamptz,
                                   $9::cidr[], 1000) as created`,
    [
      tenantId,
      settings.name ?? "test key",
      environment,
      keyPrefix,
      hash,
      settings.scopes ?? ["default:sync"],
      settings.rate_limit_per_hour ?? 1000,
      settings.expires_at ?? null,
      settings.ip_allowlist ?? null,
    ],
  );
  return { id: created.id, key, keyPrefix, tenantId };
}

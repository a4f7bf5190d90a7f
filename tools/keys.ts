// `deno task keys`: bootstrap API keys without the Dashboard, on the same database as `start`.
//   keys create --tenant <slug> --name <name> [--env live|test] [--scopes a,b] [--rate-limit N] [--ip a,b] [--expires ISO]
//   keys revoke <id>
//   keys list --tenant <slug>
// Prints one JSON object; the plaintext key appears only in the output of `create`.
import { parseArgs } from "node:util";
import { z } from "zod";
import { readConfig } from "../supabase/functions/_shared/config.ts";
import { createApiKey, keySettingsSchema } from "../supabase/functions/api-keys/key_settings.ts";
import { applyMigrations, openDatabase, tenantSlug } from "./database.ts";

const usage = `usage:
  deno task keys create --tenant <slug> --name <name> [--env live|test] [--scopes a,b] [--rate-limit N] [--ip a,b] [--expires ISO]
  deno task keys revoke <id>
  deno task keys list --tenant <slug>`;

function fail(message: string): never {
  console.error(message);
  Deno.exit(2);
}

const { values, positionals } = (() => {
  try {
    return parseArgs({
      args: Deno.args,
      allowPositionals: true,
      options: {
        tenant: { type: "string" },
        name: { type: "string" },
        env: { type: "string", default: "live" },
        scopes: { type: "string" },
        "rate-limit": { type: "string" },
        ip: { type: "string" },
        expires: { type: "string" },
      },
    });
  } catch (error) {
    fail(`${(error as Error).message}\n${usage}`);
  }
})();
if (values.tenant !== undefined && !tenantSlug.test(values.tenant)) {
  fail(`--tenant must be a slug of [a-z0-9-]\n${usage}`);
}

const list = (value: string | undefined) => value?.split(",").map((s) => s.trim()).filter(Boolean);

const config = readConfig();
const db = await openDatabase(config).catch((error) => {
  console.error(error.message);
  Deno.exit(1);
});
await applyMigrations(db);

try {
  const [command, id] = positionals;
  if (command === "create") {
    if (!values.tenant) fail(usage);
    const settings = keySettingsSchema.safeParse({
      name: values.name,
      environment: values.env,
      scopes: list(values.scopes),
      rate_limit_per_hour: values["rate-limit"] === undefined ? undefined : Number(values["rate-limit"]),
      ip_allowlist: list(values.ip),
      expires_at: values.expires,
    });
    if (!settings.success) fail(z.prettifyError(settings.error));
    const [{ tenantId }] = await db.query<{ tenantId: string }>(
      `select salesos.ensure_tenant($1) as "tenantId"`,
      [values.tenant],
    );
    const created = await createApiKey(db, { tenantId, actorId: null, actorType: "cli", ip: null }, settings.data, {
      bcryptCost: config.bcryptCost,
      maxActiveKeys: config.maxActiveKeysPerTenant,
    });
    if (!created) fail(`Tenant ${values.tenant} already has ${config.maxActiveKeysPerTenant} active keys`);
    console.log(JSON.stringify(created));
  } else if (command === "revoke" && id && z.uuid().safeParse(id).success) {
    const [{ key }] = await db.query<{ key: unknown }>(
      `select salesos.revoke_api_key((select tenant_id from salesos.api_keys where id = $1::uuid), $1::uuid,
                                     null, 'cli', null) as key`,
      [id],
    );
    if (!key) fail(`No API key ${id}`);
    console.log(JSON.stringify(key));
  } else if (command === "list" && values.tenant) {
    const rows = await db.query<{ key: unknown }>(
      `select salesos.list_api_keys(t.id, null, null, 1000, null, null) as key
         from salesos.tenants t where t.slug = $1`,
      [values.tenant],
    );
    console.log(JSON.stringify({ tenant: values.tenant, keys: rows.map((r) => r.key) }));
  } else {
    fail(usage);
  }
} finally {
  await db.close();
}

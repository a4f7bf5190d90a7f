// `deno task keys`: bootstrap API keys without the Dashboard, on the same database as `start`.
//   keys create --tenant <slug> --name <name> [--env live|test] [--scopes a,b] [--rate-limit N] [--ip a,b] [--expires ISO] [--auth bearer|signed] [--output json|key]
//   keys revoke <id>
//   keys list --tenant <slug>
// Prints one JSON object (`create --output key`: the plaintext key alone, for a shell variable); the
// plaintext key (and a signed key's "secret") appears only in the output of `create`. Any failure exits
// non-zero with nothing on stdout; notes (the migrations applied) go to stderr.
import { z } from "zod";
import { createApiKey, keySettingsSchema } from "../supabase/functions/api-keys/key_settings.ts";
import { createKeyring } from "../supabase/functions/_shared/signing.ts";
import { fail, parseCommandLine } from "./command_line.ts";
import { readLocalConfig } from "./config.ts";
import { applyMigrations, openDatabase, tenantSlug } from "./database.ts";

const usage = `usage:
  deno task keys create --tenant <slug> --name <name> [--env live|test] [--scopes a,b] [--rate-limit N] [--ip a,b] [--expires ISO] [--auth bearer|signed] [--output json|key]
  deno task keys revoke <id>
  deno task keys list --tenant <slug>
  --output key   print only the plaintext key (e.g. export SALESOS_API_KEY=$(deno task --quiet keys create ... --output key))
Exit codes: 0 done, 1 the database could not be used, 2 a usage error or a refusal.`;

const { values, positionals } = parseCommandLine(usage, {
  tenant: { type: "string" },
  name: { type: "string" },
  env: { type: "string", default: "live" },
  scopes: { type: "string" },
  "rate-limit": { type: "string" },
  ip: { type: "string" },
  expires: { type: "string" },
  output: { type: "string", default: "json" },
  auth: { type: "string" },
}, true);
if (values.tenant !== undefined && !tenantSlug.test(values.tenant)) {
  fail(`--tenant must be a slug of [a-z0-9-]\n${usage}`);
}

const list = (value: string | undefined) => value?.split(",").map((s) => s.trim()).filter(Boolean);

// The command line is checked in full before the database is opened (which may start the embedded one).
const [command, id] = positionals;
const settings = command === "create" && values.tenant
  ? keySettingsSchema.safeParse({
    name: values.name,
    environment: values.env,
    scopes: list(values.scopes),
    rate_limit_per_hour: values["rate-limit"] === undefined ? undefined : Number(values["rate-limit"]),
    ip_allowlist: list(values.ip),
    expires_at: values.expires,
    auth_scheme: values.auth,
  })
  : undefined;
if (settings && !settings.success) fail(z.prettifyError(settings.error));
const revoking = command === "revoke" && id !== undefined && z.uuid().safeParse(id).success;
const listing = command === "list" && values.tenant !== undefined;
if (!settings && !revoking && !listing) fail(usage);
if (values.output !== "json" && (values.output !== "key" || !settings)) {
  fail(`--output must be json, or key (with create)\n${usage}`);
}
// A signed key's secret is shown once, beside the key: printing the key alone would lose it.
if (values.output === "key" && values.auth === "signed") {
  fail(`--output key cannot show a signed key's secret: use --output json\n${usage}`);
}

const config = readLocalConfig();
const { db } = await openDatabase(config).catch((error) => {
  console.error(error.message);
  Deno.exit(1);
});

/** What the command answers, or the message of a failure that is the caller's (exit code 2). */
async function answer(): Promise<{ output: unknown } | { refusal: string }> {
  await applyMigrations(db, (message) => console.error(message));
  if (settings?.success) {
    const [{ tenantId }] = await db.query<{ tenantId: string }>(
      `select salesos.ensure_tenant($1) as "tenantId"`,
      [values.tenant],
    );
    const created = await createApiKey(db, { tenantId, actorId: null, actorType: "cli", ip: null }, settings.data, {
      bcryptCost: config.bcryptCost,
      maxActiveKeys: config.maxActiveKeysPerTenant,
      keyring: createKeyring(config),
    });
    if (!created) {
      return { refusal: `Tenant ${values.tenant} already has ${config.maxActiveKeysPerTenant} active keys` };
    }
    return { output: values.output === "key" ? created.key : created };
  }
  if (revoking) {
    const [{ key }] = await db.query<{ key: unknown }>(
      `select salesos.revoke_api_key((select tenant_id from salesos.api_keys where id = $1::uuid), $1::uuid,
                                     null, 'cli', null) as key`,
      [id],
    );
    return key ? { output: key } : { refusal: `No API key ${id}` };
  }
  const rows = await db.query<{ key: unknown }>(
    `select salesos.list_api_keys(t.id, null, null, 1000, null, null) as key
       from salesos.tenants t where t.slug = $1`,
    [values.tenant],
  );
  return { output: { tenant: values.tenant, keys: rows.map((r) => r.key) } };
}

// The database is closed (and an embedded one this command started is stopped) before exiting.
let result: Awaited<ReturnType<typeof answer>>;
try {
  result = await answer();
} finally {
  await db.close();
}
if ("refusal" in result) fail(result.refusal);
console.log(typeof result.output === "string" ? result.output : JSON.stringify(result.output));

// `deno task token --tenant <slug> [--role owner|admin|member] [--email e] [--output json|token]`: a Dashboard access
// token for local use of the api-keys function, without Supabase Auth. It creates the tenant, the
// user (one per email) and the membership when missing (an existing membership gets the role),
// and prints one JSON line {token, user_id, tenant_id} (`--output token`: the token alone). The token is an HS256 Supabase Auth-style
// JWT (aud "authenticated", role "authenticated", sub = user id, valid 1 hour) signed with
// SUPABASE_JWT_SECRET, or the development default of tools/config.ts when it is unset (the same default
// `deno task start` verifies with). Same database selection as `deno task start` and `keys`.
import { SignJWT } from "jose";
import { fail, parseCommandLine } from "./command_line.ts";
import { localJwtSecret, readLocalConfig } from "./config.ts";
import { applyMigrations, openDatabase, tenantSlug } from "./database.ts";

const usage = `usage: deno task token --tenant <slug> [--role owner|admin|member] [--email e] [--output json|token]
  --output token   print only the token (e.g. export TOKEN=$(deno task --quiet token --tenant acme --output token))
Exit codes: 0 done, 1 the database could not be used, 2 a usage error.`;
const roles = ["owner", "admin", "member"];
const tokenLifetimeSeconds = 3600;

const { values } = parseCommandLine(usage, {
  tenant: { type: "string" },
  role: { type: "string", default: "owner" },
  email: { type: "string" },
  output: { type: "string", default: "json" },
}, false);
const { tenant, role, output } = values;
if (output !== "json" && output !== "token") fail(`--output must be json or token\n${usage}`);
if (!tenant || !tenantSlug.test(tenant)) fail(`--tenant must be a slug of [a-z0-9-]\n${usage}`);
if (!roles.includes(role)) fail(`--role must be one of ${roles.join(", ")}\n${usage}`);
const email = (values.email ?? `${role}@${tenant}.local`).trim();
if (!/^[^\s@]+@[^\s@]+$/.test(email)) fail(`--email must be an email address\n${usage}`);

const config = readLocalConfig();
const { db } = await openDatabase(config).catch((error) => {
  console.error(error.message);
  Deno.exit(1);
});
try {
  await applyMigrations(db, (message) => console.error(message));
  const [{ tenant_id }] = await db.query<{ tenant_id: string }>("select salesos.ensure_tenant($1) as tenant_id", [
    tenant,
  ]);
  const [{ user_id }] = await db.query<{ user_id: string }>(
    "select salesos.ensure_dashboard_member($1::uuid, $2, $3) as user_id",
    [tenant_id, email, role],
  );
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ email, role: "authenticated", aal: "aal1", is_anonymous: false })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(user_id)
    .setAudience("authenticated")
    .setIssuer("salesos-token-cli")
    .setIssuedAt(now)
    .setExpirationTime(now + tokenLifetimeSeconds)
    .sign(new TextEncoder().encode(localJwtSecret(config)));
  console.log(output === "token" ? token : JSON.stringify({ token, user_id, tenant_id }));
} finally {
  await db.close();
}

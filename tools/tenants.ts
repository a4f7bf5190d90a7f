// `deno task tenants`: an operator's tenants and their Dashboard members, on the database of
// `start` or, with DATABASE_URL, a hosted Supabase project's (docs/deploying.md).
//   tenants create <slug> [--name <display name>]
//   tenants list
//   tenants add-member <slug> (--user-id <uuid> | --email <email>) --role owner|admin|member
//   tenants remove-member <slug> (--user-id <uuid> | --email <email>)
//   tenants members <slug>
// Prints one JSON object. Any failure exits non-zero with nothing on stdout; notes go to stderr.
import { z } from "zod";
import { fail, parseCommandLine } from "./command_line.ts";
import { readLocalConfig } from "./config.ts";
import { applyMigrations, openDatabase, tenantSlug } from "./database.ts";

const usage = `usage:
  deno task tenants create <slug> [--name <display name>]
  deno task tenants list
  deno task tenants add-member <slug> (--user-id <uuid> | --email <email>) --role owner|admin|member
  deno task tenants remove-member <slug> (--user-id <uuid> | --email <email>)
  deno task tenants members <slug>
A member is a Supabase Auth user: --email finds its id in auth.users (hosted Supabase, or a local
Supabase stack); on a database without Supabase Auth (the embedded one), --email gives the user
\`deno task token --email\` signs for. Roles owner and admin manage the tenant's API keys.
The database: DATABASE_URL (a hosted project's: Project Settings > Database > Connection string),
else the embedded one of \`deno task start\`.
Exit codes: 0 done, 1 the database could not be used, 2 a usage error or a refusal.`;

const { values, positionals } = parseCommandLine(usage, {
  name: { type: "string" },
  "user-id": { type: "string" },
  email: { type: "string" },
  role: { type: "string" },
}, true);

const roles = ["owner", "admin", "member"] as const;

/** The member an option names: exactly one of --user-id (a UUID) and --email; else a usage error. */
function memberOption(userId: string | undefined, email: string | undefined) {
  if ((userId === undefined) === (email === undefined)) {
    fail(`give one of --user-id <uuid> or --email <email>\n${usage}`);
  }
  if (userId !== undefined && !z.uuid().safeParse(userId).success) {
    fail(`--user-id must be a UUID (the user's id in Supabase Auth)\n${usage}`);
  }
  if (email !== undefined && !z.email().safeParse(email.trim()).success) {
    fail(`--email must be an email address\n${usage}`);
  }
  return { userId, email: email?.trim() };
}

// The command line is checked in full before the database is opened (which may start the embedded one).
const [command, slug, ...extra] = positionals;
if (!command || extra.length > 0) fail(usage);
if (command !== "list" && (slug === undefined || !tenantSlug.test(slug))) {
  fail(`a tenant slug of [a-z0-9-] (at most 63 characters, starting with a letter or digit) is required\n${usage}`);
}
const who = ["add-member", "remove-member"].includes(command)
  ? memberOption(values["user-id"], values.email)
  : undefined;
if (command === "add-member" && !roles.includes(values.role as typeof roles[number])) {
  fail(`--role must be one of ${roles.join(", ")}\n${usage}`);
}
const displayName = values.name ?? slug;
if (command === "create" && (displayName.length < 1 || displayName.length > 200)) fail("--name: 1 to 200 characters");
if (!["create", "list", "add-member", "remove-member", "members"].includes(command)) fail(usage);

const config = readLocalConfig();
const { db } = await openDatabase(config).catch((error) => {
  console.error(error.message);
  Deno.exit(1);
});

type Result = { output: unknown } | { refusal: string };

/** The id of this tenant's member with this email (any case), if it has one. */
async function memberIdOf(tenant: string, email: string | undefined) {
  const [found] = await db.query<{ user_id: string }>(
    "select user_id from salesos.list_tenant_members($1) where lower(email) = lower(btrim($2))",
    [tenant, email],
  );
  return found?.user_id;
}

/** The user id a member option names: given, found in auth.users, or (no Supabase Auth) the local one. */
async function userIdOf(email: string | undefined, userId: string | undefined, tenant: string, role: string) {
  if (userId) return { userId, email: email ?? null };
  // find_auth_user is null both for an unknown email and for a database without auth.users.
  const [{ id, hasAuth }] = await db.query<{ id: string | null; hasAuth: boolean }>(
    `select salesos.find_auth_user($1) as id, pg_catalog.to_regclass('auth.users') is not null as "hasAuth"`,
    [email],
  );
  if (id) return { userId: id, email: email! };
  if (hasAuth) return null;
  // No Supabase Auth here. A member keeps its id, so that set_tenant_member changes its role (keeping the
  // only owner): ensure_dashboard_member would change it unchecked.
  const memberId = await memberIdOf(tenant, email);
  if (memberId) return { userId: memberId, email: email! };
  // Else the user `deno task token --email` signs for (created with its role).
  const [{ local }] = await db.query<{ local: string }>(
    "select salesos.ensure_dashboard_member($1::uuid, $2, $3) as local",
    [tenant, email, role],
  );
  return { userId: local, email: email! };
}

async function answer(): Promise<Result> {
  await applyMigrations(db, (message) => console.error(message));
  if (command === "create") {
    const [tenant] = await db.query("select * from salesos.create_tenant($1, $2)", [slug, displayName]);
    return { output: tenant };
  }
  if (command === "list") {
    const rows = await db.query(
      `select t.id, t.slug, t.name, t.created_at,
              (select count(*)::int from salesos.list_tenant_members(t.id)) as members
         from salesos.tenants t order by t.slug`,
    );
    return { output: { tenants: rows } };
  }
  const [tenant] = await db.query<{ id: string }>("select id from salesos.tenants where slug = $1", [slug]);
  if (!tenant) return { refusal: `No tenant ${slug}: create it first (deno task tenants create ${slug})` };
  if (command === "members") {
    const members = await db.query("select * from salesos.list_tenant_members($1)", [tenant.id]);
    return { output: { tenant: slug, members } };
  }
  const { userId, email } = who!;
  if (command === "add-member") {
    const user = await userIdOf(email, userId, tenant.id, values.role!);
    if (!user) {
      return {
        refusal: `No Supabase Auth user with email ${email}: invite them (Authentication > Users) or have them ` +
          "sign up, then run this again (or pass --user-id)",
      };
    }
    const [saved] = await db.query<{ outcome: string }>(
      "select * from salesos.set_tenant_member($1, $2, $3, $4)",
      [tenant.id, user.userId, user.email, values.role],
    );
    if (saved.outcome === "last_owner") return { refusal: `${user.email ?? user.userId} is ${slug}'s only owner` };
    const { outcome: _, ...row } = saved;
    return { output: row };
  }
  const memberId = userId ?? await memberIdOf(tenant.id, email);
  if (!memberId) return { refusal: `${email} is not a member of ${slug}` };
  const [{ outcome }] = await db.query<{ outcome: string }>(
    "select salesos.remove_tenant_member($1, $2) as outcome",
    [tenant.id, memberId],
  );
  if (outcome === "not_member") return { refusal: `${userId ?? email} is not a member of ${slug}` };
  if (outcome === "last_owner") return { refusal: `${userId ?? email} is ${slug}'s only owner: add another first` };
  return { output: { tenant: slug, removed: memberId } };
}

// The database is closed (and an embedded one this command started is stopped) before exiting.
let result: Result;
try {
  result = await answer();
} finally {
  await db.close();
}
if ("refusal" in result) fail(result.refusal);
console.log(JSON.stringify(result.output));

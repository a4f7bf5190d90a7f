// `deno task db:diff`: the SQL of a new migration that takes the database the migrations build to
// the one the schema files (supabase/schemas) define. Edit a schema file, run this, review the
// output and save it as supabase/migrations/<yyyymmddhhmmss>_<name>.sql; until then
// tests/database/schema_files_test.ts fails with the difference.
//
// Two scratch databases on the Postgres server at DATABASE_URL (else TEST_DATABASE_URL, else the
// local 127.0.0.1:5432; only the server is used, its database is not touched): one migrated, one
// from the schema files in file-name order. The diff is @pgkit/migra's (a port of migra, on which
// `supabase db diff` was built), with privileges, fetched by Deno on first use and kept out of the
// project's import map and lock file. migra ignores comments and leaves out the revokes a new
// object needs (EXECUTE from PUBLIC on a new function): both are added here from the catalogs. The
// SQL is then applied to the migrated database and compared with the schema files' one, as the
// test compares them; anything still different is reported. Drops are printed too (migra's
// --unsafe): review them before saving. The SQL goes to stdout, notes to stderr; nothing on stdout
// means no difference.
import assert from "node:assert/strict";
import postgres from "postgres";
import { connectPostgres } from "../supabase/functions/_shared/postgres.ts";
import { readDeveloperToolsConfig } from "./config.ts";
import { applyMigrations, createEmptyDatabase } from "./database.ts";

const migra = "npm:@pgkit/migra@0.6.1";
const schemasDir = new URL("../supabase/schemas/", import.meta.url);

/** The schema files, in the order the Supabase CLI applies them (file-name order). */
export async function schemaFiles(): Promise<URL[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(schemasDir)) {
    if (entry.isFile && entry.name.endsWith(".sql")) names.push(entry.name);
  }
  return names.sort().map((name) => new URL(name, schemasDir));
}

/** Applies the schema files to the (empty) database at `url`, each as one script (one transaction). */
export async function applySchemaFiles(url: string): Promise<string[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const applied: string[] = [];
  try {
    for (const file of await schemaFiles()) {
      const name = file.pathname.split("/").at(-1)!;
      try {
        await sql.unsafe(await Deno.readTextFile(file));
      } catch (error) {
        throw new Error(`supabase/schemas/${name}: ${(error as Error).message}`);
      }
      applied.push(name);
    }
  } finally {
    await sql.end();
  }
  return applied;
}

// Every fact the comparison covers, as (kind, name, facts) rows; facts are "label: value" lines.
// Schemas in scope: all but the system ones and the migrations' bookkeeping (supabase_migrations).
// An ACL left at its default (null) is shown as that default, so "never granted" and "revoked down
// to the owner's privileges" compare equal, as they behave; items are sorted. The request log's day
// partitions (request_log_pYYYYMMDD, with their indexes and comments) are left out: which days exist
// depends on when maintain_request_log ran, not on the definition, which the function itself carries.
const catalogQuery = `
with nsp as (
  select n.oid, n.nspname from pg_catalog.pg_namespace n
   where n.nspname not in ('information_schema', 'supabase_migrations') and n.nspname !~ '^pg_'
),
rel as (
  select c.*, n.nspname, pg_catalog.format('%I.%I', n.nspname, c.relname) as qname
    from pg_catalog.pg_class c join nsp n on n.oid = c.relnamespace
   where not (n.nspname = 'salesos' and c.relname ~ '^request_log_p[0-9]{8}')
)
select 'schema' as kind, pg_catalog.quote_ident(n.nspname) as name,
       pg_catalog.concat_ws(e'\\n',
         'owner: ' || pg_catalog.pg_get_userbyid(s.nspowner),
         'acl: ' || (select pg_catalog.string_agg(a::text, ' ' order by a::text)
                       from unnest(coalesce(s.nspacl, pg_catalog.acldefault('n', s.nspowner))) a)) as facts
  from nsp n join pg_catalog.pg_namespace s on s.oid = n.oid
union all
select 'extension', e.extname, 'schema: ' || e.extnamespace::regnamespace::text || e'\\nversion: ' || e.extversion
  from pg_catalog.pg_extension e
union all
select 'type', pg_catalog.format('%I.%I', n.nspname, t.typname),
       pg_catalog.concat_ws(e'\\n',
         'type: ' || t.typtype::text,
         'owner: ' || pg_catalog.pg_get_userbyid(t.typowner),
         'base: ' || case when t.typtype = 'd' then pg_catalog.format_type(t.typbasetype, t.typtypmod) end,
         'not null: ' || case when t.typtype = 'd' then t.typnotnull::text end,
         'default: ' || t.typdefault,
         'labels: ' || (select pg_catalog.string_agg(l.enumlabel, ', ' order by l.enumsortorder)
                          from pg_catalog.pg_enum l where l.enumtypid = t.oid),
         'attributes: ' || (select pg_catalog.string_agg(a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod), ', ' order by a.attnum)
                              from pg_catalog.pg_attribute a join pg_catalog.pg_class c on c.oid = a.attrelid
                             where c.oid = t.typrelid and c.relkind = 'c' and a.attnum > 0 and not a.attisdropped),
         'acl: ' || (select pg_catalog.string_agg(a::text, ' ' order by a::text)
                       from unnest(coalesce(t.typacl, pg_catalog.acldefault('T', t.typowner))) a)) as facts
  from pg_catalog.pg_type t join nsp n on n.oid = t.typnamespace
 where t.typtype in ('e', 'd', 'r', 'm')
    or (t.typtype = 'c' and (select c.relkind from pg_catalog.pg_class c where c.oid = t.typrelid) = 'c')
union all
select 'relation', r.qname,
       pg_catalog.concat_ws(e'\\n',
         'kind: ' || r.relkind::text,
         'owner: ' || pg_catalog.pg_get_userbyid(r.relowner),
         'persistence: ' || r.relpersistence::text,
         'row level security: ' || case when r.relrowsecurity then 'enabled' else 'disabled' end
           || case when r.relforcerowsecurity then ', forced' else '' end,
         'options: ' || pg_catalog.array_to_string(r.reloptions, ', '),
         'replica identity: ' || r.relreplident::text,
         'partition bound: ' || pg_catalog.pg_get_expr(r.relpartbound, r.oid),
         'view: ' || case when r.relkind in ('v', 'm') then pg_catalog.pg_get_viewdef(r.oid) end,
         'acl: ' || (select pg_catalog.string_agg(a::text, ' ' order by a::text)
                       from unnest(coalesce(r.relacl, pg_catalog.acldefault(case r.relkind when 'S' then 's' else 'r' end::"char", r.relowner))) a)) as facts
  from rel r
 where r.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
union all
select 'column', r.qname || '.' || pg_catalog.quote_ident(a.attname),
       pg_catalog.concat_ws(e'\\n',
         'position: ' || pg_catalog.row_number() over (partition by a.attrelid order by a.attnum),
         'type: ' || pg_catalog.format_type(a.atttypid, a.atttypmod),
         'not null: ' || a.attnotnull,
         'default: ' || case when a.attgenerated = '' then pg_catalog.pg_get_expr(d.adbin, d.adrelid) end,
         'generated: ' || case when a.attgenerated <> '' then pg_catalog.pg_get_expr(d.adbin, d.adrelid) end,
         'identity: ' || nullif(a.attidentity::text, ''),
         'collation: ' || case when a.attcollation <> t.typcollation then a.attcollation::regcollation::text end,
         'acl: ' || (select pg_catalog.string_agg(x::text, ' ' order by x::text) from unnest(a.attacl) x)) as facts
  from rel r
  join pg_catalog.pg_attribute a on a.attrelid = r.oid and a.attnum > 0 and not a.attisdropped
  join pg_catalog.pg_type t on t.oid = a.atttypid
  left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
 where r.relkind in ('r', 'p', 'v', 'm', 'f')
union all
select 'constraint', coalesce(r.qname, pg_catalog.format('%I.%I', tn.nspname, t.typname)) || ' ' || pg_catalog.quote_ident(c.conname),
       pg_catalog.pg_get_constraintdef(c.oid)
  from pg_catalog.pg_constraint c
  left join rel r on r.oid = c.conrelid
  left join pg_catalog.pg_type t on t.oid = c.contypid
  left join pg_catalog.pg_namespace tn on tn.oid = t.typnamespace
 where r.oid is not null or tn.oid in (select oid from nsp)
union all
select 'index', pg_catalog.format('%I.%I', r.nspname, i.relname), pg_catalog.pg_get_indexdef(i.oid)
  from rel i join pg_catalog.pg_index x on x.indexrelid = i.oid
  join rel r on r.oid = x.indrelid
union all
select 'sequence', r.qname,
       pg_catalog.concat_ws(e'\\n',
         'type: ' || s.seqtypid::regtype::text,
         'start: ' || s.seqstart, 'increment: ' || s.seqincrement, 'min: ' || s.seqmin, 'max: ' || s.seqmax,
         'cache: ' || s.seqcache, 'cycle: ' || s.seqcycle,
         'owned by: ' || (select pg_catalog.format('%s.%I', d.refobjid::regclass, a.attname)
                            from pg_catalog.pg_depend d
                            join pg_catalog.pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
                           where d.classid = 'pg_catalog.pg_class'::regclass and d.objid = r.oid
                             and d.deptype in ('a', 'i')))
  from rel r join pg_catalog.pg_sequence s on s.seqrelid = r.oid
union all
select 'function', p.oid::regprocedure::text,
       pg_catalog.concat_ws(e'\\n',
         'owner: ' || pg_catalog.pg_get_userbyid(p.proowner),
         'acl: ' || (select pg_catalog.string_agg(a::text, ' ' order by a::text)
                       from unnest(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a),
         case when p.prokind = 'a' then 'aggregate' else pg_catalog.pg_get_functiondef(p.oid) end) as facts
  from pg_catalog.pg_proc p join nsp n on n.oid = p.pronamespace
union all
select 'trigger', r.qname || ' ' || pg_catalog.quote_ident(g.tgname),
       pg_catalog.pg_get_triggerdef(g.oid) || e'\\nenabled: ' || g.tgenabled::text
  from pg_catalog.pg_trigger g join rel r on r.oid = g.tgrelid
 where not g.tgisinternal
union all
select 'rule', r.qname || ' ' || pg_catalog.quote_ident(w.rulename), pg_catalog.pg_get_ruledef(w.oid)
  from pg_catalog.pg_rewrite w join rel r on r.oid = w.ev_class
 where w.rulename <> '_RETURN'
union all
select 'policy', r.qname || ' ' || pg_catalog.quote_ident(p.polname),
       pg_catalog.concat_ws(e'\\n',
         'permissive: ' || p.polpermissive,
         'command: ' || p.polcmd::text,
         'roles: ' || (select pg_catalog.string_agg(case when o = 0 then 'public' else pg_catalog.pg_get_userbyid(o) end, ', ' order by 1)
                         from unnest(p.polroles) o),
         'using: ' || pg_catalog.pg_get_expr(p.polqual, p.polrelid),
         'with check: ' || pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)) as facts
  from pg_catalog.pg_policy p join rel r on r.oid = p.polrelid
union all
select 'default privileges',
       pg_catalog.pg_get_userbyid(d.defaclrole) || ' in ' || coalesce(d.defaclnamespace::regnamespace::text, 'all schemas')
         || ' on ' || d.defaclobjtype::text,
       (select pg_catalog.string_agg(a::text, ' ' order by a::text) from unnest(d.defaclacl) a)
  from pg_catalog.pg_default_acl d
union all
select 'event trigger', e.evtname, e.evtevent || ' ' || e.evtfoid::regproc::text || ' ' || e.evtenabled::text
  from pg_catalog.pg_event_trigger e
union all
-- Comments on anything created after initdb (schemas, tables, columns, functions, constraints...).
select 'comment', pg_catalog.pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description
  from pg_catalog.pg_description d
 where d.objoid >= 16384
   and pg_catalog.pg_describe_object(d.classoid, d.objoid, d.objsubid) !~ 'supabase_migrations|salesos[.]request_log_p[0-9]{8}'
`;

export type Catalog = Map<string, string>;

export async function catalogOf(url: string): Promise<Catalog> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql.unsafe<{ kind: string; name: string; facts: string | null }[]>(catalogQuery);
    const catalog: Catalog = new Map();
    for (const row of rows) {
      const key = `${row.kind} ${row.name}`;
      assert.ok(!catalog.has(key), `two catalog rows named ${key}`);
      catalog.set(key, row.facts ?? "");
    }
    return catalog;
  } finally {
    await sql.end();
  }
}

/** A line diff of two texts (longest common subsequence), with two lines of context around changes. */
function lineDiff(before: string, after: string): string[] {
  const a = before.split("\n");
  const b = after.split("\n");
  const common = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      common[i][j] = a[i] === b[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
    }
  }
  const lines: { mark: " " | "-" | "+"; text: string }[] = [];
  let i = 0, j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) lines.push({ mark: " ", text: a[i++] }), j++;
    else if (i < a.length && (j === b.length || common[i + 1][j] >= common[i][j + 1])) {
      lines.push({ mark: "-", text: a[i++] });
    } else lines.push({ mark: "+", text: b[j++] });
  }
  const near = (k: number) => lines.slice(Math.max(0, k - 2), k + 3).some((l) => l.mark !== " ");
  const shown: string[] = [];
  lines.forEach((line, k) => {
    if (near(k)) shown.push(`    ${line.mark} ${line.text}`);
    else if (shown.at(-1) !== "      ...") shown.push("      ...");
  });
  return shown;
}

/** What differs between the two catalogs, readably; empty when they agree. */
export function catalogDiff(migrations: Catalog, schemaFiles: Catalog): string[] {
  const out: string[] = [];
  const keys = [...new Set([...migrations.keys(), ...schemaFiles.keys()])].sort();
  for (const key of keys) {
    const before = migrations.get(key);
    const after = schemaFiles.get(key);
    if (before === after) continue;
    if (after === undefined) out.push(`- ${key}: only in the migrations`, ...lineDiff(before!, "").slice(0, 40));
    else if (before === undefined) out.push(`+ ${key}: only in the schema files`, ...lineDiff("", after).slice(0, 40));
    else out.push(`~ ${key}: differs`, ...lineDiff(before, after));
  }
  return out;
}

interface Comment {
  text: string;
  /** The object as pg_identify_object_as_address gives it, to look it up in another database. */
  address: { type: string; names: string[]; args: string[] };
}

/** Comments on objects created after initdb, by the `comment on` target that sets them. */
async function comments(sql: postgres.Sql): Promise<Map<string, Comment>> {
  const rows = await sql.unsafe<{ type: string; identity: string; text: string; address: Comment["address"] }[]>(`
    select o.type, o.identity, d.description as text,
           pg_catalog.json_build_object('type', a.type, 'names', a.object_names, 'args', a.object_args) as address
      from pg_catalog.pg_description d,
           lateral pg_catalog.pg_identify_object(d.classoid, d.objoid, d.objsubid) o,
           lateral pg_catalog.pg_identify_object_as_address(d.classoid, d.objoid, d.objsubid) a
     where d.objoid >= 16384 and coalesce(o.schema, o.identity) <> 'supabase_migrations'`);
  return new Map(rows.map((r) => {
    const target = r.type === "table column"
      ? `column ${r.identity}`
      : r.type === "table constraint"
      ? `constraint ${r.identity}`
      : r.type === "domain constraint"
      ? `constraint ${r.identity.replace(" on ", " on domain ")}`
      : `${r.type} ${r.identity}`;
    return [target, { text: r.text, address: r.address }];
  }));
}

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** `comment on` statements that take the comments of `from` to those of `to`. */
async function commentChanges(from: postgres.Sql, to: postgres.Sql): Promise<string[]> {
  const [before, after] = await Promise.all([comments(from), comments(to)]);
  const out: string[] = [];
  for (const [target, { text }] of after) {
    if (before.get(target)?.text !== text) out.push(`comment on ${target} is ${literal(text)};`);
  }
  for (const [target, { address }] of before) {
    if (after.has(target)) continue;
    // Cleared only on an object that stays: a dropped one takes its comment with it.
    const exists = await to.unsafe("select pg_catalog.pg_get_object_address($1, $2, $3)", [
      address.type,
      address.names,
      address.args,
    ]).then(() => true, () => false);
    if (exists) out.push(`comment on ${target} is null;`);
  }
  return out;
}

const privilegeNames: Record<string, string> = {
  r: "select",
  w: "update",
  a: "insert",
  d: "delete",
  D: "truncate",
  x: "references",
  t: "trigger",
  X: "execute",
  U: "usage",
  C: "create",
};

/** Each object's privileges per grantee ("" is PUBLIC), an unset ACL read as its default. */
async function privileges(sql: postgres.Sql): Promise<Map<string, Map<string, Set<string>>>> {
  const rows = await sql.unsafe<{ target: string; acl: string[] }[]>(`
    with nsp as (
      select n.oid, n.nspname from pg_catalog.pg_namespace n
       where n.nspname not in ('information_schema', 'supabase_migrations') and n.nspname !~ '^pg_'
    )
    select 'schema ' || pg_catalog.quote_ident(n.nspname) as target,
           coalesce(s.nspacl, pg_catalog.acldefault('n', s.nspowner))::text[] as acl
      from nsp n join pg_catalog.pg_namespace s on s.oid = n.oid
    union all
    select case c.relkind when 'S' then 'sequence ' else 'table ' end || pg_catalog.format('%I.%I', n.nspname, c.relname),
           coalesce(c.relacl, pg_catalog.acldefault(case c.relkind when 'S' then 's' else 'r' end::"char", c.relowner))::text[]
      from pg_catalog.pg_class c join nsp n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
    union all
    select case p.prokind when 'p' then 'procedure ' else 'function ' end || p.oid::regprocedure::text,
           coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))::text[]
      from pg_catalog.pg_proc p join nsp n on n.oid = p.pronamespace`);
  return new Map(rows.map((row) => {
    const grants = new Map<string, Set<string>>();
    for (const item of row.acl) {
      const [, grantee, privs] = /^(.*)=([^/]*)\//.exec(item)!;
      grants.set(grantee, new Set([...privs.replaceAll("*", "")]));
    }
    return [row.target, grants];
  }));
}

/** grant and revoke statements that give the objects of `from` the privileges they have in `to`. */
async function privilegeChanges(from: postgres.Sql, to: postgres.Sql): Promise<string[]> {
  const [before, after] = await Promise.all([privileges(from), privileges(to)]);
  const out: string[] = [];
  const role = (grantee: string) => (grantee === "" ? "public" : grantee);
  for (const [target, wanted] of after) {
    const held = before.get(target);
    if (!held) continue; // not created by the SQL so far: the check after it reports it
    for (const grantee of new Set([...held.keys(), ...wanted.keys()])) {
      const has = held.get(grantee) ?? new Set<string>();
      const wants = wanted.get(grantee) ?? new Set<string>();
      const revoke = [...has].filter((p) => !wants.has(p)).map((p) => privilegeNames[p] ?? p);
      const grant = [...wants].filter((p) => !has.has(p)).map((p) => privilegeNames[p] ?? p);
      if (revoke.length) out.push(`revoke ${revoke.join(", ")} on ${target} from ${role(grantee)};`);
      if (grant.length) out.push(`grant ${grant.join(", ")} on ${target} to ${role(grantee)};`);
    }
  }
  return out;
}

async function migraDiff(fromUrl: string, toUrl: string): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--no-lock",
      "--allow-all",
      migra,
      "run",
      fromUrl,
      toUrl,
      "--unsafe",
      "--with-privileges",
      // Variadic: it comes last, or it takes the URLs too.
      "--exclude-schema",
      "supabase_migrations",
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!output.success) {
    throw new Error(`${migra} failed (${output.code}):\n${decoder.decode(output.stderr)}`);
  }
  return decoder.decode(output.stdout).trim();
}

/**
 * The migration SQL from the migrated database to the schema files' one ("" when they agree), and
 * what differs still once it is applied to the migrated database (empty when it does the whole job).
 */
export async function schemaDiff(serverUrl: string): Promise<{ sql: string; remaining: string[] }> {
  const migrated = await createEmptyDatabase(serverUrl, "salesos_diff_migrations");
  const declared = await createEmptyDatabase(serverUrl, "salesos_diff_schemas");
  const from = postgres(migrated.url, { max: 1, onnotice: () => {} });
  const to = postgres(declared.url, { max: 1, onnotice: () => {} });
  try {
    const db = connectPostgres(migrated.url, { dbPoolSize: 1, dbStatementTimeoutMs: 60_000 });
    try {
      await applyMigrations(db);
    } finally {
      await db.close();
    }
    await applySchemaFiles(declared.url);
    const parts = [await migraDiff(migrated.url, declared.url)];
    // migra leaves out comments, and the revokes that make a new object's privileges what
    // 90_privileges.sql makes them: both come from the catalogs, after migra's SQL has run.
    await from.unsafe(parts[0]);
    parts.push((await commentChanges(from, to)).join("\n"));
    await from.unsafe(parts[1]);
    parts.push((await privilegeChanges(from, to)).join("\n"));
    await from.unsafe(parts[2]);
    const remaining = catalogDiff(await catalogOf(migrated.url), await catalogOf(declared.url));
    return { sql: parts.filter((part) => part !== "").join("\n\n"), remaining };
  } finally {
    await Promise.all([from.end(), to.end()]);
    await Promise.all([migrated.drop(), declared.drop()]);
  }
}

const usage = `usage: deno task db:diff > new_migration.sql
  Prints the SQL of a migration from what supabase/migrations build to what supabase/schemas define
  (nothing when they agree); notes go to stderr. Uses scratch databases on the Postgres server at
  DATABASE_URL (else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres).`;

if (import.meta.main) {
  if (Deno.args.some((arg) => arg === "--help" || arg === "-h")) {
    console.log(usage);
    Deno.exit(0);
  }
  const serverUrl = readDeveloperToolsConfig().scratchServerUrl ?? "postgres://postgres@127.0.0.1:5432/postgres";
  try {
    const { sql, remaining } = await schemaDiff(serverUrl);
    if (remaining.length > 0) {
      console.error(
        `db:diff: applied to the migrated database, this SQL still leaves differences:\n${remaining.join("\n")}`,
      );
    }
    if (sql === "") {
      console.error("db:diff: the schema files define what the migrations build; no migration needed.");
    } else {
      console.log(sql);
      if (/^\s*(drop|alter table \S+ drop|revoke)/im.test(sql)) {
        console.error("db:diff: the SQL drops or revokes something: review it before saving it as a migration.");
      }
      console.error("db:diff: save it as supabase/migrations/<yyyymmddhhmmss>_<name>.sql");
    }
  } catch (error) {
    console.error(`db:diff: ${(error as Error).message}`);
    Deno.exit(1);
  }
}

// Local tools' database: Postgres at DATABASE_URL/SUPABASE_DB_URL when set, else the embedded
// Postgres cluster in EMBEDDED_POSTGRES_DIR (tools/embedded_postgres.ts). Migrations from
// supabase/migrations are applied the way the Supabase CLI records them
// (supabase_migrations.schema_migrations), so `supabase db push` agrees with what ran here.
import postgres from "postgres";
import type { Config } from "../supabase/functions/_shared/config.ts";
import type { Database } from "../supabase/functions/_shared/database.ts";
import { connectPostgres } from "../supabase/functions/_shared/postgres.ts";
import type { LocalConfig } from "./config.ts";
import { type Cluster, runningClusterUrl, startCluster } from "./embedded_postgres.ts";

/** A tenant slug, as the check of salesos.tenants takes it: the CLIs refuse others as usage errors. */
export const tenantSlug = /^[a-z0-9][a-z0-9-]{0,62}$/;

const migrationsDir = new URL("../supabase/migrations/", import.meta.url);

export interface LocalDatabase {
  db: Database;
  /** Where it is, for the log: the embedded cluster's URL, or just "postgres" (a URL may hold a password). */
  description: string;
  /** The embedded cluster this process started, if it did. */
  cluster?: Cluster;
}

/** A pool on the cluster's database that stops the cluster when closed. */
function owning(db: Database, cluster: Cluster): Database {
  return {
    ...db,
    async close() {
      try {
        await db.close();
      } finally {
        await cluster.stop();
      }
    },
  };
}

/**
 * The configured database. `owner`: the server, which starts the embedded cluster and stops it when
 * closed; another server on the same folder is refused. A CLI uses the cluster a running server
 * started; when none runs, it starts the cluster for as long as it needs it.
 */
export async function openDatabase(config: LocalConfig, { owner = false } = {}): Promise<LocalDatabase> {
  if (config.databaseUrl) return { db: connectPostgres(config.databaseUrl, config), description: "postgres" };
  const running = owner ? undefined : await runningClusterUrl(config.embeddedPostgresDir);
  if (running) {
    const db = connectPostgres(running, config);
    try {
      await db.query("select 1");
      return { db, description: `embedded postgres at ${running}` };
    } catch {
      await db.close();
      // A lock file left by a cluster that was killed: postgres starts over it.
    }
  }
  const cluster = await startCluster({
    dataDir: config.embeddedPostgresDir,
    port: config.embeddedPostgresPort,
    durable: true,
  });
  return {
    db: owning(connectPostgres(cluster.url, config), cluster),
    description: `embedded postgres at ${cluster.url}`,
    cluster,
  };
}

/** The migrations in version order; their SQL is read only for those still to apply. */
async function migrationFiles(): Promise<{ version: string; name: string; file: URL }[]> {
  const files = [];
  for await (const entry of Deno.readDir(migrationsDir)) {
    const match = /^(\d{14})_(.+)\.sql$/.exec(entry.name);
    if (entry.isFile && match) {
      files.push({ version: match[1], name: match[2], file: new URL(entry.name, migrationsDir) });
    }
  }
  // Versions are equal-length digit strings; localeCompare would load ICU's collator (~15 ms).
  return files.sort((a, b) => (a.version < b.version ? -1 : 1));
}

const quote = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** Versions already applied; creates the bookkeeping table on a database that has none. */
async function appliedVersions(db: Database): Promise<Set<string>> {
  try {
    const rows = await db.query<{ version: string }>("select version from supabase_migrations.schema_migrations");
    return new Set(rows.map((r) => r.version));
  } catch (error) {
    if ((error as { code?: string }).code !== "42P01") throw error; // anything but "no such table"
    await db.exec(`
      create schema if not exists supabase_migrations;
      create table if not exists supabase_migrations.schema_migrations (
        version text not null primary key, statements text[], name text);`);
    return new Set();
  }
}

/**
 * Applies pending migrations, each in its own transaction; returns the versions applied. `log` is
 * told each migration applied, then a summary (`3 applied, 8 already applied`). A pending
 * migration older than the newest applied one is refused, as `supabase db push` refuses it: applied
 * here out of order, it would leave this database's history unlike the hosted one's.
 */
export async function applyMigrations(db: Database, log: (message: string) => void = () => {}): Promise<string[]> {
  const [applied, migrations] = await Promise.all([appliedVersions(db), migrationFiles()]);
  const newest = [...applied].sort().at(-1);
  const late = migrations.find((m) => !applied.has(m.version) && newest !== undefined && m.version < newest);
  if (late) {
    throw new Error(
      `migration ${late.version}_${late.name} is older than ${newest}, already applied: give it a later timestamp`,
    );
  }
  const appliedNow: string[] = [];
  for (const migration of migrations) {
    if (applied.has(migration.version)) continue;
    const sql = await Deno.readTextFile(migration.file);
    try {
      // One simple-protocol script is one implicit transaction: a failure leaves nothing behind.
      // The requests' statement timeout is not the migrations' budget: a slow machine must not
      // turn a long migration statement into a failed start.
      const record = `insert into supabase_migrations.schema_migrations (version, name)
        values (${quote(migration.version)}, ${quote(migration.name)})`;
      await db.exec(`set local statement_timeout = 0;\n${sql}\n;${record};`);
      appliedNow.push(migration.version);
      log(`migration ${migration.version}_${migration.name} applied`);
    } catch (error) {
      // Another process starting on the same database may have applied it first.
      if (!(await appliedVersions(db)).has(migration.version)) throw error;
    }
  }
  log(`migrations: ${appliedNow.length} applied, ${migrations.length - appliedNow.length} already applied`);
  return appliedNow;
}

/**
 * A new, empty database on the Postgres server at `serverUrl`, named `<prefix>_<unique>`, for one
 * test or benchmark run; `drop` removes it, so runs never collide.
 */
export async function createEmptyDatabase(serverUrl: string, prefix: string) {
  const name = `${prefix}_${Date.now().toString(36)}_${crypto.randomUUID().slice(0, 8)}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

/** As createEmptyDatabase, migrated, with a pool on it. */
export async function createScratchDatabase(serverUrl: string, prefix: string, config: Config) {
  const empty = await createEmptyDatabase(serverUrl, prefix);
  const db = connectPostgres(empty.url, config);
  await applyMigrations(db);
  return { ...empty, db };
}

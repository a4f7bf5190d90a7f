// Local tools' database: Postgres when DATABASE_URL/SUPABASE_DB_URL is set, else the embedded
// PGlite in PGLITE_DATA_DIR. While `deno task start` runs on PGlite it owns the data folder and
// shares it on PGLITE_SOCKET_PORT (noted in <data dir>/server.json); the CLIs connect there.
// Migrations from supabase/migrations are applied the way the
// Supabase CLI records them (supabase_migrations.schema_migrations), so `supabase db push`
// agrees with what ran here.
import postgres from "postgres";
import type { Config } from "../supabase/functions/_shared/config.ts";
import type { Database } from "../supabase/functions/_shared/database.ts";
import { connectPostgres } from "../supabase/functions/_shared/postgres.ts";

/** Where a server sharing its PGlite notes the port, in the data folder it owns. */
/** A tenant slug, as the check of salesos.tenants takes it: the CLIs refuse others as usage errors. */
export const tenantSlug = /^[a-z0-9][a-z0-9-]{0,62}$/;

const serverNote = (config: Config) => `${config.pgliteDataDir}/server.json`;

const migrationsDir = new URL("../supabase/migrations/", import.meta.url);

/**
 * The database a running `deno task start` shares its PGlite on, if one answers there. No separate
 * probe: the server takes one connection at a time, and a probe still closing would refuse the
 * real one.
 */
async function runningServer(config: Config): Promise<Database | null> {
  let port: number;
  try {
    ({ port } = JSON.parse(await Deno.readTextFile(serverNote(config))));
  } catch {
    return null; // no server has run on this folder
  }
  const db = connectPostgres(`postgres://postgres@127.0.0.1:${port}/postgres`, { ...config, dbPoolSize: 1 });
  try {
    await db.query("select 1");
    return db;
  } catch {
    await db.close().catch(() => {});
    return null; // a stale note from a server that was killed
  }
}

/**
 * The configured database. `owner`: the server, which opens PGlite itself and shares it;
 * otherwise a CLI, which goes through a running server's socket when there is one.
 */
export async function openDatabase(config: Config, { owner = false } = {}): Promise<Database> {
  if (config.databaseUrl) return connectPostgres(config.databaseUrl, config);
  const shared = owner ? null : await runningServer(config);
  if (shared) return shared;
  await Deno.mkdir(config.pgliteDataDir, { recursive: true });
  const lock = await lockDataFolder(config.pgliteDataDir);
  try {
    // Loaded only when used: the Postgres path never pays for the WebAssembly build.
    const { openPglite } = await import("./pglite.ts");
    const db = await openPglite(config.pgliteDataDir, owner ? { port: config.pgliteSocketPort } : undefined);
    const note = owner ? serverNote(config) : undefined;
    if (note) await Deno.writeTextFile(note, JSON.stringify({ port: config.pgliteSocketPort }));
    return {
      ...db,
      // Closing stops the sharing, so it takes the note away too; the lock goes last.
      async close() {
        try {
          await db.close();
        } finally {
          if (note) await Deno.remove(note).catch(() => {});
          lock.close();
        }
      },
    };
  } catch (error) {
    lock.close();
    throw error;
  }
}

/**
 * An exclusive lock on the data folder, held while this process has it open: two processes on one
 * PGlite folder would corrupt it. The system drops the lock when the process ends, however it ends.
 */
async function lockDataFolder(dataDir: string): Promise<Deno.FsFile> {
  const file = await Deno.open(`${dataDir}/.lock`, { create: true, write: true });
  if (await file.tryLock(true)) return file;
  file.close();
  throw new Error(
    `the PGlite data folder ${dataDir} is in use by another process (\`deno task start\` or a CLI): ` +
      "try again once it is done, or set PGLITE_DATA_DIR to another folder",
  );
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
 * Applies pending migrations, each in its own transaction; returns the versions applied. A pending
 * migration older than the newest applied one is refused, as `supabase db push` refuses it: applied
 * here out of order, it would leave this database's history unlike the hosted one's.
 */
export async function applyMigrations(db: Database): Promise<string[]> {
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
      const record = `insert into supabase_migrations.schema_migrations (version, name)
        values (${quote(migration.version)}, ${quote(migration.name)})`;
      await db.exec(`${sql}\n;${record};`);
      appliedNow.push(migration.version);
    } catch (error) {
      // Another process starting on the same database may have applied it first.
      if (!(await appliedVersions(db)).has(migration.version)) throw error;
    }
  }
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

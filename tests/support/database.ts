// Each test file gets its own fresh database on the test Postgres server (TEST_DATABASE_URL,
// else DATABASE_URL, else the local 127.0.0.1:5432), migrated like `deno task start` does, and
// dropped afterwards, so runs never collide. With neither URL set, `deno task test` (tools/test.ts)
// sets TEST_DATABASE_URL to a throwaway embedded Postgres.
import { readConfig } from "../../supabase/functions/_shared/config.ts";
import type { Database } from "../../supabase/functions/_shared/database.ts";
import { connectPostgres } from "../../supabase/functions/_shared/postgres.ts";
import postgres from "postgres";
import { createEmptyDatabase, createScratchDatabase } from "../../tools/database.ts";

export const serverUrl = Deno.env.get("TEST_DATABASE_URL") || Deno.env.get("DATABASE_URL") ||
  "postgres://postgres@127.0.0.1:5432/postgres";

export const testConfig = readConfig({ BCRYPT_COST: "4", DB_STATEMENT_TIMEOUT_MS: "5000" });

export interface TestDatabase extends AsyncDisposable {
  /** Connection string of the fresh database (for servers started as subprocesses). */
  url: string;
  /** A pool on it, as the service uses. */
  db: Database;
  /** Opens another pool on the same database (a second "instance"). */
  connect(): Database;
}

export async function freshDatabase(): Promise<TestDatabase> {
  const scratch = await createScratchDatabase(serverUrl, "salesos_test", testConfig);
  const pools: Database[] = [scratch.db];
  return {
    url: scratch.url,
    db: scratch.db,
    connect() {
      const pool = connectPostgres(scratch.url, testConfig);
      pools.push(pool);
      return pool;
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(pools.map((p) => p.close()));
      await scratch.drop();
    },
  };
}

/** A new database with nothing in it, not even the migrations (what a server meets on first start). */
export async function emptyDatabase(): Promise<{ url: string } & AsyncDisposable> {
  const empty = await createEmptyDatabase(serverUrl, "salesos_test_empty");
  return { url: empty.url, [Symbol.asyncDispose]: empty.drop };
}

/**
 * An open transaction on a connection of its own, to hold locks while the code under test runs.
 * `finish` commits or rolls back; disposal rolls back what was not finished.
 */
export async function openTransaction(url: string) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const connection = await sql.reserve();
  await connection.unsafe("begin");
  let open = true;
  const finish = async (end: "commit" | "rollback") => {
    if (!open) return;
    open = false;
    try {
      await connection.unsafe(end);
    } finally {
      connection.release();
      await sql.end();
    }
  };
  return {
    query: (text: string, params: unknown[] = []) => connection.unsafe(text, params as never[]),
    finish,
    [Symbol.asyncDispose]: () => finish("rollback"),
  };
}

/** Resolves once `count` sessions on `db`'s database wait for a lock; fails after 10 s. */
export async function lockWaiters(db: Database, count: number): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    const [{ waiting }] = await db.query<{ waiting: number }>(
      `select count(*)::int as waiting from pg_catalog.pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'`,
    );
    if (waiting >= count) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${count} sessions did not come to wait for a lock within 10 s`);
}

// Through a transaction pooler (PgBouncer in transaction mode, as Supabase's Supavisor on port 6543):
// the service's pool connects and queries, a slow statement is still cut at DB_STATEMENT_TIMEOUT_MS
// and answered as "database unavailable" (503), clients with different settings sharing one server
// connection see none of each other's session state, and migrations apply. Skipped only where
// pgbouncer is not installed (CI installs it).
import assert from "node:assert/strict";
import { readConfig } from "../../supabase/functions/_shared/config.ts";
import type { Database } from "../../supabase/functions/_shared/database.ts";
import { DatabaseUnavailableError } from "../../supabase/functions/_shared/errors.ts";
import { connectPostgres } from "../../supabase/functions/_shared/postgres.ts";
import { applyMigrations, createEmptyDatabase } from "../../tools/database.ts";
import postgres from "postgres";
import { serverUrl } from "../support/database.ts";
import { pgbouncerInstalled, startPgBouncer } from "../support/pgbouncer.ts";

const ignore = !pgbouncerInstalled;
if (ignore) {
  console.warn(
    "pooler_test: pgbouncer is not installed, skipped (apt-get install pgbouncer)",
  );
}

/** The pool config as on hosted Supabase behind the pooler, whatever port the test pooler has. */
const pooled = (env: Record<string, string> = {}) =>
  readConfig({
    DB_TRANSACTION_POOLER: "true",
    DB_STATEMENT_TIMEOUT_MS: "1000",
    DB_POOL_SIZE: "4",
    ...env,
  });

async function timed<T>(
  work: Promise<T>,
): Promise<{ ms: number; result?: T; error?: unknown }> {
  const started = performance.now();
  try {
    const result = await work;
    return { ms: performance.now() - started, result };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

Deno.test({
  name: "through a transaction pooler",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  // One server connection per database: every client of the pooler shares it, so any session
  // state one left behind, the next would see.
  await using bouncer = await startPgBouncer(serverUrl, { poolSize: 1 });
  const empty = await createEmptyDatabase(bouncer.url, "salesos_test_pooler");
  const pools: Database[] = [];
  const connect = (env?: Record<string, string>) => {
    const pool = connectPostgres(empty.url, pooled(env));
    pools.push(pool);
    return pool;
  };
  try {
    const db = connect();

    await t.step("migrations apply through it", async () => {
      const applied = await applyMigrations(db);
      assert.ok(applied.length > 0);
      const [{ count }] = await db.query<{ count: number }>(
        "select count(*)::int as count from supabase_migrations.schema_migrations",
      );
      assert.equal(count, applied.length);
      assert.deepEqual(await applyMigrations(db), []);
    });

    await t.step(
      "the pool connects and queries, with parameters, many times",
      async () => {
        const rows = await Promise.all(
          Array.from(
            { length: 20 },
            (_, i) => db.query<{ n: number }>("select $1::int + 1 as n", [i]),
          ),
        );
        assert.deepEqual(
          rows.map((r) => r[0].n),
          Array.from({ length: 20 }, (_, i) => i + 1),
        );
        const [{ tenants }] = await db.query<{ tenants: number }>(
          "select count(*)::int as tenants from salesos.tenants",
        );
        assert.equal(tenants, 0);
      },
    );

    await t.step(
      "a slow statement is cut at the statement timeout, as database unavailable (503)",
      async () => {
        const { ms, error } = await timed(
          db.query("select pg_catalog.pg_sleep(30)"),
        );
        assert.ok(
          error instanceof DatabaseUnavailableError,
          `not unavailable: ${error}`,
        );
        assert.equal(
          (error.cause as { code?: string }).code,
          "57014",
          "cancelled by the server (query_canceled)",
        );
        assert.ok(
          ms >= 900 && ms < 2_500,
          `cut after ${Math.round(ms)} ms, not about 1000`,
        );
        // The server statement is gone and the pool goes on.
        assert.deepEqual([...await db.query("select 1 as one")], [{ one: 1 }]);
        const [{ sleeping }] = await db.query<{ sleeping: number }>(
          `select count(*)::int as sleeping from pg_catalog.pg_stat_activity
          where query like '%pg_sleep(30)%' and state = 'active' and pid <> pg_catalog.pg_backend_pid()`,
        );
        assert.equal(sleeping, 0);
      },
    );

    await t.step(
      "a pool not told it is behind a pooler finds out from the refused startup parameter",
      async () => {
        // As through a proxy on another port: the first connection is refused, the pool opens again.
        const unaware = connectPostgres(
          empty.url,
          readConfig({ DB_STATEMENT_TIMEOUT_MS: "1000" }),
        );
        pools.push(unaware);
        assert.deepEqual([...await unaware.query("select $1::int as n", [7])], [
          { n: 7 },
        ]);
        const { error } = await timed(
          unaware.query("select pg_catalog.pg_sleep(30)"),
        );
        assert.ok(
          error instanceof DatabaseUnavailableError,
          `not unavailable: ${error}`,
        );
      },
    );

    await t.step(
      "clients with different settings do not see each other's session state",
      async () => {
        const short = connect({ DB_STATEMENT_TIMEOUT_MS: "300" });
        const long = connect({ DB_STATEMENT_TIMEOUT_MS: "5000" });
        const backend =
          "select pg_catalog.pg_backend_pid() as pid, pg_catalog.current_setting('statement_timeout') as timeout";
        const [[a], [b]] = await Promise.all([
          short.query<{ pid: number; timeout: string }>(backend),
          long.query<{ pid: number; timeout: string }>(backend),
        ]);
        assert.equal(a.pid, b.pid, "one server connection for both");
        // Neither client's timeout is a setting of the shared server session.
        assert.equal(a.timeout, b.timeout);
        // ...and it is the server's own default, as a plain connection without startup parameters sees it.
        const plain = postgres(serverUrl, { max: 1, onnotice: () => {} });
        try {
          const [{ timeout }] = await plain.unsafe(
            "select pg_catalog.current_setting('statement_timeout') as timeout",
          );
          assert.equal(a.timeout, timeout);
        } finally {
          await plain.end();
        }
        // At once, on the one server connection: each client's own deadline holds, not the other's.
        const [cut, kept] = await Promise.all([
          timed(short.query("select pg_catalog.pg_sleep(1)")),
          timed(long.query("select pg_catalog.pg_sleep(1) as slept")),
        ]);
        assert.ok(
          cut.error instanceof DatabaseUnavailableError,
          `short client not cut: ${cut.error}`,
        );
        assert.equal(kept.error, undefined, `long client cut: ${kept.error}`);
        // A transaction-local setting stays in its transaction.
        await short.query(
          "select pg_catalog.set_config('application_name', 'leak-test', true)",
        );
        const [{ name }] = await long.query<{ name: string }>(
          "select pg_catalog.current_setting('application_name') as name",
        );
        assert.notEqual(name, "leak-test");
      },
    );
  } finally {
    await Promise.all(pools.map((p) => p.close()));
    await empty.drop();
  }
});

// A database that is gone or silent is 503 with Retry-After, never a hang
// or a 500, and the service recovers by itself when the database returns.
import assert from "node:assert/strict";
import { readConfig } from "../../supabase/functions/_shared/config.ts";
import { classifyDatabaseError } from "../../supabase/functions/_shared/database.ts";
import { DatabaseUnavailableError } from "../../supabase/functions/_shared/errors.ts";
import { connectPostgres } from "../../supabase/functions/_shared/postgres.ts";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";
import { startTcpProxy } from "../support/tcp_proxy.ts";

const batchSize = 20;

Deno.test("database faults", async (t) => {
  await using test = await freshDatabase();
  await using proxy = startTcpProxy(test.url);
  const config = readConfig({ DB_STATEMENT_TIMEOUT_MS: "1000", DB_POOL_SIZE: "4" });
  const db = connectPostgres(proxy.url, config);
  const tenant = await createTenant(test.db);
  const key = await createKey(test.db, tenant);
  const api = integrationHarness(db);

  // Each call sends its own batch of new collaborators, so what each answer left behind can be told apart.
  const sent: { batch: string; status: number }[] = [];
  const sync = async () => {
    const batch = `b${sent.length}`;
    const collaborators = Array.from(
      { length: batchSize },
      (_, i) => ({ external_id: `${batch}-${i}`, name: "Ana", email: `${batch}-${i}@example.com` }),
    );
    const res = await api.post(key.key, { action: "sync_collaborators", collaborators });
    sent.push({ batch, status: res.status });
    return res;
  };
  const assertUnavailable = (res: Awaited<ReturnType<typeof sync>>) => {
    assert.equal(res.status, 503);
    assert.equal(res.json.error.code, "SERVICE_UNAVAILABLE");
    assert.equal(res.headers.get("retry-after"), "5");
    assert.equal(res.json.error.retry_after, 5);
    assert.equal(res.headers.get("x-request-id"), res.json.meta.request_id);
  };

  /** The first 200 within `ms`, retrying every 100 ms; else the last status seen. */
  const statusWithin = async (ms: number) => {
    const started = Date.now();
    let status = 0;
    while (Date.now() - started < ms && status !== 200) {
      status = (await sync()).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    return status;
  };

  await t.step("a reachable database answers 200", async () => {
    assert.equal((await sync()).status, 200);
  });

  await t.step("a database that refuses connections is 503 with Retry-After", async () => {
    proxy.set("refuse");
    for (let i = 0; i < 3; i++) assertUnavailable(await sync());
  });

  await t.step("an unknown key while the database is gone is 503, not 401", async () => {
    const other = await createKey(test.db, tenant);
    assertUnavailable(await api.post(other.key, { action: "sync_activities", activities: [] }));
  });

  await t.step("the service recovers without restart once the database is back", async () => {
    proxy.set("forward");
    assert.equal(await statusWithin(5000), 200);
  });

  await t.step("a database gone silent is 503 within the deadline, not a hang", async () => {
    proxy.set("blackhole");
    const started = Date.now();
    assertUnavailable(await sync());
    const waited = Date.now() - started;
    assert.ok(waited >= 1000 && waited < 8000, `answered after ${waited} ms`);
  });

  await t.step("and recovers within 5 s once the network answers again", async () => {
    proxy.set("forward");
    assert.equal(await statusWithin(5000), 200);
  });

  await t.step("nothing half written: an acknowledged batch is whole, an unanswered one whole or absent", async () => {
    const rows = await test.db.query<{ batch: string; n: number }>(
      "select split_part(external_id, '-', 1) as batch, count(*)::int as n from salesos.collaborators group by 1",
    );
    const stored = new Map(rows.map((r) => [r.batch, r.n]));
    assert.ok(sent.some((s) => s.status === 503) && sent.some((s) => s.status === 200));
    for (const { batch, status } of sent) {
      const n = stored.get(batch) ?? 0;
      if (status === 200) assert.equal(n, batchSize, `${batch} acknowledged`);
      else assert.ok(n === 0 || n === batchSize, `${batch} (${status}): ${n} of ${batchSize} stored`);
    }
    for (const batch of stored.keys()) assert.ok(sent.some((s) => s.batch === batch), `${batch} was never sent`);
  });

  await t.step(
    "a broken socket is unavailable even when its code looks like a SQLSTATE; a SQL error is not",
    async () => {
      // What node:net gives postgres.js when Postgres closed the connection under a write (seen as a
      // 500 in the reliability suite's database cut before this was classified by severity).
      const epipe = Object.assign(new Error("write EPIPE"), { code: "EPIPE", errno: -32, syscall: "write" });
      assert.ok(classifyDatabaseError(epipe) instanceof DatabaseUnavailableError);
      // The faults above may leave a stale connection in the pool (through a pooler, one more
      // reconnect): the SQL error is asked of a pool that answers again.
      for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
        if (await db.query("select 1").then(() => true, () => false)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const sqlError = await db.query("select 1 / 0").catch((error) => error);
      assert.equal(sqlError.code, "22012");
      assert.ok(!(sqlError instanceof DatabaseUnavailableError));
    },
  );

  await db.close();
});

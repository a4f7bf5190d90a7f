// The request log at scale: refusals are counted, not logged (a flood writes a bounded number of
// rows); usage reads the counts; the log is partitioned by UTC day and expires by dropping whole
// partitions; deleting a key does not touch its log; ids come from no global sequence.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { startMaintenance } from "../../tools/maintenance.ts";

const day = 86_400_000;
const utcDay = (offsetDays: number) => new Date(Date.now() + offsetDays * day).toISOString().slice(0, 10);
const partitionOf = (isoDay: string) => `request_log_p${isoDay.replaceAll("-", "")}`;

Deno.test("refusals are counted, not logged", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const key = await createKey(test.db, tenant, { rate_limit_per_hour: 5, ip_allowlist: ["192.0.2.0/24"] });
  const admit = (n: number, ip = "192.0.2.1") =>
    test.db.query<{ outcome: string; n: number }>(
      `select a.outcome, count(*)::int as n
         from pg_catalog.generate_series(1, $3::int) g,
              lateral salesos.admit_request($1::uuid, $2::inet, 'default:sync', gen_random_uuid(), g * 0) a
        group by a.outcome order by a.outcome`,
      [key.id, ip, n],
    );

  await t.step("a 429 flood from several connections writes a few counter rows and no log row", async () => {
    assert.deepEqual([...await admit(5)], [{ outcome: "admitted", n: 5 }]);
    const pools = [test.db, test.connect(), test.connect(), test.connect()];
    const floods = await Promise.all(pools.map(() => admit(2_500)));
    assert.deepEqual(floods.map((f) => [...f]), Array(4).fill([{ outcome: "rate_limited", n: 2_500 }]));
    const [{ logged }] = await test.db.query<{ logged: number }>(
      "select count(*)::int as logged from salesos.request_log where key_id = $1",
      [key.id],
    );
    assert.equal(logged, 0, "no request_log row per refusal");
    const [row] = await test.db.query<{ refused: number; rows: number }>(
      `select (select sum(requests)::int from salesos.request_counts where key_id = $1 and status = 429) as refused,
              (select count(*)::int from salesos.request_counts where key_id = $1 and status = 429) as rows`,
      [key.id],
    );
    assert.equal(row.refused, 10_000, "every refusal counted");
    assert.ok(row.rows >= 1 && row.rows <= 8, `10000 refusals wrote ${row.rows} counter rows (at most one per shard)`);
  });

  await t.step("a 403 (source address) is counted under its status too", async () => {
    await admit(3, "198.51.100.1");
    const [{ n }] = await test.db.query<{ n: number }>(
      "select sum(requests)::int as n from salesos.request_counts where key_id = $1 and status = 403",
      [key.id],
    );
    assert.equal(n, 3);
  });

  await t.step("usage shows them in the 4xx class and as 429, from the counts", async () => {
    const [{ usage }] = await test.db.query<{ usage: { totals: Record<string, number> } }>(
      "select salesos.api_key_usage($1, $2, now() - interval '1 hour', now() + interval '1 hour', 'hour') as usage",
      [tenant, key.id],
    );
    assert.deepEqual(usage.totals, { total: 10_003, "2xx": 0, "4xx": 10_003, "429": 10_000, "5xx": 0 });
  });
});

Deno.test("usage reads the hourly counts, not the log", async () => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const key = await createKey(test.db, tenant);
  await test.db.query(
    `insert into salesos.request_log (request_id, tenant_id, key_id, environment, action, status, latency_ms, created_at)
     select gen_random_uuid(), $1, $2, 'live', 'sync_activities', case when g % 10 = 0 then 500 else 200 end, 3,
            now() - (g * interval '1 minute')
       from pg_catalog.generate_series(1, 600) g`,
    [tenant, key.id],
  );
  const usage = async () =>
    (await test.db.query<{ usage: { totals: Record<string, number> } }>(
      "select salesos.api_key_usage($1, $2, now() - interval '1 day', now(), 'hour') as usage",
      [tenant, key.id],
    ))[0].usage.totals;
  assert.deepEqual(await usage(), { total: 600, "2xx": 540, "4xx": 0, "429": 0, "5xx": 60 });
  // The log rows gone (as when their partition is dropped), the counts remain.
  await test.db.query("delete from salesos.request_log where key_id = $1", [key.id]);
  assert.deepEqual(await usage(), { total: 600, "2xx": 540, "4xx": 0, "429": 0, "5xx": 60 });
});

Deno.test("the log is partitioned by UTC day and expires by dropping partitions", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const key = await createKey(test.db, tenant);
  const partitions = async () =>
    (await test.db.query<{ name: string }>(
      `select c.relname as name from pg_catalog.pg_inherits i join pg_catalog.pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'salesos.request_log'::regclass order by 1`,
    )).map((r) => r.name);
  const log = (at: string) =>
    test.db.query(
      `insert into salesos.request_log (request_id, tenant_id, key_id, environment, status, latency_ms, created_at)
       values (gen_random_uuid(), $1, $2, 'live', 200, 1, $3::timestamptz)`,
      [tenant, key.id, at],
    );
  const where = async () =>
    (await test.db.query<{ part: string; n: number }>(
      "select tableoid::regclass::text as part, count(*)::int as n from salesos.request_log group by 1 order by 1",
    )).map((r) => `${r.part}:${r.n}`);

  await t.step("today and the next three days have partitions, beside the default one", async () => {
    assert.deepEqual(await partitions(), [
      "request_log_default",
      ...[0, 1, 2, 3].map((d) => partitionOf(utcDay(d))),
    ]);
  });

  await t.step("a row outside every partition goes to the default one; creating its day moves it", async () => {
    const old = utcDay(-120);
    const kept = utcDay(-10);
    await log(`${old}T12:00:00Z`);
    await log(`${kept}T00:00:00Z`);
    await log(`${kept}T23:59:59.999Z`);
    await log(`${utcDay(0)}T00:00:00Z`);
    assert.deepEqual(await where(), ["salesos.request_log_default:3", `salesos.${partitionOf(utcDay(0))}:1`]);
    await test.db.query("select salesos.create_request_log_partition($1::date)", [old]);
    await test.db.query("select salesos.create_request_log_partition($1::date)", [kept]);
    assert.deepEqual(await where(), [
      `salesos.${partitionOf(old)}:1`,
      `salesos.${partitionOf(kept)}:2`,
      `salesos.${partitionOf(utcDay(0))}:1`,
    ]);
    const [{ rls, comment }] = await test.db.query<{ rls: boolean; comment: string }>(
      `select c.relrowsecurity as rls, pg_catalog.obj_description(c.oid, 'pg_class') as comment
         from pg_catalog.pg_class c where c.oid = ('salesos.' || $1)::regclass`,
      [partitionOf(kept)],
    );
    assert.equal(rls, true);
    assert.match(comment, /dropped by maintain_request_log/);
  });

  await t.step("maintenance drops the partitions past the retention, whole, and keeps the counts", async () => {
    await log(`${utcDay(-200)}T08:00:00Z`); // a stray old row in the default partition
    const actions = (await test.db.query<{ a: string }>("select salesos.maintain_request_log(90) as a")).map((r) =>
      r.a
    );
    assert.ok(actions.includes(`dropped ${partitionOf(utcDay(-120))}`), actions.join(", "));
    assert.ok(actions.includes("deleted 1 expired rows of request_log_default"), actions.join(", "));
    assert.ok(!(await partitions()).includes(partitionOf(utcDay(-120))));
    assert.ok((await partitions()).includes(partitionOf(utcDay(-10))));
    const [{ n }] = await test.db.query<{ n: number }>(
      "select sum(requests)::int as n from salesos.request_counts where key_id = $1",
      [key.id],
    );
    assert.equal(n, 5, "usage counts outlive the log");
    // A shorter retention, as a setting of the call.
    await test.db.query("select salesos.maintain_request_log(5)");
    assert.ok(!(await partitions()).includes(partitionOf(utcDay(-10))));
  });

  await t.step("the local server's timer runs the same maintenance", async () => {
    await test.db.query(`drop table salesos.${partitionOf(utcDay(3))}`);
    const reports: string[] = [];
    const maintenance = startMaintenance(test.db, { firstRunMs: 0, report: (e) => reports.push(e.message) });
    await maintenance.firstRun;
    await maintenance.stop();
    assert.ok((await partitions()).includes(partitionOf(utcDay(3))));
    assert.deepEqual(reports, ["request log maintained"]);
  });
});

Deno.test("deleting a key does not rewrite its log, however long", async () => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const key = await createKey(test.db, tenant);
  await test.db.query(
    `insert into salesos.request_log (request_id, tenant_id, key_id, environment, action, status, latency_ms, created_at)
     select gen_random_uuid(), $1, $2, 'live', 'sync_activities', 200, 3, now() - (g * interval '10 milliseconds')
       from pg_catalog.generate_series(1, 100000) g`,
    [tenant, key.id],
  );
  const started = performance.now();
  const [{ deleted }] = await test.db.query<{ deleted: { deleted: boolean } }>(
    "select salesos.delete_api_key($1, $2, null, 'cli', null) as deleted",
    [tenant, key.id],
  );
  const ms = performance.now() - started;
  assert.equal(deleted.deleted, true);
  assert.ok(ms < 2_000, `delete took ${Math.round(ms)} ms`);
  const [row] = await test.db.query<{ requests: unknown; usage: unknown }>(
    `select salesos.api_key_requests($1, $2, 10, null, null) as requests,
            salesos.api_key_usage($1, $2, now() - interval '1 hour', now(), 'hour') as usage`,
    [tenant, key.id],
  );
  assert.deepEqual([row.requests, row.usage], [null, null], "a deleted key's log and usage are not readable");
});

Deno.test("ids come from no global sequence", async (t) => {
  await using test = await freshDatabase();

  await t.step("audit ids count per tenant", async () => {
    const a = await createTenant(test.db);
    const b = await createTenant(test.db);
    await createKey(test.db, a);
    await createKey(test.db, b);
    await createKey(test.db, a);
    const ids = await test.db.query<{ tenant_id: string; id: string }>(
      "select tenant_id::text, id::text from salesos.audit_log where tenant_id in ($1, $2) order by tenant_id, id",
      [a, b],
    );
    assert.deepEqual(ids.filter((r) => r.tenant_id === a).map((r) => r.id), ["1", "2"]);
    assert.deepEqual(ids.filter((r) => r.tenant_id === b).map((r) => r.id), ["1"]);
  });

  await t.step("neither the audit log nor the request log owns a sequence", async () => {
    const owned = await test.db.query<{ owner: string }>(
      `select d.refobjid::regclass::text as owner from pg_catalog.pg_depend d
        where d.classid = 'pg_catalog.pg_class'::regclass and d.objid in
              (select c.oid from pg_catalog.pg_class c where c.relkind = 'S')
          and d.refobjid in ('salesos.audit_log'::regclass, 'salesos.request_log'::regclass)`,
    );
    assert.deepEqual([...owned], []);
  });
});

// Every primary key and unique constraint of a salesos table includes tenant_id (most lead with
// it; where rows are found by their own id alone, the id leads and the tenant follows), so the
// tables can later be distributed by tenant. The exceptions are listed here, each with its reason;
// a new constraint without the tenant fails this test until it is listed.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";

const exceptions: Record<string, string> = {
  // The per-tenant root: its id is the tenant id.
  "tenants PRIMARY KEY (id)": "the tenants table is the root: its id is the tenant id",
  "tenants UNIQUE (slug)": "the tenants table is the root: a slug names one tenant",
  // Authentication starts from the key alone and finds the tenant from it: the public key id
  // must name one key across all tenants (a lookup table in a distributed layout).
  "api_keys UNIQUE (key_prefix)": "authentication finds the tenant from the key's public id",
  // A signature is accepted once across every key and tenant (a replay of one key's request under another is no risk, but the table is looked up by signature alone).
  "request_signatures PRIMARY KEY (signature)": "a P2S-SIGN-V1 signature is accepted once, whatever its tenant",
};

Deno.test("every primary key and unique constraint of salesos includes tenant_id, but the listed exceptions", async (t) => {
  await using test = await freshDatabase();
  const constraints = await test.db.query<{ name: string; has_tenant: boolean; leads: boolean }>(
    `select c.conrelid::regclass::text as relation, t.relname || ' ' || pg_catalog.pg_get_constraintdef(c.oid) as name,
            exists (select 1 from unnest(c.conkey) k join pg_catalog.pg_attribute a
                      on a.attrelid = c.conrelid and a.attnum = k where a.attname = 'tenant_id') as has_tenant,
            (select a.attname from pg_catalog.pg_attribute a
              where a.attrelid = c.conrelid and a.attnum = c.conkey[1]) = 'tenant_id' as leads
       from pg_catalog.pg_constraint c
       join pg_catalog.pg_class t on t.oid = c.conrelid
       join pg_catalog.pg_namespace n on n.oid = t.relnamespace
      where n.nspname = 'salesos' and c.contype in ('p', 'u')
        and not t.relispartition
      order by 2`,
  );

  await t.step("the catalog has them (not vacuous)", () => {
    assert.ok(constraints.length >= 10, `${constraints.length} constraints`);
  });

  await t.step("each includes tenant_id, or is a listed exception", () => {
    const missing = constraints.filter((c) => !c.has_tenant && !(c.name in exceptions)).map((c) => c.name);
    assert.deepEqual(missing, []);
  });

  await t.step("every listed exception still exists and still lacks the tenant (the list stays true)", () => {
    const lacking = new Set(constraints.filter((c) => !c.has_tenant).map((c) => c.name));
    assert.deepEqual(Object.keys(exceptions).filter((name) => !lacking.has(name)), []);
  });

  await t.step("partitions inherit their parent's keys, tenant included", async () => {
    const [{ n }] = await test.db.query<{ n: number }>(
      `select count(*)::int as n
         from pg_catalog.pg_constraint c join pg_catalog.pg_class t on t.oid = c.conrelid
        where t.relnamespace = 'salesos'::regnamespace and t.relispartition and c.contype in ('p', 'u')
          and not exists (select 1 from unnest(c.conkey) k join pg_catalog.pg_attribute a
                           on a.attrelid = c.conrelid and a.attnum = k where a.attname = 'tenant_id')`,
    );
    assert.equal(n, 0);
  });
});

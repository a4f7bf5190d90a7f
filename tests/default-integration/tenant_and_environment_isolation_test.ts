// A sk_test_ key lives apart from the sk_live_ keys of its tenant, and tenants never
// see each other's collaborators or activities.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";

const maria = { external_id: "emp-101", name: "Maria Santos", email: "maria@yourcompany.com", team: "Live Team" };
const call = (externalId: string, email = maria.email) => ({
  activity_code: "001",
  external_id: externalId,
  collaborator_email: email,
  data: { client: "Acme Corp" },
});

Deno.test("environment isolation: sk_test_ and sk_live_ keys of one tenant", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const live = (await createKey(test.db, tenant, { environment: "live" })).key;
  const testKey = (await createKey(test.db, tenant, { environment: "test" })).key;
  const secondLive = (await createKey(test.db, tenant, { environment: "live" })).key;
  const api = integrationHarness(test.db);

  const collaboratorRows = () =>
    test.db.query<{ environment: string; external_id: string; name: string; team: string | null }>(
      "select environment, external_id, name, team from salesos.collaborators where tenant_id = $1 order by environment",
      [tenant],
    );
  const activityRows = (externalId: string) =>
    test.db.query<{ environment: string; collaborator_environment: string; activity_code: string }>(
      `select a.environment, c.environment as collaborator_environment, a.activity_code
         from salesos.activities a join salesos.collaborators c on c.id = a.collaborator_id
        where a.tenant_id = $1 and a.external_id = $2 order by a.environment`,
      [tenant, externalId],
    );

  await t.step(
    "collaborators synced with a live key are unknown to a test key: its activities are skipped",
    async () => {
      const synced = await api.post(live, { action: "sync_collaborators", collaborators: [maria] });
      assert.deepEqual(synced.json.data, { created: 1, existing: 0, errors: [], total: 1 });

      const res = await api.post(testKey, { action: "sync_activities", activities: [call("crm-1")] });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json.data, { processed: 0, skipped: 1, duplicates: 0, errors: [], total: 1 });
      assert.deepEqual([...await activityRows("crm-1")], []);
    },
  );

  await t.step("another live key of the same tenant sees the live collaborators", async () => {
    const res = await api.post(secondLive, { action: "sync_activities", activities: [call("crm-1")] });
    assert.deepEqual(res.json.data, { processed: 1, skipped: 0, duplicates: 0, errors: [], total: 1 });
  });

  await t.step(
    "the same email synced with a test key is a new, separate collaborator with the same external_id",
    async () => {
      const res = await api.post(testKey, {
        action: "sync_collaborators",
        collaborators: [{ ...maria, name: "Maria (sandbox)", team: "Test Team" }],
      });
      assert.deepEqual(res.json.data, { created: 1, existing: 0, errors: [], total: 1 });
      assert.deepEqual(
        [...await collaboratorRows()],
        [
          { environment: "live", external_id: "emp-101", name: "Maria Santos", team: "Live Team" },
          { environment: "test", external_id: "emp-101", name: "Maria (sandbox)", team: "Test Team" },
        ],
      );
    },
  );

  await t.step("a test key never changes live data", async () => {
    const res = await api.post(testKey, {
      action: "sync_collaborators",
      collaborators: [{ ...maria, external_id: "emp-999", name: "Renamed In Test", team: "Changed" }],
    });
    assert.deepEqual(res.json.data, { created: 0, existing: 1, errors: [], total: 1 });
    const rows = await collaboratorRows();
    assert.deepEqual(rows.find((r) => r.environment === "live"), {
      environment: "live",
      external_id: "emp-101",
      name: "Maria Santos",
      team: "Live Team",
    });
    assert.equal(rows.find((r) => r.environment === "test")?.name, "Renamed In Test");
  });

  await t.step(
    "the same activity external_id is stored once per environment, each with its own collaborator",
    async () => {
      const inTest = await api.post(testKey, { action: "sync_activities", activities: [call("crm-1")] });
      assert.deepEqual(inTest.json.data, { processed: 1, skipped: 0, duplicates: 0, errors: [], total: 1 });
      assert.deepEqual(
        [...await activityRows("crm-1")],
        [
          { environment: "live", collaborator_environment: "live", activity_code: "001" },
          { environment: "test", collaborator_environment: "test", activity_code: "001" },
        ],
      );
      // Replays are duplicates in each environment on its own.
      for (const key of [live, testKey]) {
        const replay = await api.post(key, { action: "sync_activities", activities: [call("crm-1")] });
        assert.deepEqual(replay.json.data.duplicates, 1);
      }
    },
  );

  await t.step("a live key never changes or reads test data", async () => {
    const testOnly = { external_id: "sandbox-1", name: "Only In Test", email: "sandbox@yourcompany.com" };
    await api.post(testKey, { action: "sync_collaborators", collaborators: [testOnly] });
    const res = await api.post(live, { action: "sync_activities", activities: [call("crm-2", testOnly.email)] });
    assert.deepEqual(res.json.data, { processed: 0, skipped: 1, duplicates: 0, errors: [], total: 1 });
    const before = await collaboratorRows();
    const liveSync = await api.post(live, {
      action: "sync_collaborators",
      collaborators: [{ ...testOnly, name: "Live" }],
    });
    assert.deepEqual(liveSync.json.data, { created: 1, existing: 0, errors: [], total: 1 });
    const after = await collaboratorRows();
    assert.deepEqual(after.filter((r) => r.environment === "test"), before.filter((r) => r.environment === "test"));
  });

  await t.step("an external_id held in the other environment is no conflict", async () => {
    const res = await api.post(live, {
      action: "sync_collaborators",
      collaborators: [{ external_id: "emp-999", name: "Live Holder", email: "other@yourcompany.com" }],
    });
    assert.deepEqual(res.json.data, { created: 1, existing: 0, errors: [], total: 1 });
  });

  await t.step("every row a key wrote carries that key's environment", async () => {
    const [{ mismatched }] = await test.db.query<{ mismatched: string }>(
      `select count(*) as mismatched from salesos.activities a join salesos.collaborators c on c.id = a.collaborator_id
        where a.environment <> c.environment or a.tenant_id <> c.tenant_id`,
    );
    assert.equal(Number(mismatched), 0);
    const log = await test.db.query<{ environment: string; key_environment: string }>(
      `select r.environment, k.environment as key_environment
         from salesos.request_log r join salesos.api_keys k on k.id = r.key_id where r.tenant_id = $1`,
      [tenant],
    );
    assert.ok(log.length > 0);
    for (const row of log) assert.equal(row.environment, row.key_environment);
  });
});

Deno.test("tenant isolation", async (t) => {
  await using test = await freshDatabase();
  const tenantA = await createTenant(test.db);
  const tenantB = await createTenant(test.db);
  const keyA = (await createKey(test.db, tenantA)).key;
  const keyB = (await createKey(test.db, tenantB)).key;
  const testKeyB = (await createKey(test.db, tenantB, { environment: "test" })).key;
  const api = integrationHarness(test.db);

  const rowsOf = (tenant: string) =>
    test.db.query<{ external_id: string; name: string }>(
      "select external_id, name from salesos.collaborators where tenant_id = $1 order by external_id",
      [tenant],
    );

  await t.step("a collaborator of one tenant is unknown to another: its activities are skipped", async () => {
    await api.post(keyA, { action: "sync_collaborators", collaborators: [maria] });
    for (const key of [keyB, testKeyB]) {
      const res = await api.post(key, { action: "sync_activities", activities: [call("crm-1")] });
      assert.deepEqual(res.json.data, { processed: 0, skipped: 1, duplicates: 0, errors: [], total: 1 });
    }
    const [{ n }] = await test.db.query<{ n: string }>(
      "select count(*) as n from salesos.activities where tenant_id = $1",
      [
        tenantB,
      ],
    );
    assert.equal(Number(n), 0);
  });

  await t.step("the same email and external_id in another tenant is a new collaborator, not a conflict", async () => {
    const res = await api.post(keyB, {
      action: "sync_collaborators",
      collaborators: [{ ...maria, name: "Maria at B" }],
    });
    assert.deepEqual(res.json.data, { created: 1, existing: 0, errors: [], total: 1 });
    assert.deepEqual([...await rowsOf(tenantA)], [{ external_id: "emp-101", name: "Maria Santos" }]);
    assert.deepEqual([...await rowsOf(tenantB)], [{ external_id: "emp-101", name: "Maria at B" }]);
  });

  await t.step("the same activity external_id is stored once per tenant, each on its own collaborator", async () => {
    const a = await api.post(keyA, { action: "sync_activities", activities: [call("crm-1")] });
    const b = await api.post(keyB, { action: "sync_activities", activities: [call("crm-1")] });
    assert.deepEqual(a.json.data.processed, 1);
    assert.deepEqual(b.json.data.processed, 1);
    const rows = await test.db.query<{ tenant_id: string; collaborator_tenant: string; name: string }>(
      `select a.tenant_id::text, c.tenant_id::text as collaborator_tenant, c.name
         from salesos.activities a join salesos.collaborators c on c.id = a.collaborator_id
        where a.external_id = 'crm-1'`,
    );
    const byTenant = Object.fromEntries(rows.map((r) => [r.tenant_id, { ...r }]));
    assert.equal(rows.length, 2);
    assert.deepEqual(byTenant, {
      [tenantA]: { tenant_id: tenantA, collaborator_tenant: tenantA, name: "Maria Santos" },
      [tenantB]: { tenant_id: tenantB, collaborator_tenant: tenantB, name: "Maria at B" },
    });
  });

  await t.step("one tenant's updates never change another tenant's collaborator", async () => {
    const res = await api.post(keyB, {
      action: "sync_collaborators",
      collaborators: [{ ...maria, external_id: "emp-b-1", name: "Changed by B" }],
    });
    assert.deepEqual(res.json.data, { created: 0, existing: 1, errors: [], total: 1 });
    assert.deepEqual([...await rowsOf(tenantA)], [{ external_id: "emp-101", name: "Maria Santos" }]);
  });

  await t.step("another tenant's activities are never duplicates of mine", async () => {
    await api.post(keyA, { action: "sync_activities", activities: [call("crm-only-a")] });
    const res = await api.post(keyB, { action: "sync_activities", activities: [call("crm-only-a")] });
    assert.deepEqual(res.json.data, { processed: 1, skipped: 0, duplicates: 0, errors: [], total: 1 });
  });
});

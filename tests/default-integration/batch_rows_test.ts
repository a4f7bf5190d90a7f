// The SQL functions take a batch as positional rows (migration 20261129000200). Objects, as a
// caller older than that migration sends them, are refused whole: read as rows they would be
// empty, and the request would answer 200 with nothing stored.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createTenant } from "../support/fixtures.ts";

Deno.test("batches as rows", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const syncCollaborators = (items: unknown) =>
    test.db.query(
      "select * from salesos.sync_collaborators($1::uuid, 'live', null, gen_random_uuid(), null, 0, 1, $2::text::jsonb)",
      [tenant, JSON.stringify(items)],
    );
  const syncActivities = (items: unknown) =>
    test.db.query(
      "select * from salesos.sync_activities($1::uuid, 'live', null, gen_random_uuid(), null, 0, $2::text::jsonb)",
      [tenant, JSON.stringify(items)],
    );
  const refused = (error: { code?: string }) => error.code === "22023";
  const stored = async (table: string) =>
    (await test.db.query<{ n: number }>(`select count(*)::integer as n from salesos.${table}`))[0].n;

  await t.step("sync_collaborators stores rows and refuses objects", async () => {
    const [result] = await syncCollaborators([[0, "emp-1", "Ana", "ana@example.com", null, null, null, null, null]]);
    assert.deepEqual(result, { outcome: "applied", data: { created: 1, existing: 0, errors: [], total: 1 } });
    await assert.rejects(
      syncCollaborators([{ ord: 0, external_id: "emp-2", name: "Bo", email: "bo@example.com" }]),
      refused,
    );
    assert.equal(await stored("collaborators"), 1);
  });

  await t.step("sync_activities stores rows and refuses objects", async () => {
    const [result] = await syncActivities([[0, "001", "act-1", "ana@example.com", { n: 1 }, null]]);
    assert.deepEqual(result, {
      outcome: "applied",
      data: { processed: 1, skipped: 0, duplicates: 0, errors: [], total: 1 },
    });
    await assert.rejects(
      syncActivities([{ ord: 0, activity_code: "001", external_id: "act-2", collaborator_email: "ana@example.com" }]),
      refused,
    );
    assert.equal(await stored("activities"), 1);
  });
});

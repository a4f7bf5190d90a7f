// Numbers in `metadata` (collaborators) and `data` (activities) are stored exactly as the client
// wrote them, or refused: never changed silently. A number a double cannot give back as written (not
// finite, a non-zero literal that rounds to 0, more significant digits than a double holds) is an item error
// for a collaborator and a `details` entry for an activity (nothing written).
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";

const refused = [
  "1e400",
  "-1e400",
  "1e-400",
  "12345678901234567890",
  "-12345678901234567890",
  `0.${"0".repeat(400)}1`,
  "12345678901234567890.0",
  "1.2345678901234567891e19",
  "0.10000000000000000001",
];
const kept: [string, unknown][] = [
  ["0.1", 0.1],
  ["1.5e3", 1500],
  ["42", 42],
  ["-7.25", -7.25],
  ["0", 0],
  ["-0.0", 0],
  ["0e10", 0],
  ["9007199254740991", 9007199254740991],
  ["1e20", 1e20],
  ["2.5E-3", 0.0025],
];

Deno.test("numbers in metadata and data: stored exactly or refused", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const { key } = await createKey(test.db, tenant, { rate_limit_per_hour: 100_000 });
  const api = integrationHarness(test.db);
  const raw = (text: string) => api.post(key, text, { headers: { "content-type": "application/json" } });

  await t.step("collaborators: an inexact number is the item's error, the rest is written", async () => {
    for (const [i, literal] of refused.entries()) {
      const res = await raw(
        `{"action":"sync_collaborators","collaborators":[` +
          `{"external_id":"num-${i}","name":"N","email":"num${i}@example.com","metadata":{"deep":{"n":[${literal}]}}},` +
          `{"external_id":"ok-${i}","name":"O","email":"ok${i}@example.com","metadata":{"n":1}}]}`,
      );
      assert.equal(res.status, 200, literal);
      assert.equal(res.json.data.created, 1, literal);
      assert.equal(res.json.data.errors.length, 1, literal);
      assert.match(
        res.json.data.errors[0],
        new RegExp(
          `^Collaborator num-${i} \\(num${i}@example\\.com\\): metadata has a number that cannot be stored exactly`,
        ),
      );
      const [{ count }] = await test.db.query<{ count: number }>(
        "select count(*)::int as count from salesos.collaborators where tenant_id = $1 and email = $2",
        [tenant, `num${i}@example.com`],
      );
      assert.equal(count, 0, `${literal} was stored`);
    }
  });

  await t.step("collaborators: ordinary numbers are stored unchanged", async () => {
    const metadata = `{${kept.map(([literal], i) => `"n${i}":${literal}`).join(",")}}`;
    const res = await raw(
      `{"action":"sync_collaborators","collaborators":[{"external_id":"kept","name":"K","email":"kept@example.com","metadata":${metadata}}]}`,
    );
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.data.errors, []);
    const [row] = await test.db.query<{ metadata: Record<string, unknown> }>(
      "select metadata from salesos.collaborators where tenant_id = $1 and email = 'kept@example.com'",
      [tenant],
    );
    assert.deepEqual(row.metadata, Object.fromEntries(kept.map(([, value], i) => [`n${i}`, value])));
  });

  await t.step("activities: an inexact number refuses the batch with a details entry for data", async () => {
    for (const literal of refused) {
      const res = await raw(
        `{"action":"sync_activities","activities":[` +
          `{"activity_code":"001","external_id":"ok","collaborator_email":"kept@example.com","data":{"n":1}},` +
          `{"activity_code":"001","external_id":"bad","collaborator_email":"kept@example.com","data":{"a":{"b":${literal}}}}]}`,
      );
      assert.equal(res.status, 400, literal);
      assert.equal(res.json.error.message, "Invalid activities payload");
      assert.equal(res.json.error.details.length, 1, literal);
      assert.equal(res.json.error.details[0].index, 1);
      assert.equal(res.json.error.details[0].field, "data");
      assert.match(res.json.error.details[0].message, /number that cannot be stored exactly/);
    }
    const [{ count }] = await test.db.query<{ count: number }>(
      "select count(*)::int as count from salesos.activities where tenant_id = $1",
      [tenant],
    );
    assert.equal(count, 0);
  });

  await t.step("activities: ordinary numbers are stored unchanged", async () => {
    const data = `{${kept.map(([literal], i) => `"n${i}":${literal}`).join(",")}}`;
    const res = await raw(
      `{"action":"sync_activities","activities":[{"activity_code":"001","external_id":"nums","collaborator_email":"kept@example.com","data":${data}}]}`,
    );
    assert.equal(res.status, 200);
    assert.equal(res.json.data.processed, 1);
    const [row] = await test.db.query<{ data: Record<string, unknown> }>(
      "select data from salesos.activities where tenant_id = $1 and external_id = 'nums'",
      [tenant],
    );
    assert.deepEqual(row.data, Object.fromEntries(kept.map(([, value], i) => [`n${i}`, value])));
  });

  await t.step("an inexact number elsewhere (a string field) is that field's ordinary error", async () => {
    const res = await raw(
      `{"action":"sync_collaborators","collaborators":[{"external_id":1e400,"name":"X","email":"x@example.com"}]}`,
    );
    assert.equal(res.status, 200);
    assert.equal(res.json.data.errors.length, 1);
    assert.match(res.json.data.errors[0], /external_id must be a string/);
  });

  await t.step("a body with such a number, nested deeper than the parser can follow, is a 400, not a 500", async () => {
    const depth = 100_000;
    const deep = `{"a":`.repeat(depth) + "1" + "}".repeat(depth);
    const res = await raw(`{"action":"sync_collaborators","n":1.5e-323,"collaborators":[],"x":${deep}}`);
    assert.deepEqual([res.status, res.json.error?.code, res.json.error?.message], [
      400,
      "VALIDATION_ERROR",
      "Request body is nested too deeply",
    ]);
  });
});

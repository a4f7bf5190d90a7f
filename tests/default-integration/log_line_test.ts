// One structured JSON log line per request: request id, key prefix, tenant, environment,
// action, status, latency and item counts, as soon as each is known; never a key or a secret part.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant, unknownKey, withWrongSecret } from "../support/fixtures.ts";
import { type Answer, integrationHarness } from "../support/integration.ts";

Deno.test("request log line", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const live = await createKey(test.db, tenant);
  const testKey = await createKey(test.db, tenant, { environment: "test" });
  const scopeless = await createKey(test.db, tenant, { scopes: ["leads:read"] });
  const api = integrationHarness(test.db);
  const lineOf = (res: Answer) => {
    const lines = api.logs.filter((line) => line.request_id === res.headers.get("x-request-id"));
    assert.equal(lines.length, 1, "exactly one line per request");
    return lines[0];
  };
  const common = (line: Record<string, unknown>, res: Answer, method = "POST") => {
    assert.equal(line.function, "default-integration");
    assert.equal(line.request_id, res.json.meta.request_id);
    assert.equal(line.method, method);
    assert.equal(line.status, res.status);
    assert.ok(Number.isInteger(line.latency_ms) && (line.latency_ms as number) >= 0, "latency in whole ms");
    assert.ok(!Number.isNaN(Date.parse(String(line.time))), "a time");
    assert.equal(line.level, res.status >= 500 ? "error" : "info");
  };

  await t.step("sync_collaborators: key prefix, tenant, environment, action and its counts", async () => {
    const res = await api.post(live.key, {
      action: "sync_collaborators",
      collaborators: [
        { external_id: "emp-1", name: "Ana", email: "ana@example.com" },
        { external_id: "emp-2", name: "Bo", email: "not-an-email" },
      ],
    });
    assert.equal(res.status, 200);
    const line = lineOf(res);
    common(line, res);
    assert.deepEqual(
      [line.path, line.key_prefix, line.tenant_id, line.environment, line.action],
      ["/default-integration", live.keyPrefix, tenant, "live", "sync_collaborators"],
    );
    assert.deepEqual(line.item_counts, { created: 1, existing: 0, total: 2, errors: 1 });
  });

  await t.step("sync_activities with a test key: environment test and the activity counts", async () => {
    const res = await api.post(testKey.key, {
      action: "sync_activities",
      activities: [{ activity_code: "001", external_id: "a-1", collaborator_email: "nobody@example.com" }],
    });
    assert.equal(res.status, 200);
    const line = lineOf(res);
    common(line, res);
    assert.deepEqual(
      [line.key_prefix, line.tenant_id, line.environment, line.action],
      [testKey.keyPrefix, tenant, "test", "sync_activities"],
    );
    assert.deepEqual(line.item_counts, { processed: 0, skipped: 1, duplicates: 0, total: 1, errors: 0 });
  });

  await t.step("a refused request logs what was known: a 403 has the key, a 400 the action", async () => {
    const forbidden = await api.post(scopeless.key, { action: "sync_activities", activities: [] });
    assert.equal(forbidden.status, 403);
    const line = lineOf(forbidden);
    common(line, forbidden);
    assert.deepEqual([line.key_prefix, line.tenant_id, line.environment], [scopeless.keyPrefix, tenant, "live"]);
    assert.equal(line.action, undefined, "the body is not read before admission");

    const invalid = await api.post(live.key, { action: "sync_activities", activities: [{}] });
    assert.equal(invalid.status, 400);
    const invalidLine = lineOf(invalid);
    common(invalidLine, invalid);
    assert.equal(invalidLine.action, "sync_activities");
    assert.equal(invalidLine.item_counts, undefined, "no counts when nothing was processed");
  });

  await t.step("an unknown key logs request id, status and latency, and nothing of the key", async () => {
    const brokenChecksum = live.key.slice(0, -6) + (live.key.endsWith("000000") ? "000001" : "000000");
    for (const forged of [unknownKey(), withWrongSecret(live.key), brokenChecksum]) {
      const res = await api.post(forged, { action: "sync_activities", activities: [] });
      assert.equal(res.status, 401, forged);
      const line = lineOf(res);
      common(line, res);
      assert.equal(line.key_prefix, undefined, forged);
      assert.equal(line.tenant_id, undefined, forged);
      assert.ok(!JSON.stringify(line).includes(forged.slice(16)), forged);
    }
  });

  await t.step("no line holds a key or its secret part", () => {
    const everything = JSON.stringify(api.logs);
    for (const key of [live.key, testKey.key, scopeless.key]) {
      assert.ok(!everything.includes(key));
      assert.ok(!everything.includes(key.slice(16)));
    }
  });
});

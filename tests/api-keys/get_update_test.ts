// GET /api-keys/:id and PATCH /api-keys/:id: name, scopes, rate_limit_per_hour, expires_at,
// ip_allowlist, validated like create; environment is not patchable; the audit entry records
// what changed; the change acts on default-integration's very next request.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";
import { apiKeysHarness, member } from "../support/api_keys.ts";

const empty = { action: "sync_activities", activities: [] };

Deno.test("get and update", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db);
  const integration = integrationHarness(test.db);
  const patch = (id: string, body: unknown) => api.call({ method: "PATCH", path: `/${id}`, token: owner.token, body });
  const audits = (id: string) =>
    test.db.query<{ action: string; changes: Record<string, unknown>; actor_id: string }>(
      "select action, changes, actor_id from salesos.audit_log where key_id = $1 and action = 'key.update' order by id",
      [id],
    );

  await t.step("GET returns the key object, with usage fields kept up to date", async () => {
    const key = await createKey(test.db, tenant, { name: "reader" });
    await integration.post(key.key, empty, { ip: "198.51.100.20" });
    const res = await api.call({ path: `/${key.id}`, token: owner.token });
    assert.equal(res.status, 200);
    assert.equal(res.json.data.id, key.id);
    assert.equal(res.json.data.name, "reader");
    assert.equal(res.json.data.request_count, 1);
    assert.equal(res.json.data.last_used_ip, "198.51.100.20");
    assert.equal(typeof res.json.data.last_used_at, "string");
  });

  await t.step("GET of an unknown id is 404", async () => {
    const res = await api.call({ path: `/${crypto.randomUUID()}`, token: owner.token });
    assert.deepEqual([res.status, res.json.error], [404, {
      code: "NOT_FOUND",
      message: "API key not found",
      doc_url: "http://127.0.0.1:54321/docs/errors.md#not_found",
    }]);
  });

  await t.step("PATCH changes each given field and leaves the others", async () => {
    const key = await createKey(test.db, tenant, { name: "before", scopes: ["default:sync"], rate_limit_per_hour: 10 });
    const expires = new Date(Date.now() + 3_600_000).toISOString();
    const res = await patch(key.id, { name: "after", expires_at: expires });
    assert.equal(res.status, 200);
    assert.deepEqual(
      [res.json.data.name, res.json.data.expires_at, res.json.data.scopes, res.json.data.rate_limit_per_hour],
      ["after", expires, ["default:sync"], 10],
    );
    const all = await patch(key.id, {
      scopes: ["leads:read", "leads:write"],
      rate_limit_per_hour: 99,
      ip_allowlist: ["192.0.2.0/24"],
      expires_at: null,
    });
    assert.deepEqual(
      [
        all.json.data.name,
        all.json.data.scopes,
        all.json.data.rate_limit_per_hour,
        all.json.data.ip_allowlist,
        all.json.data.expires_at,
      ],
      ["after", ["leads:read", "leads:write"], 99, ["192.0.2.0/24"], null],
    );
    const cleared = await patch(key.id, { ip_allowlist: null });
    assert.deepEqual(cleared.json.data.ip_allowlist, []);
  });

  await t.step("each change is audited as {field: {from, to}}, by whom", async () => {
    const key = await createKey(test.db, tenant, { name: "audited", rate_limit_per_hour: 10 });
    await patch(key.id, { name: "renamed", rate_limit_per_hour: 20, scopes: ["default:sync"] });
    const entries = await audits(key.id);
    assert.equal(entries.length, 1, "one entry for the whole patch");
    assert.deepEqual(entries[0], {
      action: "key.update",
      actor_id: owner.userId,
      changes: { name: { from: "audited", to: "renamed" }, rate_limit_per_hour: { from: 10, to: 20 } },
    });
  });

  await t.step("a patch that changes nothing answers the key and writes no audit entry", async () => {
    const key = await createKey(test.db, tenant, { name: "same" });
    for (const body of [{}, { name: "same" }]) {
      const res = await patch(key.id, body);
      assert.deepEqual([res.status, res.json.data.name], [200, "same"]);
    }
    assert.deepEqual([...await audits(key.id)], []);
  });

  await t.step("PATCH is validated like create", async () => {
    const key = await createKey(test.db, tenant);
    const cases: [unknown, string][] = [
      [{ name: "" }, "name"],
      [{ name: "x".repeat(101) }, "name"],
      [{ scopes: ["root"] }, "scopes[0]"],
      [{ rate_limit_per_hour: 0 }, "rate_limit_per_hour"],
      [{ rate_limit_per_hour: 100_001 }, "rate_limit_per_hour"],
      [{ expires_at: "2001-01-01T00:00:00Z" }, "expires_at"],
      [{ ip_allowlist: ["10.0.0.1/8"] }, "ip_allowlist[0]"],
      [{ ip_allowlist: Array.from({ length: 101 }, (_, i) => `10.0.${i}.1`) }, "ip_allowlist"],
    ];
    for (const [body, field] of cases) {
      const res = await patch(key.id, body);
      assert.deepEqual([res.status, res.json.error.code, res.json.error.message], [
        400,
        "VALIDATION_ERROR",
        "Invalid API key settings",
      ]);
      assert.equal(res.json.error.details[0].field, field, JSON.stringify(body).slice(0, 60));
    }
    const notObject = await patch(key.id, [1]);
    assert.deepEqual([notObject.status, notObject.json.error.message], [400, "Request body must be a JSON object"]);
    const [row] = await test.db.query("select name, rate_limit_per_hour from salesos.api_keys where id = $1", [key.id]);
    assert.deepEqual(row, { name: "test key", rate_limit_per_hour: 1000 });
  });

  await t.step("environment cannot be patched", async () => {
    const key = await createKey(test.db, tenant);
    const res = await patch(key.id, { environment: "test" });
    assert.deepEqual(res.json.error.details, [{
      field: "environment",
      message: "environment cannot be changed: create a new key instead",
    }]);
    assert.equal(res.status, 400);
  });

  await t.step("a revoked or expired key cannot be changed: 409", async () => {
    const revoked = await createKey(test.db, tenant);
    await api.call({ method: "POST", path: `/${revoked.id}/revoke`, token: owner.token });
    const expired = await createKey(test.db, tenant);
    await test.db.query("update salesos.api_keys set expires_at = now() where id = $1", [expired.id]);
    for (const id of [revoked.id, expired.id]) {
      const res = await patch(id, { expires_at: new Date(Date.now() + 86_400_000).toISOString() });
      assert.deepEqual([res.status, res.json.error.code, res.json.error.message], [
        409,
        "CONFLICT",
        "API key is revoked or expired",
      ]);
    }
  });

  await t.step("PATCH of an unknown key is 404", async () => {
    assert.equal((await patch(crypto.randomUUID(), { name: "x" })).status, 404);
  });

  await t.step("changes act on default-integration's next request, on every instance", async () => {
    const other = integrationHarness(test.connect());
    const key = await createKey(test.db, tenant, { scopes: ["default:sync"] });
    for (const instance of [integration, other]) assert.equal((await instance.post(key.key, empty)).status, 200);

    await patch(key.id, { scopes: ["leads:read"] });
    for (const instance of [integration, other]) {
      const res = await instance.post(key.key, empty);
      assert.deepEqual([res.status, res.json.error.message], [403, "API key missing required scopes: default:sync"]);
    }
    await patch(key.id, { scopes: [], ip_allowlist: ["192.0.2.1"] });
    for (const instance of [integration, other]) {
      const res = await instance.post(key.key, empty, { ip: "192.0.2.2" });
      assert.deepEqual([res.status, res.json.error.message], [403, "Request IP is not allowed for this API key"]);
      assert.equal((await instance.post(key.key, empty, { ip: "192.0.2.1" })).status, 200);
    }
    await patch(key.id, { ip_allowlist: [], rate_limit_per_hour: 7 });
    for (const instance of [integration, other]) {
      const limited = await instance.post(key.key, empty);
      assert.equal(limited.headers.get("x-ratelimit-limit"), "7");
    }
  });
});

// POST /api-keys/:id/revoke (now, idempotent, audit kept) and DELETE /api-keys/:id (permanent);
// both act on default-integration's very next request, on every instance, although it cached the key.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";
import { isoMs } from "../support/patterns.ts";
import { apiKeysHarness, member } from "../support/api_keys.ts";

const empty = { action: "sync_activities", activities: [] };
const invalidKey = "Invalid or expired API key";

Deno.test("revoke", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db);
  const revoke = (id: string) => api.call({ method: "POST", path: `/${id}/revoke`, token: owner.token });

  await t.step(
    "a key created and used through the API is refused on the very next request after revoke, on every instance",
    async () => {
      const created = await api.call({
        method: "POST",
        token: owner.token,
        body: { name: "to revoke", scopes: ["default:sync"] },
      });
      const { id, key } = created.json.data;
      const instances = [integrationHarness(test.db), integrationHarness(test.connect())];
      for (const instance of instances) assert.equal((await instance.post(key, empty)).status, 200);

      const res = await revoke(id);
      assert.equal(res.status, 200);
      assert.equal(res.json.data.status, "revoked");
      assert.match(res.json.data.revoked_at, isoMs);
      for (const instance of instances) {
        const refused = await instance.post(key, empty);
        assert.deepEqual([refused.status, refused.json.error.message], [401, invalidKey]);
      }
    },
  );

  await t.step("revoking again is 200 with the same revoked_at and no second audit entry", async () => {
    const key = await createKey(test.db, tenant);
    const first = await revoke(key.id);
    const second = await revoke(key.id);
    assert.equal(second.status, 200);
    assert.equal(second.json.data.revoked_at, first.json.data.revoked_at);
    const entries = await test.db.query<{ action: string; actor_id: string; ip: string; changes: unknown }>(
      "select action, actor_id, host(source_ip) as ip, changes from salesos.audit_log where key_id = $1 and action = 'key.revoke'",
      [key.id],
    );
    assert.deepEqual([...entries], [{
      action: "key.revoke",
      actor_id: owner.userId,
      ip: "127.0.0.1",
      changes: { revoked_at: first.json.data.revoked_at },
    }]);
  });

  await t.step("a revoked key stays listed, with its history", async () => {
    const key = await createKey(test.db, tenant, { name: "history" });
    await revoke(key.id);
    const got = await api.call({ path: `/${key.id}`, token: owner.token });
    assert.deepEqual([got.status, got.json.data.status], [200, "revoked"]);
    const audit = await api.call({ path: `/audit?key_id=${key.id}`, token: owner.token });
    assert.deepEqual(audit.json.data.map((e: { action: string }) => e.action), ["key.revoke", "key.create"]);
  });

  await t.step("revoke of an unknown key is 404", async () => {
    assert.equal((await revoke(crypto.randomUUID())).status, 404);
  });
});

Deno.test("delete", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db);
  const remove = (id: string) => api.call({ method: "DELETE", path: `/${id}`, token: owner.token });

  await t.step("DELETE removes the key for good; default-integration refuses it on the next request", async () => {
    const key = await createKey(test.db, tenant, { name: "doomed" });
    const instances = [integrationHarness(test.db), integrationHarness(test.connect())];
    for (const instance of instances) assert.equal((await instance.post(key.key, empty)).status, 200);

    const res = await remove(key.id);
    assert.deepEqual([res.status, res.json.data], [200, { id: key.id, key_prefix: key.keyPrefix, deleted: true }]);
    for (const instance of instances) {
      const refused = await instance.post(key.key, empty);
      assert.deepEqual([refused.status, refused.json.error.message], [401, invalidKey]);
    }
    assert.equal((await api.call({ path: `/${key.id}`, token: owner.token })).status, 404);
    const [{ count }] = await test.db.query<{ count: number }>(
      "select count(*)::int as count from salesos.api_keys where id = $1",
      [key.id],
    );
    assert.equal(count, 0);
  });

  await t.step(
    "its audit history and request log outlive it; the log is no longer readable through the API",
    async () => {
      const key = await createKey(test.db, tenant, { name: "remembered" });
      const used = await integrationHarness(test.db).post(key.key, empty);
      await remove(key.id);
      const audit = await api.call({ path: `/audit?key_id=${key.id}`, token: owner.token });
      assert.deepEqual(audit.json.data.map((e: { action: string }) => e.action), ["key.delete", "key.create"]);
      assert.deepEqual(audit.json.data[0].changes, {
        name: "remembered",
        environment: "live",
        status: "active",
        request_count: 1,
      });
      assert.deepEqual(audit.json.data[0].key_prefix, key.keyPrefix);
      // The row stays as written (deleting a key never rewrites its log): unreachable, as the key is gone.
      const logged = await test.db.query<{ key_id: string | null; status: number }>(
        "select key_id, status from salesos.request_log where request_id = $1",
        [used.json.meta.request_id],
      );
      assert.deepEqual([...logged], [{ key_id: key.id, status: 200 }]);
      assert.equal((await api.call({ path: `/${key.id}/requests`, token: owner.token })).status, 404);
      assert.equal((await api.call({ path: `/${key.id}/usage`, token: owner.token })).status, 404);
    },
  );

  await t.step("deleting twice, or an unknown key, is 404", async () => {
    const key = await createKey(test.db, tenant);
    assert.equal((await remove(key.id)).status, 200);
    assert.equal((await remove(key.id)).status, 404);
    assert.equal((await remove(crypto.randomUUID())).status, 404);
  });

  await t.step("revoke and delete without a body work however the client sends nothing", async () => {
    const emptyStream = () => new ReadableStream({ start: (controller) => controller.close() });
    for (const [method, suffix] of [["POST", "/revoke"], ["DELETE", ""]]) {
      for (const body of [emptyStream(), "", undefined]) {
        const key = await createKey(test.db, tenant);
        // The stream is what Deno hands a handler for `curl -X DELETE` or `-X POST` without -d: no
        // Content-Length, no Content-Type; "" is an empty body announced as such.
        const res = await api.call({ method, path: `/${key.id}${suffix}`, token: owner.token, body });
        assert.equal(res.status, 200, `${method} ${suffix} with ${body === undefined ? "no" : typeof body} body`);
      }
    }
    const key = await createKey(test.db, tenant);
    const withText = await api.call({
      method: "POST",
      path: `/${key.id}/rotate`,
      token: owner.token,
      body: "reason=none",
      headers: { "content-type": "text/plain" },
    });
    assert.equal(withText.status, 415, "a body with content must still be JSON");
  });

  await t.step("a revoked key can be deleted", async () => {
    const key = await createKey(test.db, tenant);
    await api.call({ method: "POST", path: `/${key.id}/revoke`, token: owner.token });
    assert.equal((await remove(key.id)).status, 200);
  });
});

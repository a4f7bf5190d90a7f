// The api-keys routes: the methods each path serves (405 with Allow otherwise), 404 for unknown
// paths, and the envelope with X-Request-Id on every answer.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { functionDocuments } from "../../tools/docs.ts";
import { apiKeysHarness, member } from "../support/api_keys.ts";

Deno.test("routes", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db);
  const key = await createKey(test.db, tenant);

  await t.step("a trailing slash is the same path", async () => {
    assert.equal((await api.call({ path: "/", token: owner.token })).status, 200);
  });

  await t.step("other methods are 405 with Allow (the documented ones, in order), before authentication", async () => {
    // The routes are listed once, in the app; its document says which methods each path serves.
    const { "api-keys": document } = await functionDocuments();
    const order = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    const allows = new Map<string, string>();
    for (const [template, item] of Object.entries(document.paths)) {
      const path = template.slice("/api-keys".length).replace("{id}", crypto.randomUUID());
      const allow = order.filter((method) => method.toLowerCase() in item).join(", ");
      allows.set(template, allow);
      for (const method of order.filter((m) => !allow.includes(m))) {
        const res = await api.call({ method, path });
        assert.deepEqual(
          [res.status, res.json.error.code, res.headers.get("allow")],
          [405, "METHOD_NOT_ALLOWED", allow],
          `${method} ${template}`,
        );
        assert.equal(res.json.error.message, `Method not allowed. Allowed: ${allow}`);
      }
    }
    assert.deepEqual(Object.fromEntries(allows), {
      "/api-keys": "GET, POST",
      "/api-keys/audit": "GET",
      "/api-keys/openapi.json": "GET",
      "/api-keys/{id}": "GET, PATCH, DELETE",
      "/api-keys/{id}/revoke": "POST",
      "/api-keys/{id}/rotate": "POST",
      "/api-keys/{id}/usage": "GET",
      "/api-keys/{id}/requests": "GET",
    });
  });

  await t.step("unknown paths are 404", async () => {
    for (const path of [`/${key.id}/frobnicate`, "/audit/extra", `/${key.id}/usage/more`]) {
      const res = await api.call({ path, token: owner.token });
      assert.deepEqual([res.status, res.json.error.code], [404, "NOT_FOUND"], path);
      assert.equal(res.headers.get("x-request-id"), res.json.meta.request_id);
    }
  });

  await t.step("errors carry the envelope and X-Request-Id too", async () => {
    const res = await api.call({});
    assert.equal(res.status, 401);
    assert.deepEqual(Object.keys(res.json).sort(), ["error", "meta"]);
    assert.equal(res.headers.get("x-request-id"), res.json.meta.request_id);
  });

  await t.step("one log line per request, with tenant and actor, never a token or key", async () => {
    const before = api.logs.length;
    const created = await api.call({ method: "POST", token: owner.token, body: { name: "logged" } });
    assert.equal(api.logs.length, before + 1);
    const line = api.logs.at(-1)!;
    assert.deepEqual(
      [line.function, line.method, line.status, line.tenant_id, line.actor_id, line.actor_type, line.key_id],
      ["api-keys", "POST", 201, tenant, owner.userId, "user", created.json.data.id],
    );
    const all = JSON.stringify(api.logs);
    assert.equal(all.includes(created.json.data.key.slice(16)), false);
    assert.equal(all.includes(owner.token.split(".")[2]), false);
  });
});

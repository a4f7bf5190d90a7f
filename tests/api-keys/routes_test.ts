// The api-keys routes as the contract's section 4 table lists them: methods served per path, 405
// with Allow otherwise, 404 for unknown paths, and the envelope with X-Request-Id on every answer.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { uuidPattern } from "../support/patterns.ts";
import { apiKeysHarness, member } from "../support/api_keys.ts";

Deno.test("routes", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db);
  const key = await createKey(test.db, tenant);

  await t.step("every row of the table answers with its status", async () => {
    const table: [string, string, unknown, number][] = [
      ["POST", "", { name: "new" }, 201],
      ["GET", "", undefined, 200],
      ["GET", `/${key.id}`, undefined, 200],
      ["PATCH", `/${key.id}`, { name: "patched" }, 200],
      ["GET", `/${key.id}/usage`, undefined, 200],
      ["GET", `/${key.id}/requests`, undefined, 200],
      ["GET", "/audit", undefined, 200],
      ["POST", `/${key.id}/rotate`, { grace_period_seconds: 60 }, 201],
      ["POST", `/${key.id}/revoke`, undefined, 200],
      ["DELETE", `/${key.id}`, undefined, 200],
    ];
    for (const [method, path, body, status] of table) {
      const res = await api.call({ method, path, body, token: owner.token });
      assert.equal(res.status, status, `${method} /api-keys${path}`);
      assert.match(res.json.meta.request_id, uuidPattern);
      assert.equal(res.headers.get("x-request-id"), res.json.meta.request_id);
    }
  });

  await t.step("a trailing slash is the same path", async () => {
    assert.equal((await api.call({ path: "/", token: owner.token })).status, 200);
  });

  await t.step("other methods are 405 with Allow, before authentication", async () => {
    const id = crypto.randomUUID();
    const cases: [string, string, string][] = [
      ["PUT", "", "GET, POST"],
      ["DELETE", "", "GET, POST"],
      ["POST", "/audit", "GET"],
      ["DELETE", "/audit", "GET"],
      ["POST", `/${id}`, "GET, PATCH, DELETE"],
      ["PUT", `/${id}`, "GET, PATCH, DELETE"],
      ["GET", `/${id}/revoke`, "POST"],
      ["DELETE", `/${id}/rotate`, "POST"],
      ["POST", `/${id}/usage`, "GET"],
      ["PATCH", `/${id}/requests`, "GET"],
    ];
    for (const [method, path, allow] of cases) {
      const res = await api.call({ method, path });
      assert.deepEqual(
        [res.status, res.json.error.code, res.headers.get("allow")],
        [405, "METHOD_NOT_ALLOWED", allow],
        `${method} ${path}`,
      );
      assert.equal(res.json.error.message, `Method not allowed. Allowed: ${allow}`);
    }
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

// Revocation and changes act everywhere at once. Two real server processes
// on one database, the key's proof cached on both; every change is made through one process (the
// api-keys HTTP endpoint) or through SQL, and the very next request on the other process obeys.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createTenant } from "../support/fixtures.ts";
import { serverEnv, startServer } from "../support/server.ts";
import {
  assertEnvelope,
  dashboardMember,
  http,
  type HttpAnswer,
  postJson,
  propertyTest,
  rememberSecrets,
} from "../support/properties.ts";

const empty = { action: "sync_activities", activities: [] };
const invalidKey = "Invalid or expired API key";
const ipMessage = "Request IP is not allowed for this API key";
const scopeMessage = "API key missing required scopes: default:sync";

propertyTest("2", "revocation and changes everywhere at once", import.meta.url, async ({ step, figures }) => {
  await using test = await freshDatabase();
  const env = serverEnv(test.url);
  await using a = await startServer(env);
  await using b = await startServer(env);
  const tenant = await createTenant(test.db);
  const { token: jwt } = await dashboardMember(test.db, tenant, "owner@example.com");
  const counts = { changes: 0, next_requests_checked: 0, via_api_keys_endpoint: 0, via_sql: 0 };

  /** api-keys on process A. */
  async function manage(method: string, path: string, body?: unknown): Promise<HttpAnswer> {
    const answer = await http(`${a.baseUrl}/functions/v1/api-keys${path}`, {
      method,
      headers: {
        authorization: `Bearer ${jwt}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assertEnvelope(answer, `${method} ${path}`);
    assert.ok(answer.status < 300, `${method} ${path}: ${answer.status} ${answer.text}`);
    counts.changes++;
    counts.via_api_keys_endpoint++;
    return answer;
  }

  async function sql(text: string, params: unknown[]) {
    await test.db.query(text, params);
    counts.changes++;
    counts.via_sql++;
  }

  async function createViaEndpoint(name: string): Promise<{ id: string; key: string }> {
    const created = await manage("POST", "", { name, scopes: ["default:sync"] });
    assert.equal(created.status, 201);
    rememberSecrets(created.json.data.key);
    return { id: created.json.data.id, key: created.json.data.key };
  }

  const on = (server: { baseUrl: string }, key: string) => postJson(server.baseUrl, "default-integration", key, empty);

  /** The next request on process B (and then A) gives exactly this. */
  async function next(key: string, status: number, message?: string) {
    for (const server of [b, a]) {
      const answer = await on(server, key);
      assertEnvelope(answer);
      assert.equal(answer.status, status, `${server === b ? "B" : "A"}: ${answer.text}`);
      if (message) assert.equal(answer.json.error.message, message);
      counts.next_requests_checked++;
    }
  }

  async function warm(key: string) {
    for (const server of [a, b]) assert.equal((await on(server, key)).status, 200);
  }

  await step("revoked through the api-keys endpoint on A: the next request on B is 401", async () => {
    const key = await createViaEndpoint("revoke via http");
    await warm(key.key);
    await manage("POST", `/${key.id}/revoke`);
    await next(key.key, 401, invalidKey);
  });

  await step("revoked through SQL (salesos.revoke_api_key): the next request on B is 401", async () => {
    const key = await createViaEndpoint("revoke via sql");
    await warm(key.key);
    await sql("select salesos.revoke_api_key($1::uuid, $2::uuid, null, 'cli', null)", [tenant, key.id]);
    await next(key.key, 401, invalidKey);
  });

  await step("scopes changed on A, 10 times back and forth: each next request on B obeys", async () => {
    const key = await createViaEndpoint("scopes");
    await warm(key.key);
    for (let i = 0; i < 5; i++) {
      await manage("PATCH", `/${key.id}`, { scopes: ["leads:read"] });
      await next(key.key, 403, scopeMessage);
      await manage("PATCH", `/${key.id}`, { scopes: ["default:sync", "leads:write"] });
      await next(key.key, 200);
    }
    await sql("select salesos.update_api_key($1::uuid, $2::uuid, null, 'cli', null, $3::text::jsonb)", [
      tenant,
      key.id,
      JSON.stringify({ scopes: ["leads:write"] }),
    ]);
    await next(key.key, 403, scopeMessage);
    await sql("select salesos.update_api_key($1::uuid, $2::uuid, null, 'cli', null, $3::text::jsonb)", [
      tenant,
      key.id,
      JSON.stringify({ scopes: [] }),
    ]);
    await next(key.key, 200);
  });

  await step("IP allowlist changed on A, 10 times back and forth: each next request on B obeys", async () => {
    const key = await createViaEndpoint("allowlist");
    await warm(key.key);
    for (let i = 0; i < 5; i++) {
      await manage("PATCH", `/${key.id}`, { ip_allowlist: ["198.51.100.0/24", "2001:db8::/32"] });
      await next(key.key, 403, ipMessage);
      await manage("PATCH", `/${key.id}`, { ip_allowlist: i % 2 ? ["127.0.0.0/8"] : ["127.0.0.1"] });
      await next(key.key, 200);
    }
    await manage("PATCH", `/${key.id}`, { ip_allowlist: null });
    await next(key.key, 200);
  });

  await step("rate limit lowered on A below the count: the next request on B is 429; raised: 200", async () => {
    const key = await createViaEndpoint("limit");
    await warm(key.key); // 2 counted
    await manage("PATCH", `/${key.id}`, { rate_limit_per_hour: 2 });
    await next(key.key, 429, "Rate limit exceeded");
    await manage("PATCH", `/${key.id}`, { rate_limit_per_hour: 10 });
    await next(key.key, 200);
  });

  await step("expired (expires_at reached): the next request on B is 401", async () => {
    const key = await createViaEndpoint("expiry");
    await warm(key.key);
    await manage("PATCH", `/${key.id}`, { expires_at: new Date(Date.now() + 3600_000).toISOString() });
    await next(key.key, 200);
    await sql("update salesos.api_keys set expires_at = now() where id = $1", [key.id]);
    await next(key.key, 401, invalidKey);
  });

  await step("rotated on A without grace: the old key is 401 on B at once, the new one works there", async () => {
    const key = await createViaEndpoint("rotate");
    await warm(key.key);
    const rotated = await manage("POST", `/${key.id}/rotate`, { grace_period_seconds: 0 });
    rememberSecrets(rotated.json.data.key);
    await next(key.key, 401, invalidKey);
    await next(rotated.json.data.key, 200);
  });

  await step("deleted on A: the next request on B is 401", async () => {
    const key = await createViaEndpoint("delete");
    await warm(key.key);
    await manage("DELETE", `/${key.id}`);
    await next(key.key, 401, invalidKey);
  });

  Object.assign(figures, { server_processes: 2, ...counts, stale_answers: 0 });
});

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

  await t.step("every line names the client's address and user agent", async () => {
    const res = await api.post(live.key, { action: "sync_activities", activities: [] }, {
      ip: "203.0.113.9",
      headers: { "User-Agent": "crm-nightly/2.1", "X-Forwarded-For": "198.51.100.1" },
    });
    const line = lineOf(res);
    assert.equal(line.client_ip, "203.0.113.9", "the socket peer: X-Forwarded-For is not trusted by default");
    assert.equal(line.user_agent, "crm-nightly/2.1");
    const anonymous = await api.call({ method: "GET", path: "/default-integration/nowhere", ip: "2001:db8::7" });
    assert.equal(anonymous.status, 404);
    assert.deepEqual([lineOf(anonymous).client_ip, lineOf(anonymous).user_agent], ["2001:db8::7", null]);

    const proxied = integrationHarness(test.db, { trustedProxyHops: 1 });
    const behind = await proxied.post(live.key, { action: "sync_activities", activities: [] }, {
      ip: "10.0.0.2",
      headers: { "X-Forwarded-For": "198.51.100.1" },
    });
    const behindLine = proxied.logs.find((l) => l.request_id === behind.json.meta.request_id);
    assert.equal(behindLine?.client_ip, "198.51.100.1", "behind a declared proxy hop, the address it saw");
  });

  await t.step("an error's line has its code; a 200's has none", async () => {
    const ok = await api.post(live.key, { action: "sync_activities", activities: [] });
    assert.equal(lineOf(ok).error_code, undefined);
    const cases: [Answer, string][] = [
      [await api.post(live.key, { action: "nope" }), "VALIDATION_ERROR"],
      [await api.post(scopeless.key, { action: "sync_activities", activities: [] }), "FORBIDDEN"],
      [await api.post(undefined as unknown as string, {}), "UNAUTHORIZED"],
      [await api.call({ method: "GET", key: live.key }), "METHOD_NOT_ALLOWED"],
    ];
    for (const [res, code] of cases) {
      assert.equal(res.json.error.code, code);
      assert.equal(lineOf(res).error_code, code);
    }
  });

  await t.step("a 401's line says why, the answer never does", async () => {
    const revoked = await createKey(test.db, tenant);
    const expired = await createKey(test.db, tenant);
    const signed = await createKey(test.db, tenant, { auth_scheme: "signed" });
    // Proven once (so the verifier has them), then revoked or expired: the status is read per request.
    for (const key of [revoked, expired]) {
      assert.equal((await api.post(key.key, { action: "sync_activities", activities: [] })).status, 200);
    }
    await test.db.query("update salesos.api_keys set revoked_at = now() where id = $1", [revoked.id]);
    await test.db.query("update salesos.api_keys set expires_at = now() - interval '1 second' where id = $1", [
      expired.id,
    ]);
    const brokenChecksum = live.key.slice(0, -6) + (live.key.endsWith("000000") ? "000001" : "000000");
    const wrong = withWrongSecret(live.key, "c".repeat(18)); // not tried before in this file
    const cases: [string | undefined, string, string][] = [
      [unknownKey(), "unknown key id", "Invalid or expired API key"],
      [wrong, "wrong secret", "Invalid or expired API key"],
      [wrong, "wrong secret (remembered)", "Invalid or expired API key"],
      [brokenChecksum, "bad format or checksum", "Invalid or expired API key"],
      [revoked.key, "revoked", "Invalid or expired API key"],
      [expired.key, "expired", "Invalid or expired API key"],
      [
        signed.key,
        "This API key requires signed requests (P2S-SIGN-V1)",
        "This API key requires signed requests (P2S-SIGN-V1)",
      ],
      [
        undefined,
        "Missing or malformed Authorization header. Expected: Bearer sk_live_xxx",
        "Missing or malformed Authorization header. Expected: Bearer sk_live_xxx",
      ],
      [
        "mytoken123456789",
        "Invalid API key prefix. Expected sk_live_ or sk_test_",
        "Invalid API key prefix. Expected sk_live_ or sk_test_",
      ],
    ];
    for (const [key, reason, message] of cases) {
      const res = await api.call({ key, body: { action: "sync_activities", activities: [] } });
      assert.equal(res.status, 401, reason);
      assert.equal(res.json.error.message, message, reason);
      const line = lineOf(res);
      assert.equal(line.auth_failure, reason);
      assert.equal(line.error_code, "UNAUTHORIZED");
      // The answer is the contract's: code and message only, the same for every reason behind one message.
      assert.deepEqual(Object.keys(res.json.error), ["code", "message", "doc_url"], reason);
      assert.ok(![...res.headers.values()].some((v) => v.includes(reason)), `no header says ${reason}`);
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

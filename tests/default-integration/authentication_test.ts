// The authentication checks, in order, with their exact messages.
import assert from "node:assert/strict";
import { checksum } from "../../supabase/functions/_shared/api_key.ts";
import type { Database } from "../../supabase/functions/_shared/database.ts";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";

const empty = { action: "sync_activities", activities: [] };
const invalidKey = "Invalid or expired API key";

/** The real database, counting the statements sent to it. */
function counting(db: Database) {
  const counter = { queries: 0 };
  const wrapped: Database = {
    query: (text, params) => (counter.queries++, db.query(text, params)),
    exec: (script) => db.exec(script),
    close: () => db.close(),
  };
  return { db: wrapped, counter };
}

Deno.test("authentication", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const api = integrationHarness(test.db);

  await t.step("no Authorization header is 401 with the header message", async () => {
    const res = await api.call({ body: empty });
    assert.deepEqual(res.status, 401);
    assert.deepEqual(res.json.error, {
      code: "UNAUTHORIZED",
      message: "Missing or malformed Authorization header. Expected: Bearer sk_live_xxx",
      doc_url: "http://127.0.0.1:54321/docs/errors.md#unauthorized",
    });
  });

  await t.step("a non-Bearer scheme or an empty token is the same 401", async () => {
    for (const authorization of ["Basic abc", "Bearer", "Bearer ", "sk_live_abc", "Bearer a b"]) {
      const res = await api.call({ body: empty, headers: { authorization } });
      assert.deepEqual([res.status, res.json.error.message], [
        401,
        "Missing or malformed Authorization header. Expected: Bearer sk_live_xxx",
      ], authorization);
    }
  });

  await t.step("a token without sk_live_/sk_test_ is 401 with the prefix message", async () => {
    for (const token of ["mytoken123456789", "sk_prod_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6", "SK_LIVE_abc"]) {
      const res = await api.post(token, empty);
      assert.deepEqual(res.status, 401);
      assert.deepEqual(res.json.error.message, "Invalid API key prefix. Expected sk_live_ or sk_test_");
    }
  });

  await t.step("a malformed or mis-checksummed key is 401 without touching the database", async () => {
    const { db, counter } = counting(test.db);
    const isolated = integrationHarness(db);
    const real = await createKey(test.db, tenant);
    const body = real.key.slice(0, -6);
    const wrongSum = body + (checksum(body) === "000000" ? "000001" : "000000");
    const upperCased = real.key.toUpperCase().replace("SK_LIVE_", "sk_live_");
    for (const token of ["sk_live_short", `${real.key}x`, upperCased, wrongSum]) {
      const res = await isolated.post(token, empty);
      assert.deepEqual([res.status, res.json.error.message], [401, invalidKey], token);
    }
    assert.deepEqual(counter.queries, 0);
    assert.deepEqual(isolated.keys.bcryptCompares, 0);
  });

  await t.step("an unknown key id is 401 without a bcrypt compare", async () => {
    const body = "sk_live_zzzzzzzz" + "a".repeat(18);
    const res = await api.post(body + checksum(body), empty);
    assert.deepEqual([res.status, res.json.error.message], [401, invalidKey]);
    assert.deepEqual(api.keys.bcryptCompares, 0);
  });

  await t.step("a known id with a wrong secret is 401 with the same message", async () => {
    const real = await createKey(test.db, tenant);
    const forged = real.key.slice(0, 16) + "b".repeat(18);
    const res = await api.post(forged + checksum(forged), empty);
    assert.deepEqual([res.status, res.json.error.message], [401, invalidKey]);
  });

  // Until the fair bcrypt queue replaced them, 10 wrong secrets locked a (source, key id) out and 100
  // failures a source: a third party could turn a correct key into a 401. Now failures can only
  // delay (see tests/properties/credential_guessing_throttled_test.ts for the floods).
  await t.step("repeated wrong secrets from one source are each refused, and never lock out the real key", async () => {
    const fresh = integrationHarness(test.db);
    const real = await createKey(test.db, tenant);
    const answers = [];
    for (let i = 0; i < 30; i++) {
      const forged = real.key.slice(0, 16) + crypto.randomUUID().replaceAll("-", "").slice(0, 18);
      answers.push(await fresh.post(forged + checksum(forged), empty, { ip: "198.51.100.20" }));
    }
    assert.deepEqual(
      new Set(answers.map((a) => `${a.status} ${a.json.error.message}`)),
      new Set([`401 ${invalidKey}`]),
    );
    assert.equal(fresh.keys.bcryptCompares, 30);
    // The real key, not yet proven, is admitted from the same source, and from another one.
    assert.equal((await fresh.post(real.key, empty, { ip: "198.51.100.20" })).status, 200);
    assert.equal((await fresh.post(real.key, empty, { ip: "198.51.100.21" })).status, 200);
    assert.equal(fresh.keys.bcryptCompares, 31);
  });

  await t.step(
    "a source that keeps failing with unknown ids costs one lookup each and no bcrypt; its new keys still pass",
    async () => {
      const { db, counter } = counting(test.db);
      const fresh = integrationHarness(db);
      const proven = await createKey(test.db, tenant);
      assert.equal((await fresh.post(proven.key, empty, { ip: "198.51.100.30" })).status, 200);
      const queriesBefore = counter.queries;
      for (let i = 0; i < 100; i++) {
        const unknown = `sk_live_${crypto.randomUUID().replaceAll("-", "").slice(0, 26)}`;
        const refused = await fresh.post(unknown + checksum(unknown), empty, { ip: "198.51.100.30" });
        assert.deepEqual([refused.status, refused.json.error.message], [401, invalidKey]);
      }
      assert.equal(counter.queries, queriesBefore + 100);
      assert.equal(fresh.keys.bcryptCompares, 1);
      const newKey = await createKey(test.db, tenant);
      assert.equal((await fresh.post(newKey.key, empty, { ip: "198.51.100.30" })).status, 200);
      assert.equal((await fresh.post(proven.key, empty, { ip: "198.51.100.30" })).status, 200);
    },
  );

  await t.step("a valid key is admitted; a second request needs no new bcrypt compare", async () => {
    const fresh = integrationHarness(test.db);
    const real = await createKey(test.db, tenant);
    for (let i = 0; i < 3; i++) assert.deepEqual((await fresh.post(real.key, empty)).status, 200);
    assert.deepEqual(fresh.keys.bcryptCompares, 1);
  });

  await t.step("concurrent first requests of one key share a single bcrypt compare", async () => {
    const fresh = integrationHarness(test.db);
    const real = await createKey(test.db, tenant);
    const answers = await Promise.all(Array.from({ length: 16 }, () => fresh.post(real.key, empty)));
    assert.deepEqual(answers.map((a) => a.status), Array(16).fill(200));
    assert.deepEqual(fresh.keys.bcryptCompares, 1);
  });

  await t.step("revocation acts on the very next request although the key is cached", async () => {
    const real = await createKey(test.db, tenant);
    assert.deepEqual((await api.post(real.key, empty)).status, 200);
    await test.db.query("select salesos.revoke_api_key($1::uuid, $2::uuid, null, 'cli', null)", [tenant, real.id]);
    const res = await api.post(real.key, empty);
    assert.deepEqual([res.status, res.json.error.message], [401, invalidKey]);
    assert.deepEqual(res.headers.get("x-ratelimit-limit"), null);
  });

  await t.step("an expired key is 401, also when it was cached before it expired", async () => {
    const real = await createKey(test.db, tenant, { expires_at: new Date(Date.now() + 60_000).toISOString() });
    assert.deepEqual((await api.post(real.key, empty)).status, 200);
    await test.db.query("update salesos.api_keys set expires_at = now() where id = $1", [real.id]);
    const res = await api.post(real.key, empty);
    assert.deepEqual([res.status, res.json.error.message], [401, invalidKey]);
  });

  await t.step("a deleted key is 401 although cached", async () => {
    const real = await createKey(test.db, tenant);
    assert.deepEqual((await api.post(real.key, empty)).status, 200);
    await test.db.query("delete from salesos.api_keys where id = $1", [real.id]);
    assert.deepEqual((await api.post(real.key, empty)).status, 401);
  });

  await t.step("authentication comes before the body: a bad body with a bad key is 401", async () => {
    const res = await api.call({ key: "sk_live_nope", body: "{not json", headers: { "content-type": "text/plain" } });
    assert.deepEqual(res.status, 401);
  });

  await t.step("test keys are accepted and carry their environment", async () => {
    const real = await createKey(test.db, tenant, { environment: "test" });
    assert.deepEqual(real.key.startsWith("sk_test_"), true);
    assert.deepEqual((await api.post(real.key, empty)).status, 200);
    assert.deepEqual(api.logs.at(-1)?.environment, "test");
  });
});

Deno.test("IP allowlist and scopes", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const api = integrationHarness(test.db);
  const ipMessage = "Request IP is not allowed for this API key";

  await t.step("IPv4 addresses and CIDR blocks admit matching sources only", async () => {
    const real = await createKey(test.db, tenant, { ip_allowlist: ["203.0.113.7", "10.1.0.0/16"] });
    assert.deepEqual((await api.post(real.key, empty, { ip: "203.0.113.7" })).status, 200);
    assert.deepEqual((await api.post(real.key, empty, { ip: "10.1.200.3" })).status, 200);
    const res = await api.post(real.key, empty, { ip: "10.2.0.1" });
    assert.deepEqual([res.status, res.json.error.code, res.json.error.message], [403, "FORBIDDEN", ipMessage]);
    assert.deepEqual(res.headers.get("x-ratelimit-limit"), "1000");
  });

  await t.step("IPv6 addresses and blocks; IPv4-mapped peers count as IPv4", async () => {
    const real = await createKey(test.db, tenant, { ip_allowlist: ["2001:db8::/32", "192.0.2.1"] });
    assert.deepEqual((await api.post(real.key, empty, { ip: "2001:db8:1::5" })).status, 200);
    for (const mapped of ["::ffff:192.0.2.1", "::ffff:c000:201", "0:0:0:0:0:ffff:192.0.2.1"]) {
      assert.deepEqual((await api.post(real.key, empty, { ip: mapped })).status, 200, mapped);
    }
    assert.deepEqual((await api.post(real.key, empty, { ip: "2001:db9::1" })).status, 403);
  });

  await t.step("X-Forwarded-For never widens access by default", async () => {
    const real = await createKey(test.db, tenant, { ip_allowlist: ["198.51.100.1"] });
    const res = await api.post(real.key, empty, { ip: "203.0.113.50", headers: { "x-forwarded-for": "198.51.100.1" } });
    assert.deepEqual(res.status, 403);
  });

  await t.step("with one trusted proxy hop the address the proxy saw is the source", async () => {
    const behindProxy = integrationHarness(test.db, { trustedProxyHops: 1 });
    const real = await createKey(test.db, tenant, { ip_allowlist: ["198.51.100.1"] });
    // A client-forged entry on the left is ignored; the proxy appended the real peer on the right.
    const ok = await behindProxy.post(real.key, empty, {
      ip: "10.0.0.2",
      headers: { "x-forwarded-for": "203.0.113.9, 198.51.100.1" },
    });
    assert.deepEqual(ok.status, 200);
    const forged = await behindProxy.post(real.key, empty, {
      ip: "10.0.0.2",
      headers: { "x-forwarded-for": "198.51.100.1, 203.0.113.9" },
    });
    assert.deepEqual(forged.status, 403);
  });

  await t.step("a key with only leads:read is 403 for the sync actions", async () => {
    const real = await createKey(test.db, tenant, { scopes: ["leads:read"] });
    const res = await api.post(real.key, empty);
    assert.deepEqual([res.status, res.json.error.message], [403, "API key missing required scopes: default:sync"]);
  });

  await t.step("empty scopes mean unrestricted", async () => {
    const real = await createKey(test.db, tenant, { scopes: [] });
    assert.deepEqual((await api.post(real.key, empty)).status, 200);
  });

  await t.step("a revoked key with a wrong IP is 401, not 403 (order of checks)", async () => {
    const real = await createKey(test.db, tenant, { ip_allowlist: ["198.51.100.1"] });
    await test.db.query("update salesos.api_keys set revoked_at = now() where id = $1", [real.id]);
    assert.deepEqual((await api.post(real.key, empty, { ip: "203.0.113.1" })).status, 401);
  });

  await t.step("allowlist and scope changes act on the next request", async () => {
    const real = await createKey(test.db, tenant);
    assert.deepEqual((await api.post(real.key, empty, { ip: "203.0.113.1" })).status, 200);
    await test.db.query("update salesos.api_keys set ip_allowlist = '{198.51.100.0/24}' where id = $1", [real.id]);
    assert.deepEqual((await api.post(real.key, empty, { ip: "203.0.113.1" })).status, 403);
    await test.db.query("update salesos.api_keys set ip_allowlist = null, scopes = '{leads:write}' where id = $1", [
      real.id,
    ]);
    assert.deepEqual((await api.post(real.key, empty, { ip: "203.0.113.1" })).status, 403);
  });
});

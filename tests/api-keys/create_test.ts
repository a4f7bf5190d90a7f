// POST /api-keys: 201 with the key object plus the plaintext `key` (only here), validated like the
// contract's key properties, capped per tenant, audited, and usable at once by default-integration.
import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import { parseApiKey } from "../../supabase/functions/_shared/api_key.ts";
import { freshDatabase } from "../support/database.ts";
import { createTenant } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";
import { isoMs, uuidPattern } from "../support/patterns.ts";
import { apiKeysHarness, member } from "../support/api_keys.ts";

const keyObjectFields = [
  "auth_scheme",
  "created_at",
  "created_by",
  "environment",
  "expires_at",
  "id",
  "ip_allowlist",
  "key_prefix",
  "last_used_at",
  "last_used_ip",
  "name",
  "rate_limit_per_hour",
  "request_count",
  "revoked_at",
  "scopes",
  "status",
].sort();

Deno.test("create", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db);
  const integration = integrationHarness(test.db);
  const post = (body: unknown, headers?: Record<string, string>) =>
    api.call({ method: "POST", token: owner.token, body, headers });

  let first: Record<string, any> = {};
  await t.step("a name is enough: 201, the key object with defaults, and the plaintext key", async () => {
    const res = await post({ name: "CRM sync" });
    assert.equal(res.status, 201);
    first = res.json.data;
    assert.deepEqual(Object.keys(first).sort(), [...keyObjectFields, "key"].sort());
    assert.match(first.key, /^sk_live_[a-z0-9]{32}$/);
    assert.notEqual(parseApiKey(first.key), null, "checksum valid");
    assert.equal(first.key_prefix, first.key.slice(0, 16));
    assert.match(first.id, uuidPattern);
    assert.match(first.created_at, isoMs);
    assert.deepEqual(
      { ...first, id: 0, key: 0, key_prefix: 0, created_at: 0 },
      {
        id: 0,
        key: 0,
        key_prefix: 0,
        created_at: 0,
        name: "CRM sync",
        auth_scheme: "bearer",
        environment: "live",
        scopes: [],
        rate_limit_per_hour: 1000,
        ip_allowlist: [],
        expires_at: null,
        status: "active",
        created_by: owner.userId,
        revoked_at: null,
        last_used_at: null,
        last_used_ip: null,
        request_count: 0,
      },
    );
    assert.match(res.json.meta.request_id, uuidPattern);
    assert.equal(res.headers.get("x-request-id"), res.json.meta.request_id);
  });

  await t.step("every setting is taken as given", async () => {
    const expires = new Date(Date.now() + 86_400_000).toISOString();
    const res = await post({
      name: "  Nightly import  ",
      environment: "test",
      scopes: ["default:sync", "leads:read", "default:sync"],
      rate_limit_per_hour: 50,
      expires_at: expires,
      ip_allowlist: ["203.0.113.7", "10.1.0.0/16", "2001:db8::/32"],
    });
    assert.equal(res.status, 201);
    const key = res.json.data;
    assert.match(key.key, /^sk_test_/);
    assert.deepEqual(
      [key.name, key.environment, key.scopes, key.rate_limit_per_hour, key.expires_at, key.ip_allowlist],
      ["Nightly import", "test", ["default:sync", "leads:read"], 50, expires, [
        "203.0.113.7",
        "10.1.0.0/16",
        "2001:db8::/32",
      ]],
    );
  });

  await t.step("the plaintext is returned once: never by get or list, and only its bcrypt hash is stored", async () => {
    const got = await api.call({ token: owner.token, path: `/${first.id}` });
    const listed = await api.call({ token: owner.token });
    assert.equal(got.json.data.key, undefined);
    assert.deepEqual(Object.keys(got.json.data).sort(), keyObjectFields);
    for (const body of [got.json, listed.json]) {
      const text = JSON.stringify(body);
      assert.equal(text.includes(first.key), false);
      assert.equal(text.includes("$2"), false, "no hash");
    }
    const [{ key_hash }] = await test.db.query<{ key_hash: string }>(
      "select key_hash from salesos.api_keys where id = $1",
      [first.id],
    );
    assert.equal(await bcrypt.compare(first.key, key_hash), true);
    assert.equal(
      JSON.stringify(api.logs).includes(first.key.slice(16)),
      false,
      "the secret part never reaches the log",
    );
  });

  await t.step("the new key works with default-integration right away", async () => {
    const res = await integration.post(first.key, { action: "sync_activities", activities: [] });
    assert.equal(res.status, 200);
  });

  await t.step("the creation is audited with its settings, actor and source ip", async () => {
    const [entry] = await test.db.query<Record<string, any>>(
      "select actor_id, actor_type, action, key_prefix, host(source_ip) as ip, changes from salesos.audit_log where key_id = $1",
      [first.id],
    );
    assert.deepEqual(entry, {
      actor_id: owner.userId,
      actor_type: "user",
      action: "key.create",
      key_prefix: first.key_prefix,
      ip: "127.0.0.1",
      changes: {
        name: "CRM sync",
        auth_scheme: "bearer",
        environment: "live",
        scopes: [],
        rate_limit_per_hour: 1000,
        expires_at: null,
        ip_allowlist: [],
      },
    });
  });

  await t.step("each invalid setting is a 400 VALIDATION_ERROR with a detail for its field", async () => {
    const cases: [unknown, string, string][] = [
      [{}, "name", "name must be a string of 1-100 characters"],
      [{ name: "" }, "name", "name must be a string of 1-100 characters"],
      [{ name: "   " }, "name", "name must be a string of 1-100 characters"],
      [{ name: "x".repeat(101) }, "name", "name must be a string of 1-100 characters"],
      [{ name: 7 }, "name", "name must be a string of 1-100 characters"],
      [{ name: "k", environment: "prod" }, "environment", 'environment must be "live" or "test"'],
      [
        { name: "k", scopes: ["admin:all"] },
        "scopes[0]",
        "scopes must be an array of known scopes: default:sync, leads:read, leads:write",
      ],
      [
        { name: "k", scopes: "default:sync" },
        "scopes",
        "scopes must be an array of known scopes: default:sync, leads:read, leads:write",
      ],
      [
        { name: "k", rate_limit_per_hour: 0 },
        "rate_limit_per_hour",
        "rate_limit_per_hour must be an integer from 1 to 100000",
      ],
      [
        { name: "k", rate_limit_per_hour: 100_001 },
        "rate_limit_per_hour",
        "rate_limit_per_hour must be an integer from 1 to 100000",
      ],
      [
        { name: "k", rate_limit_per_hour: 1.5 },
        "rate_limit_per_hour",
        "rate_limit_per_hour must be an integer from 1 to 100000",
      ],
      [
        { name: "k", rate_limit_per_hour: "10" },
        "rate_limit_per_hour",
        "rate_limit_per_hour must be an integer from 1 to 100000",
      ],
      [{ name: "k", expires_at: "2020-01-01T00:00:00Z" }, "expires_at", "expires_at must be in the future"],
      [
        { name: "k", expires_at: "9999-12-31T23:59:59-14:00" },
        "expires_at",
        "expires_at must be before 10000-01-01T00:00:00Z",
      ],
      [
        { name: "k", expires_at: "tomorrow" },
        "expires_at",
        "expires_at must be an ISO 8601 date-time with offset or Z, in the future",
      ],
      [
        { name: "k", expires_at: "2099-01-01T00:00:00" },
        "expires_at",
        "expires_at must be an ISO 8601 date-time with offset or Z, in the future",
      ],
      [
        { name: "k", ip_allowlist: ["999.1.1.1"] },
        "ip_allowlist[0]",
        "999.1.1.1: not an IPv4/IPv6 address or CIDR block",
      ],
      [
        { name: "k", ip_allowlist: ["1.2.3.4::"] },
        "ip_allowlist[0]",
        "1.2.3.4::: not an IPv4/IPv6 address or CIDR block",
      ],
      [
        { name: "k", ip_allowlist: ["::ffff:10.0.0.1"] },
        "ip_allowlist[0]",
        "::ffff:10.0.0.1: an IPv4-mapped IPv6 address: write it as IPv4 (10.0.0.1)",
      ],
      [
        { name: "k", ip_allowlist: ["::ffff:10.0.0.0/120"] },
        "ip_allowlist[0]",
        "::ffff:10.0.0.0/120: an IPv4-mapped IPv6 address: write it as IPv4 (10.0.0.0/24)",
      ],
      [{ name: "k", ip_allowlist: ["10.0.0.1/8"] }, "ip_allowlist[0]", "10.0.0.1/8: CIDR block has host bits set"],
      [
        { name: "k", ip_allowlist: ["2001:db8::/129"] },
        "ip_allowlist[0]",
        "2001:db8::/129: prefix length must be 0-128",
      ],
      [
        { name: "k", ip_allowlist: ["2001:db8::/032"] },
        "ip_allowlist[0]",
        "2001:db8::/032: prefix length must be 0-128",
      ],
      [
        { name: "k", ip_allowlist: "10.0.0.1" },
        "ip_allowlist",
        "ip_allowlist must be an array of at most 100 IPv4/IPv6 addresses or CIDR blocks",
      ],
      [
        { name: "k", ip_allowlist: Array.from({ length: 101 }, (_, i) => `10.0.${i}.1`) },
        "ip_allowlist",
        "ip_allowlist must be an array of at most 100 IPv4/IPv6 addresses or CIDR blocks",
      ],
    ];
    for (const [body, field, message] of cases) {
      const res = await post(body);
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(res.json.error.code, "VALIDATION_ERROR");
      assert.equal(res.json.error.message, "Invalid API key settings");
      assert.deepEqual(res.json.error.details[0], { field, message }, JSON.stringify(body).slice(0, 80));
    }
    const several = await post({ name: "", rate_limit_per_hour: 0, scopes: ["x"] });
    assert.deepEqual(several.json.error.details.map((d: { field: string }) => d.field).sort(), [
      "name",
      "rate_limit_per_hour",
      "scopes[0]",
    ]);
    assert.equal(
      (await post({ name: "k", ip_allowlist: Array.from({ length: 100 }, (_, i) => `10.0.${i}.1`) })).status,
      201,
    );
  });

  await t.step(
    "a body that is no JSON object is 400; under another type a non-JSON body is 415, an object is read",
    async () => {
      for (const body of ["{not json", "[1,2]", '"name"', "null"]) {
        const res = await post(body, { "content-type": "application/json" });
        assert.deepEqual([res.status, res.json.error.code], [400, "VALIDATION_ERROR"], body);
      }
      const plain = await post("name=k", { "content-type": "application/x-www-form-urlencoded" });
      assert.deepEqual([plain.status, plain.json.error.code], [415, "UNSUPPORTED_MEDIA_TYPE"]);
      // What `curl -d '{...}'` sends without -H 'Content-Type: application/json'.
      const form = await post(JSON.stringify({ name: "from curl -d" }), {
        "content-type": "application/x-www-form-urlencoded",
      });
      assert.equal(form.status, 201, JSON.stringify(form.json));
      const missing = await api.call({ method: "POST", token: owner.token });
      assert.equal(missing.status, 415);
    },
  );

  await t.step("a body over 5 MiB is 413", async () => {
    const res = await post(JSON.stringify({ name: "k", pad: "x".repeat(5 * 1024 * 1024) }), {
      "content-type": "application/json",
    });
    assert.deepEqual([res.status, res.json.error.code], [413, "PAYLOAD_TOO_LARGE"]);
  });

  await t.step("authentication comes before the body: a bad body without a token is 401", async () => {
    const res = await api.call({ method: "POST", body: "{not json", headers: { "content-type": "application/json" } });
    assert.equal(res.status, 401);
  });
});

Deno.test("active-key cap per tenant", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db, { maxActiveKeysPerTenant: 3 });
  const post = (name: string) => api.call({ method: "POST", token: owner.token, body: { name } });
  const limit = "Active key limit reached: a tenant holds at most 3 active keys. Revoke or delete one first";

  await t.step("past the cap, creation is 409 CONFLICT and writes nothing", async () => {
    const ids = [];
    for (const name of ["a", "b", "c"]) ids.push((await post(name)).json.data.id);
    const res = await post("d");
    assert.deepEqual([res.status, res.json.error.code, res.json.error.message], [409, "CONFLICT", limit]);
    const [{ count }] = await test.db.query<{ count: number }>("select count(*)::int as count from salesos.api_keys");
    assert.equal(count, 3);
    const [{ audits }] = await test.db.query<{ audits: number }>(
      "select count(*)::int as audits from salesos.audit_log",
    );
    assert.equal(audits, 3);
    // Revoked and expired keys do not count.
    await api.call({ method: "POST", token: owner.token, path: `/${ids[0]}/revoke` });
    await test.db.query("update salesos.api_keys set expires_at = now() where id = $1", [ids[1]]);
    assert.equal((await post("d")).status, 201);
    assert.equal((await post("e")).status, 201);
    assert.equal((await post("f")).status, 409);
  });

  await t.step("the cap holds under concurrent creations", async () => {
    const t2 = await createTenant(test.db);
    const boss = await member(test.db, t2, "owner");
    const capped = apiKeysHarness(test.db, { maxActiveKeysPerTenant: 3 });
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => capped.call({ method: "POST", token: boss.token, body: { name: `k${i}` } })),
    );
    assert.deepEqual(answers.map((a) => a.status).sort(), [201, 201, 201, 409, 409, 409, 409, 409]);
    const [{ n }] = await test.db.query<{ n: number }>(
      "select count(*)::int as n from salesos.api_keys where tenant_id = $1",
      [t2],
    );
    assert.equal(n, 3, "a refused creation left no key behind");
  });
});

// Abuse of key management: a refused creation or rotation costs no bcrypt hash (caps, status and
// validation are looked at first), changes are throttled per user and per tenant (429 with
// retry_after), and an allowlist that lets a whole address family in is refused (it would look like a
// restriction without being one).
import assert from "node:assert/strict";
import { bcryptPool } from "../../supabase/functions/_shared/bcrypt_pool.ts";
import { createMutationThrottle } from "../../supabase/functions/api-keys/mutation_throttle.ts";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { apiKeysHarness, hs256, member, serviceRoleClaims } from "../support/api_keys.ts";

const invalidSettings = "Invalid API key settings";
const hashes = () => bcryptPool().counts.hashes;

Deno.test("a refused creation or rotation costs no bcrypt hash", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db, { maxActiveKeysPerTenant: 2 });
  const post = (body: unknown) => api.call({ method: "POST", token: owner.token, body });

  await t.step("at the cap, 20 creations are 409 without one hash", async () => {
    assert.equal((await post({ name: "a" })).status, 201);
    assert.equal((await post({ name: "b" })).status, 201);
    const before = hashes();
    for (let i = 0; i < 20; i++) assert.equal((await post({ name: `over ${i}` })).status, 409);
    assert.equal(hashes(), before);
  });

  await t.step("invalid settings are 400 without a hash", async () => {
    const before = hashes();
    assert.equal((await post({ name: "" })).status, 400);
    assert.equal((await post({ name: "x", ip_allowlist: ["0.0.0.0/0"] })).status, 400);
    assert.equal(hashes(), before);
  });

  await t.step("rotating a revoked key, or with a grace period at the cap, is 409 without a hash", async () => {
    const [{ id: keyId }] = await test.db.query<{ id: string }>(
      "select id from salesos.api_keys where tenant_id = $1 limit 1",
      [tenant],
    );
    const rotate = (id: string, body?: unknown) =>
      api.call({ method: "POST", path: `/${id}/rotate`, token: owner.token, body });
    const revoked = await createKey(test.db, tenant);
    await test.db.query("update salesos.api_keys set revoked_at = now() where id = $1", [revoked.id]);
    const before = hashes();
    assert.equal((await rotate(keyId, { grace_period_seconds: 60 })).status, 409, "grace at the cap");
    assert.equal((await rotate(revoked.id)).status, 409, "revoked");
    assert.equal((await rotate(crypto.randomUUID())).status, 404, "no such key");
    assert.equal(hashes(), before);
    // What passes every check is hashed once.
    assert.equal((await rotate(keyId)).status, 201);
    assert.equal(hashes(), before + 1);
  });
});

Deno.test("changes are throttled per user and per tenant", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const alice = await member(test.db, tenant, "owner");
  const bob = await member(test.db, tenant, "admin");
  const api = apiKeysHarness(test.db, {
    maxActiveKeysPerTenant: 1,
    mutations: createMutationThrottle({ perUser: 5, perTenant: 8 }),
  });
  const create = (token: string, tenantHeader?: string) =>
    api.call({ method: "POST", token, tenant: tenantHeader, body: { name: "k" } });

  await t.step("a user's 6th change within the minute is 429 with retry_after and Retry-After", async () => {
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await create(alice.token)).status);
    assert.deepEqual(statuses, [201, 409, 409, 409, 409], "every attempt counts, refused ones too");
    const res = await create(alice.token);
    assert.equal(res.status, 429);
    assert.deepEqual([res.json.error.code, res.json.error.message], ["RATE_LIMITED", "Rate limit exceeded"]);
    const retryAfter = res.json.error.retry_after;
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, String(retryAfter));
    assert.equal(res.headers.get("retry-after"), String(retryAfter));
    // Reading is not throttled.
    assert.equal((await api.call({ token: alice.token })).status, 200);
  });

  await t.step("another user of the tenant goes on until the tenant's limit (8)", async () => {
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await create(bob.token)).status);
    assert.deepEqual(statuses, [409, 409, 409, 429]);
  });

  await t.step("a service_role token counts for the tenant too; another tenant is not affected", async () => {
    const service = await hs256(serviceRoleClaims());
    assert.equal((await create(service, tenant)).status, 429);
    const other = await createTenant(test.db);
    assert.equal((await create(service, other)).status, 201);
  });

  await t.step("the window ends: changes go through again", async () => {
    const quick = apiKeysHarness(test.db, {
      mutations: createMutationThrottle({ perUser: 1, perTenant: 10, windowMs: 300 }),
    });
    const carol = await member(test.db, await createTenant(test.db), "owner");
    const post = () => quick.call({ method: "POST", token: carol.token, body: { name: "k" } });
    assert.equal((await post()).status, 201);
    assert.equal((await post()).status, 429);
    await new Promise((resolve) => setTimeout(resolve, 350));
    assert.equal((await post()).status, 201);
  });
});

Deno.test("an allowlist that allows every address is refused", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db);
  const post = (ip_allowlist: string[]) =>
    api.call({ method: "POST", token: owner.token, body: { name: "k", ip_allowlist } });

  await t.step("0.0.0.0/0, ::/0, ::ffff:0:0/96 and blocks that add up to a family: 400 for ip_allowlist", async () => {
    for (
      const [list, family] of [
        [["0.0.0.0/0"], "IPv4"],
        [["::/0"], "IPv6"],
        [["203.0.113.7", "::/0"], "IPv6"],
        [["::ffff:0:0/96"], "IPv4"],
        [["0.0.0.0/1", "128.0.0.0/1"], "IPv4"],
        [["128.0.0.0/2", "0.0.0.0/1", "192.0.0.0/2"], "IPv4"],
        [["::/1", "8000::/1"], "IPv6"],
      ] as const
    ) {
      const res = await post([...list]);
      assert.deepEqual([res.status, res.json.error.code, res.json.error.message], [
        400,
        "VALIDATION_ERROR",
        invalidSettings,
      ], list.join(","));
      assert.deepEqual(res.json.error.details, [{
        field: "ip_allowlist",
        message: `ip_allowlist allows every ${family} address: to allow any address, remove the allowlist ` +
          "(null, or leave it out) instead",
      }], list.join(","));
    }
  });

  await t.step("PATCH refuses it too; wide but partial blocks are accepted", async () => {
    const created = await post(["0.0.0.0/1"]);
    assert.equal(created.status, 201);
    const patch = await api.call({
      method: "PATCH",
      path: `/${created.json.data.id}`,
      token: owner.token,
      body: { ip_allowlist: ["0.0.0.0/1", "128.0.0.0/1"] },
    });
    assert.equal(patch.status, 400);
    assert.equal(patch.json.error.details[0].field, "ip_allowlist");
    assert.equal((await post(["0.0.0.0/1", "128.0.0.0/2", "::/1"])).status, 201);
  });
});

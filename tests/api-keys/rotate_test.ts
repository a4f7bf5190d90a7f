// POST /api-keys/:id/rotate {grace_period_seconds? 0-604800, default 0}: 201 with a new key of the
// same settings (plaintext once); the old one expires after the grace period; 409 for a revoked
// or expired key; one key.rotate audit entry.
import assert from "node:assert/strict";
import type { Database } from "../../supabase/functions/_shared/database.ts";
import { freshDatabase, lockWaiters, openTransaction } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";
import { apiKeysHarness, member } from "../support/api_keys.ts";

const empty = { action: "sync_activities", activities: [] };
const settings = ["name", "environment", "scopes", "rate_limit_per_hour", "ip_allowlist", "expires_at"] as const;

Deno.test("rotate", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db);
  const integration = integrationHarness(test.db);
  const rotate = (id: string, body?: unknown) =>
    api.call({ method: "POST", path: `/${id}/rotate`, token: owner.token, body });
  const get = async (id: string) => (await api.call({ path: `/${id}`, token: owner.token })).json.data;

  await t.step("without a body: 201, a new key with the same settings; the old one stops at once", async () => {
    const expires = new Date(Date.now() + 7 * 86_400_000).toISOString();
    const old = await createKey(test.db, tenant, {
      name: "CRM",
      environment: "test",
      scopes: ["default:sync", "leads:read"],
      rate_limit_per_hour: 42,
      ip_allowlist: ["127.0.0.1", "10.0.0.0/8"],
      expires_at: expires,
    });
    assert.equal((await integration.post(old.key, empty)).status, 200);
    const before = await get(old.id);

    const res = await rotate(old.id);
    assert.equal(res.status, 201);
    const fresh = res.json.data;
    assert.match(fresh.key, /^sk_test_[a-z0-9]{32}$/);
    assert.notEqual(fresh.id, old.id);
    assert.notEqual(fresh.key_prefix, old.keyPrefix);
    for (const field of settings) assert.deepEqual(fresh[field], before[field], field);
    assert.deepEqual([fresh.status, fresh.request_count, fresh.created_by], ["active", 0, owner.userId]);
    assert.deepEqual(fresh.rotated_from.id, old.id);
    assert.deepEqual(fresh.rotated_from.key_prefix, old.keyPrefix);

    assert.equal((await get(old.id)).status, "expired");
    const refused = await integration.post(old.key, empty);
    assert.deepEqual([refused.status, refused.json.error.message], [401, "Invalid or expired API key"]);
    assert.equal((await integration.post(fresh.key, empty)).status, 200);
    assert.equal(JSON.stringify(await get(fresh.id)).includes(fresh.key), false);
  });

  await t.step("with a grace period both keys work until it ends", async () => {
    const old = await createKey(test.db, tenant);
    const started = Date.now();
    const res = await rotate(old.id, { grace_period_seconds: 3600 });
    assert.equal(res.status, 201);
    const oldExpiry = Date.parse(res.json.data.rotated_from.expires_at);
    assert.ok(Math.abs(oldExpiry - (started + 3_600_000)) < 5_000, "old expires_at = now + grace");
    assert.equal((await get(old.id)).expires_at, res.json.data.rotated_from.expires_at);
    assert.equal(res.json.data.expires_at, null, "the new key keeps the old key's (absent) expiry");
    assert.equal((await integration.post(old.key, empty)).status, 200);
    assert.equal((await integration.post(res.json.data.key, empty)).status, 200);
  });

  await t.step("when the grace period ends, the old key is refused", async () => {
    const old = await createKey(test.db, tenant);
    const res = await rotate(old.id, { grace_period_seconds: 1 });
    assert.equal((await integration.post(old.key, empty)).status, 200);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await integration.post(old.key, empty)).status, 401);
    assert.equal((await integration.post(res.json.data.key, empty)).status, 200);
  });

  await t.step("the grace period never extends a key that was due to expire sooner", async () => {
    const soon = new Date(Date.now() + 60_000).toISOString();
    const old = await createKey(test.db, tenant, { expires_at: soon });
    const res = await rotate(old.id, { grace_period_seconds: 604800 });
    assert.equal(res.status, 201);
    assert.equal(res.json.data.rotated_from.expires_at, soon);
  });

  await t.step("grace_period_seconds outside 0-604800 or not an integer is 400", async () => {
    const old = await createKey(test.db, tenant);
    for (const grace of [-1, 604801, 1.5, "60", null]) {
      const res = await rotate(old.id, { grace_period_seconds: grace });
      assert.deepEqual([res.status, res.json.error.code, res.json.error.message], [
        400,
        "VALIDATION_ERROR",
        "Invalid rotation request",
      ]);
      assert.deepEqual(res.json.error.details, [{
        field: "grace_period_seconds",
        message: "grace_period_seconds must be an integer from 0 to 604800",
      }]);
    }
    assert.equal((await rotate(old.id, "not json")).status, 415);
    assert.equal((await rotate(old.id, [])).status, 400);
    assert.equal((await get(old.id)).status, "active");
    assert.equal((await rotate(old.id, { grace_period_seconds: 604800 })).status, 201);
  });

  await t.step("a revoked or expired key is 409, an unknown one 404", async () => {
    const revoked = await createKey(test.db, tenant);
    await api.call({ method: "POST", path: `/${revoked.id}/revoke`, token: owner.token });
    const expired = await createKey(test.db, tenant);
    await test.db.query("update salesos.api_keys set expires_at = now() where id = $1", [expired.id]);
    for (const id of [revoked.id, expired.id]) {
      const res = await rotate(id);
      assert.deepEqual([res.status, res.json.error.code, res.json.error.message], [
        409,
        "CONFLICT",
        "API key is revoked or expired",
      ]);
    }
    const rotatedAway = await createKey(test.db, tenant);
    assert.equal((await rotate(rotatedAway.id)).status, 201);
    assert.equal((await rotate(rotatedAway.id)).status, 409, "a key rotated without grace is expired");
    assert.equal((await rotate(crypto.randomUUID())).status, 404);
  });

  await t.step("the rotation is audited once, on the old key, naming the new one", async () => {
    const old = await createKey(test.db, tenant);
    const res = await rotate(old.id, { grace_period_seconds: 60 });
    const audit = await api.call({ path: `/audit?key_id=${old.id}&action=key.rotate`, token: owner.token });
    assert.equal(audit.json.data.length, 1);
    const entry = audit.json.data[0];
    assert.deepEqual(
      [entry.action, entry.key_prefix, entry.actor.id, entry.source_ip, entry.changes],
      ["key.rotate", old.keyPrefix, owner.userId, "127.0.0.1", {
        new_key_id: res.json.data.id,
        new_key_prefix: res.json.data.key_prefix,
        grace_period_seconds: 60,
        expires_at: { from: null, to: res.json.data.rotated_from.expires_at },
      }],
    );
  });

  await t.step("a key deleted while it is being rotated is 404, and nothing is created", async () => {
    const old = await createKey(test.db, tenant);
    // Deletes the key just before the rotation's own statement runs: the race the row lock settles.
    const racing: Database = {
      query: async (text, params) => {
        if (text.includes("salesos.rotate_api_key")) {
          await test.db.query("delete from salesos.api_keys where id = $1", [old.id]);
        }
        return await test.db.query(text, params);
      },
      exec: (script) => test.db.exec(script),
      close: () => Promise.resolve(),
    };
    const raced = apiKeysHarness(racing);
    const [{ before }] = await test.db.query<{ before: number }>(
      "select count(*)::int as before from salesos.api_keys",
    );
    const res = await raced.call({ method: "POST", path: `/${old.id}/rotate`, token: owner.token });
    assert.deepEqual([res.status, res.json.error.message], [404, "API key not found"]);
    const [{ after }] = await test.db.query<{ after: number }>("select count(*)::int as after from salesos.api_keys");
    assert.equal(after, before - 1);
  });
});

Deno.test("a rotation keeps the tenant within its cap of active keys", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db, { maxActiveKeysPerTenant: 3 });
  const post = async (name: string) => await api.call({ method: "POST", token: owner.token, body: { name } });
  const rotate = (id: string, body?: unknown) =>
    api.call({ method: "POST", path: `/${id}/rotate`, token: owner.token, body });
  const limit = "Active key limit reached: a tenant holds at most 3 active keys. Revoke or delete one first";
  const counts = async () =>
    (await test.db.query<{ active: number; keys: number; audits: number }>(
      `select count(*) filter (where revoked_at is null and (expires_at is null or expires_at > now()))::int as active,
              count(*)::int as keys, (select count(*)::int from salesos.audit_log) as audits
         from salesos.api_keys`,
    ))[0];
  const ids: string[] = [];
  for (const name of ["a", "b", "c"]) ids.push((await post(name)).json.data.id);

  await t.step("at the cap, a rotation with a grace period is 409 and writes nothing", async () => {
    const before = await counts();
    const res = await rotate(ids[0], { grace_period_seconds: 3600 });
    assert.deepEqual([res.status, res.json.error.code, res.json.error.message], [409, "CONFLICT", limit]);
    assert.deepEqual(await counts(), before);
    const [{ expires_at }] = await test.db.query("select expires_at from salesos.api_keys where id = $1", [ids[0]]);
    assert.equal(expires_at, null);
  });

  await t.step("at the cap, a rotation without a grace period replaces the key (201)", async () => {
    const res = await rotate(ids[0]);
    assert.equal(res.status, 201);
    ids[0] = res.json.data.id;
    assert.equal((await counts()).active, 3);
  });

  await t.step("below the cap, a rotation with a grace period may take the last place", async () => {
    await api.call({ method: "POST", path: `/${ids[2]}/revoke`, token: owner.token });
    const res = await rotate(ids[0], { grace_period_seconds: 3600 });
    assert.equal(res.status, 201);
    assert.equal((await counts()).active, 3);
    assert.equal((await rotate(ids[1], { grace_period_seconds: 3600 })).status, 409);
    assert.equal((await post("d")).status, 409);
  });

  await t.step("a creation and a rotation racing for the last place: one of them gets it", async () => {
    await api.call({ method: "POST", path: `/${ids[1]}/revoke`, token: owner.token });
    assert.equal((await counts()).active, 2);
    // Both reach the database while the tenant row is held, so both decide on the same count
    // unless each one waits for the other.
    await using holder = await openTransaction(test.url);
    await holder.query("select 1 from salesos.tenants where id = $1 for update", [tenant]);
    const racing = Promise.all([post("e"), rotate(ids[0], { grace_period_seconds: 60 })]);
    await lockWaiters(test.db, 2);
    await holder.finish("rollback");
    const [created, rotated] = await racing;
    assert.deepEqual([created.status, rotated.status].sort(), [201, 409]);
    assert.equal((await counts()).active, 3);
  });

  await t.step("a rotation and a revoke of the same key do not deadlock", async () => {
    assert.equal((await counts()).active, 3);
    const [{ id }] = await test.db.query<{ id: string }>(
      "select id::text from salesos.api_keys where revoked_at is null and (expires_at is null or expires_at > now()) limit 1",
    );
    // The revoke takes the key row and then checks the tenant (its audit entry's foreign key);
    // the rotation takes the tenant and then the key row.
    await using holder = await openTransaction(test.url);
    await holder.query("select 1 from salesos.api_keys where id = $1 for update", [id]);
    const revoking = api.call({ method: "POST", path: `/${id}/revoke`, token: owner.token });
    const rotating = rotate(id);
    await lockWaiters(test.db, 2);
    await holder.finish("rollback");
    const [revoked, rotated] = await Promise.all([revoking, rotating]);
    assert.equal(revoked.status, 200);
    assert.ok([201, 409].includes(rotated.status), `rotation answered ${rotated.status}`);
  });
});

// Who may do what: admin.integrations (owner, admin) within the tenant; members 403;
// X-Tenant-Id for users of several tenants; service_role tokens name their tenant; a tenant id in
// a body or query is ignored for users; a key of another tenant is 404 whatever the method.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { apiKeysHarness, hs256, member, serviceRoleClaims, userClaims } from "../support/api_keys.ts";

const forbidden = "Missing capability admin.integrations in this tenant";
const create = { name: "CRM sync" };

Deno.test("tenant admins", async (t) => {
  await using test = await freshDatabase();
  const acme = await createTenant(test.db, "acme");
  const globex = await createTenant(test.db, "globex");
  const api = apiKeysHarness(test.db);

  await t.step("owners and admins may manage keys", async () => {
    for (const role of ["owner", "admin"] as const) {
      const user = await member(test.db, acme, role);
      const res = await api.call({ method: "POST", token: user.token, body: create });
      assert.equal(res.status, 201, role);
      assert.equal(res.json.data.created_by, user.userId);
      assert.equal((await api.call({ token: user.token })).status, 200);
    }
  });

  await t.step("a member is 403 for every route", async () => {
    const user = await member(test.db, acme, "member");
    const key = await createKey(test.db, acme);
    const calls = [
      { method: "GET", path: "" },
      { method: "POST", path: "", body: create },
      { method: "GET", path: "/audit" },
      { method: "GET", path: `/${key.id}` },
      { method: "PATCH", path: `/${key.id}`, body: { name: "x" } },
      { method: "DELETE", path: `/${key.id}` },
      { method: "POST", path: `/${key.id}/revoke` },
      { method: "POST", path: `/${key.id}/rotate` },
      { method: "GET", path: `/${key.id}/usage` },
      { method: "GET", path: `/${key.id}/requests` },
    ];
    for (const call of calls) {
      const res = await api.call({ ...call, token: user.token });
      assert.deepEqual(
        [res.status, res.json.error.code, res.json.error.message],
        [403, "FORBIDDEN", forbidden],
        call.method + call.path,
      );
    }
    // Nothing the member asked for happened: the key is unchanged, and no other key was made.
    const seen = await api.call({ path: `/${key.id}`, token: (await member(test.db, acme, "owner")).token });
    assert.deepEqual([seen.json.data.status, seen.json.data.name, seen.json.data.expires_at], [
      "active",
      "test key",
      null,
    ]);
    const [{ n }] = await test.db.query<{ n: number }>(
      "select count(*)::int as n from salesos.api_keys where tenant_id = $1 and created_by = $2",
      [acme, user.userId],
    );
    assert.equal(n, 0);
  });

  await t.step("a user of no tenant is 403", async () => {
    const stranger = await hs256(userClaims(crypto.randomUUID()));
    const res = await api.call({ token: stranger });
    assert.deepEqual([res.status, res.json.error.message], [403, forbidden]);
  });

  await t.step("an admin of one tenant and member of another acts for the one they manage", async () => {
    const email = `split-${crypto.randomUUID().slice(0, 6)}@example.com`;
    await member(test.db, globex, "member", email);
    const user = await member(test.db, acme, "admin", email);
    const res = await api.call({ method: "POST", token: user.token, body: create });
    assert.equal(res.status, 201);
    const [{ tenant_id }] = await test.db.query<{ tenant_id: string }>(
      "select tenant_id from salesos.api_keys where id = $1",
      [res.json.data.id],
    );
    assert.equal(tenant_id, acme);
    assert.equal((await api.call({ token: user.token, tenant: globex })).status, 403);
  });

  await t.step("a user managing several tenants must name one with X-Tenant-Id", async () => {
    const email = `multi-${crypto.randomUUID().slice(0, 6)}@example.com`;
    await member(test.db, acme, "owner", email);
    const user = await member(test.db, globex, "admin", email);
    const ambiguous = await api.call({ token: user.token });
    assert.deepEqual([ambiguous.status, ambiguous.json.error.code], [400, "VALIDATION_ERROR"]);
    assert.deepEqual(ambiguous.json.error.details, [{
      field: "X-Tenant-Id",
      message: "required: you manage API keys in several tenants",
    }]);

    const inGlobex = await api.call({
      method: "POST",
      token: user.token,
      tenant: globex,
      body: { name: "for globex" },
    });
    assert.equal(inGlobex.status, 201);
    const listed = await api.call({ token: user.token, tenant: globex });
    assert.deepEqual(listed.json.data.map((k: { name: string }) => k.name), ["for globex"]);
    const inAcme = await api.call({ token: user.token, tenant: acme.toUpperCase() });
    assert.equal(inAcme.status, 200);
    assert.equal(inAcme.json.data.some((k: { name: string }) => k.name === "for globex"), false);
  });

  await t.step("X-Tenant-Id of a tenant that is not theirs, or of no tenant, is 403", async () => {
    const user = await member(test.db, acme, "owner");
    assert.equal((await api.call({ token: user.token, tenant: globex })).status, 403);
    assert.equal((await api.call({ token: user.token, tenant: crypto.randomUUID() })).status, 403);
  });

  await t.step("an X-Tenant-Id that is not a uuid is 400", async () => {
    const user = await member(test.db, acme, "owner");
    const res = await api.call({ token: user.token, tenant: "acme" });
    assert.deepEqual([res.status, res.json.error.details], [400, [{
      field: "X-Tenant-Id",
      message: "X-Tenant-Id must be a tenant id (uuid)",
    }]]);
  });

  await t.step("with a user token, tenant_id in the body or the query is ignored", async () => {
    const user = await member(test.db, acme, "owner");
    const created = await api.call({ method: "POST", token: user.token, body: { name: "mine", tenant_id: globex } });
    assert.equal(created.status, 201);
    const [{ tenant_id }] = await test.db.query<{ tenant_id: string }>(
      "select tenant_id from salesos.api_keys where id = $1",
      [created.json.data.id],
    );
    assert.equal(tenant_id, acme);
    const globexKey = await createKey(test.db, globex, { name: "globex secret" });
    const listed = await api.call({ token: user.token, path: `?tenant_id=${globex}&limit=100` });
    assert.equal(listed.status, 200);
    assert.equal(listed.json.data.some((k: { id: string }) => k.id === globexKey.id), false);
    const patched = await api.call({
      method: "PATCH",
      path: `/${created.json.data.id}`,
      token: user.token,
      body: { tenant_id: globex, name: "still mine" },
    });
    assert.deepEqual([patched.status, patched.json.data.name], [200, "still mine"]);
  });

  await t.step("a key of another tenant is 404 whatever the method", async () => {
    const user = await member(test.db, acme, "owner");
    const theirs = await createKey(test.db, globex);
    const calls = [
      { method: "GET", path: `/${theirs.id}` },
      { method: "PATCH", path: `/${theirs.id}`, body: { name: "hijacked" } },
      { method: "DELETE", path: `/${theirs.id}` },
      { method: "POST", path: `/${theirs.id}/revoke` },
      { method: "POST", path: `/${theirs.id}/rotate` },
      { method: "GET", path: `/${theirs.id}/usage` },
      { method: "GET", path: `/${theirs.id}/requests` },
    ];
    for (const call of calls) {
      const res = await api.call({ ...call, token: user.token });
      assert.deepEqual([res.status, res.json.error.code, res.json.error.message], [
        404,
        "NOT_FOUND",
        "API key not found",
      ], call.method + call.path);
    }
    const [row] = await test.db.query<{ name: string; revoked_at: string | null }>(
      "select name, revoked_at from salesos.api_keys where id = $1",
      [theirs.id],
    );
    assert.deepEqual(row, { name: "test key", revoked_at: null });
  });

  await t.step("an id that is no uuid is 404 after authentication", async () => {
    const user = await member(test.db, acme, "owner");
    assert.equal((await api.call({ token: user.token, path: "/not-a-key" })).status, 404);
    assert.equal((await api.call({ path: "/not-a-key" })).status, 401);
  });
});

Deno.test("platform admins (service_role tokens)", async (t) => {
  await using test = await freshDatabase();
  const acme = await createTenant(test.db, "acme");
  const globex = await createTenant(test.db, "globex");
  const api = apiKeysHarness(test.db);
  const service = await hs256(serviceRoleClaims());

  await t.step("act for the tenant named by X-Tenant-Id", async () => {
    const res = await api.call({ method: "POST", token: service, tenant: acme, body: create });
    assert.equal(res.status, 201);
    assert.equal(res.json.data.created_by, null);
    const listed = await api.call({ token: service, tenant: acme });
    assert.deepEqual(listed.json.data.map((k: { id: string }) => k.id), [res.json.data.id]);
  });

  await t.step("or by tenant_id in the body", async () => {
    const res = await api.call({ method: "POST", token: service, body: { ...create, tenant_id: globex } });
    assert.equal(res.status, 201);
    const [{ tenant_id }] = await test.db.query<{ tenant_id: string }>(
      "select tenant_id from salesos.api_keys where id = $1",
      [res.json.data.id],
    );
    assert.equal(tenant_id, globex);
    const revoked = await api.call({
      method: "POST",
      path: `/${res.json.data.id}/revoke`,
      token: service,
      body: { tenant_id: globex },
    });
    assert.deepEqual([revoked.status, revoked.json.data.status], [200, "revoked"]);
  });

  await t.step("without a tenant it is 400", async () => {
    const res = await api.call({ token: service });
    assert.deepEqual([res.status, res.json.error.code, res.json.error.message], [
      400,
      "VALIDATION_ERROR",
      "A service_role token must name a tenant with X-Tenant-Id or tenant_id in the body",
    ]);
    const noBodyTenant = await api.call({ method: "POST", token: service, body: create });
    assert.equal(noBodyTenant.status, 400);
  });

  await t.step("a tenant_id in the query does not count for it", async () => {
    assert.equal((await api.call({ token: service, path: `?tenant_id=${acme}` })).status, 400);
  });

  await t.step("header and body naming different tenants is 400; an invalid tenant_id is 400", async () => {
    const res = await api.call({
      method: "POST",
      token: service,
      tenant: acme,
      body: { ...create, tenant_id: globex },
    });
    assert.deepEqual([res.status, res.json.error.details[0].field], [400, "tenant_id"]);
    const same = await api.call({ method: "POST", token: service, tenant: acme, body: { ...create, tenant_id: acme } });
    assert.equal(same.status, 201);
    const invalid = await api.call({ method: "POST", token: service, body: { ...create, tenant_id: 42 } });
    assert.deepEqual(invalid.json.error.details, [{
      field: "tenant_id",
      message: "tenant_id must be a tenant id (uuid)",
    }]);
  });

  await t.step("a tenant that does not exist is 404", async () => {
    const res = await api.call({ token: service, tenant: crypto.randomUUID() });
    assert.deepEqual([res.status, res.json.error.message], [404, "Tenant not found"]);
  });

  await t.step("a key of another tenant is 404 for it too", async () => {
    const theirs = await createKey(test.db, globex);
    assert.equal((await api.call({ token: service, tenant: acme, path: `/${theirs.id}` })).status, 404);
    assert.equal((await api.call({ token: service, tenant: globex, path: `/${theirs.id}` })).status, 200);
  });

  // It used to be the audited actor; Supabase's service_role key names no user, so a service_role
  // token with a subject is no longer accepted (jwt_verification_test.ts).
  await t.step("a service_role token with a subject is 401; the actor of a service_role change has no id", async () => {
    const withSubject = await hs256(serviceRoleClaims({ sub: crypto.randomUUID() }));
    const refused = await api.call({ method: "POST", token: withSubject, tenant: acme, body: { name: "by operator" } });
    assert.equal(refused.status, 401);
    const res = await api.call({ method: "POST", token: service, tenant: acme, body: { name: "by operator" } });
    assert.equal(res.json.data.created_by, null);
    const audit = await api.call({ token: service, tenant: acme, path: "/audit?action=key.create&limit=1" });
    assert.deepEqual(audit.json.data[0].actor, { type: "service_role", id: null, email: null });
  });

  await t.step("a user token claiming role service_role in the body changes nothing", async () => {
    const user = await member(test.db, acme, "member");
    const res = await api.call({
      method: "POST",
      token: user.token,
      body: { ...create, role: "service_role", tenant_id: acme },
    });
    assert.equal(res.status, 403);
  });
});

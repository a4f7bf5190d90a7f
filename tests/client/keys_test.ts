// SalesOSKeysClient against the real api-keys function of `deno task start`, with a Dashboard
// token from `deno task token`: every api-keys operation, and a created key used at
// once by SalesOSClient.
import assert from "node:assert/strict";
import { SalesOSApiError, SalesOSClient, SalesOSKeysClient } from "../../clients/typescript/src/index.ts";
import { runTask } from "../support/server.ts";
import { uuidV4 } from "../support/patterns.ts";
import { startService } from "../support/client_service.ts";

Deno.test("key-management client against the running api-keys function", async (t) => {
  await using service = await startService();
  const minted = await runTask("token", ["--tenant", "acme", "--role", "admin"], {
    DATABASE_URL: service.database.url,
  });
  assert.equal(minted.code, 0, minted.stderr);
  const { token, tenant_id } = JSON.parse(minted.stdout);
  let tokenReads = 0;
  const keys = new SalesOSKeysClient({
    baseUrl: service.baseUrl,
    accessToken: () => {
      tokenReads++;
      return token;
    },
  });

  let created: Awaited<ReturnType<typeof keys.create>>;
  await t.step("create returns the key object and the plaintext once; the key works at once", async () => {
    created = await keys.create({ name: "CRM sync", scopes: ["default:sync"], rate_limit_per_hour: 500 });
    assert.match(created.key, /^sk_live_[a-z0-9]{32}$/);
    assert.deepEqual(
      { ...created, id: undefined, key: undefined, created_at: undefined, created_by: undefined },
      {
        id: undefined,
        key: undefined,
        name: "CRM sync",
        key_prefix: created.key.slice(0, 16),
        auth_scheme: "bearer",
        environment: "live",
        scopes: ["default:sync"],
        rate_limit_per_hour: 500,
        ip_allowlist: [],
        expires_at: null,
        status: "active",
        created_at: undefined,
        created_by: undefined,
        revoked_at: null,
        last_used_at: null,
        last_used_ip: null,
        request_count: 0,
      },
    );
    const sync = new SalesOSClient({ apiKey: created.key, baseUrl: service.baseUrl });
    await sync.syncCollaborators([{ external_id: "emp-1", name: "Ana", email: "ana@example.com" }]);
    assert.equal(sync.rateLimit?.limit, 500);
    // A token can expire: the provider is asked again for every request, never cached.
    const reads = tokenReads;
    await keys.get(created.id);
    await keys.get(created.id);
    assert.equal(tokenReads, reads + 2, "the token provider is asked per request");
  });

  await t.step("list pages with nextCursor; listAll walks every page", async () => {
    await keys.create({ name: "second", environment: "test" });
    await keys.create({ name: "third" });
    const first = await keys.list({ limit: 2 });
    assert.deepEqual(first.items.map((k) => k.name), ["third", "second"]);
    assert.ok(first.nextCursor);
    const rest = await keys.list({ limit: 2, cursor: first.nextCursor });
    assert.deepEqual([rest.items.map((k) => k.name), rest.nextCursor], [["CRM sync"], null]);
    const all = [];
    for await (const key of keys.listAll({ limit: 1 })) all.push(key.name);
    assert.deepEqual(all, ["third", "second", "CRM sync"]);
    assert.deepEqual((await keys.list({ environment: "test" })).items.map((k) => k.name), ["second"]);
  });

  await t.step("get and update", async () => {
    assert.equal((await keys.get(created.id)).name, "CRM sync");
    const updated = await keys.update(created.id, { name: "CRM nightly", rate_limit_per_hour: 2000 });
    assert.deepEqual([updated.name, updated.rate_limit_per_hour, updated.environment], ["CRM nightly", 2000, "live"]);
  });

  await t.step("usage and the request log show the sync request", async () => {
    const usage = await keys.usage(created.id, { bucket: "day" });
    assert.equal(usage.totals.total, 1);
    assert.equal(usage.totals["2xx"], 1);
    assert.equal(usage.request_count, 1);
    const requests = await keys.requests(created.id);
    assert.equal(requests.items.length, 1);
    assert.deepEqual([requests.items[0].action, requests.items[0].status], ["sync_collaborators", 200]);
    assert.match(requests.items[0].request_id, uuidV4);
  });

  let rotated: Awaited<ReturnType<typeof keys.rotate>>;
  await t.step("rotate: a new plaintext key, the old one expires after the grace period", async () => {
    rotated = await keys.rotate(created.id, { gracePeriodSeconds: 60 });
    assert.match(rotated.key, /^sk_live_[a-z0-9]{32}$/);
    assert.notEqual(rotated.id, created.id);
    assert.equal(rotated.rotated_from.id, created.id);
    assert.ok(Date.parse(rotated.rotated_from.expires_at!) > Date.now());
    assert.equal(rotated.rate_limit_per_hour, 2000);
  });

  await t.step("revoke is idempotent; rotating a revoked key is CONFLICT", async () => {
    assert.equal((await keys.revoke(rotated.id)).status, "revoked");
    assert.equal((await keys.revoke(rotated.id)).status, "revoked");
    const conflict = await keys.rotate(rotated.id).then(() => null, (e) => e);
    assert.ok(conflict instanceof SalesOSApiError);
    assert.deepEqual([conflict.status, conflict.code], [409, "CONFLICT"]);
  });

  await t.step("delete, then get is NOT_FOUND", async () => {
    assert.deepEqual(await keys.delete(rotated.id), { id: rotated.id, key_prefix: rotated.key_prefix, deleted: true });
    const gone = await keys.get(rotated.id).then(() => null, (e) => e);
    assert.ok(gone instanceof SalesOSApiError);
    assert.deepEqual([gone.status, gone.code], [404, "NOT_FOUND"]);
  });

  await t.step("the audit log records each action, filterable by key", async () => {
    const forRotated = await keys.audit({ keyId: rotated.id });
    assert.deepEqual(forRotated.items.map((e) => e.action), ["key.delete", "key.revoke", "key.create"]);
    const forCreated = await keys.audit({ keyId: created.id });
    assert.deepEqual(forCreated.items.map((e) => e.action), ["key.rotate", "key.update", "key.create"]);
    const rotations = await keys.audit({ action: "key.rotate" });
    assert.equal(rotations.items.length, 1);
  });

  await t.step("tenantId is sent as X-Tenant-Id; a wrong token is UNAUTHORIZED", async () => {
    const named = new SalesOSKeysClient({ baseUrl: service.baseUrl, accessToken: token, tenantId: tenant_id });
    assert.equal((await named.list()).items.length, 3);
    const forged = new SalesOSKeysClient({ baseUrl: service.baseUrl, accessToken: `${token.slice(0, -4)}AAAA` });
    const error = await forged.list().then(() => null, (e) => e);
    assert.ok(error instanceof SalesOSApiError);
    assert.deepEqual([error.status, error.code], [401, "UNAUTHORIZED"]);
  });
});

// GET /api-keys/audit: the tenant's key-management audit log (key.create, key.update, key.revoke,
// key.rotate, key.delete) with actor, key, time, source ip and changes; each mutation and its
// entry commit together or not at all.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createTenant } from "../support/fixtures.ts";
import { isoMs } from "../support/patterns.ts";
import { apiKeysHarness, hs256, member, serviceRoleClaims } from "../support/api_keys.ts";

Deno.test("audit log", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner", "olga@example.com");
  const admin = await member(test.db, tenant, "admin", "adam@example.com");
  const api = apiKeysHarness(test.db);
  const audit = (query = "", token = owner.token) => api.call({ path: `/audit${query}`, token });

  // One of each action, by two people, from two addresses.
  const created = await api.call({ method: "POST", token: owner.token, body: { name: "first" }, ip: "203.0.113.5" });
  const id = created.json.data.id;
  await api.call({ method: "PATCH", path: `/${id}`, token: admin.token, body: { name: "renamed" }, ip: "2001:db8::7" });
  const rotated = await api.call({
    method: "POST",
    path: `/${id}/rotate`,
    token: owner.token,
    body: { grace_period_seconds: 300 },
  });
  const newId = rotated.json.data.id;
  await api.call({ method: "POST", path: `/${newId}/revoke`, token: admin.token });
  await api.call({ method: "DELETE", path: `/${newId}`, token: owner.token });

  await t.step("every action is recorded, newest first, with actor, key, time, source ip and changes", async () => {
    const res = await audit();
    assert.equal(res.status, 200);
    const entries = res.json.data;
    assert.deepEqual(entries.map((e: { action: string }) => e.action), [
      "key.delete",
      "key.revoke",
      "key.create",
      "key.rotate",
      "key.update",
      "key.create",
    ]);
    assert.deepEqual(entries.map((e: { key_id: string }) => e.key_id), [newId, newId, newId, id, id, id]);
    assert.deepEqual(entries.map((e: { actor: { email: string } }) => e.actor.email), [
      "olga@example.com",
      "adam@example.com",
      "olga@example.com",
      "olga@example.com",
      "adam@example.com",
      "olga@example.com",
    ]);
    assert.deepEqual(entries[5].actor, { type: "user", id: owner.userId, email: "olga@example.com" });
    assert.deepEqual(entries.map((e: { source_ip: string }) => e.source_ip), [
      "127.0.0.1",
      "127.0.0.1",
      "127.0.0.1",
      "127.0.0.1",
      "2001:db8::7",
      "203.0.113.5",
    ]);
    assert.deepEqual(entries[4].changes, { name: { from: "first", to: "renamed" } });
    assert.equal(entries[5].key_prefix, created.json.data.key_prefix);
    assert.deepEqual(entries[3].changes.new_key_id, newId);
    // The rotated-in key's own entry: its settings, as a creation's, and where it came from.
    assert.equal(entries[2].key_prefix, rotated.json.data.key_prefix);
    assert.deepEqual(entries[2].changes, { ...entries[5].changes, name: "renamed", rotated_from: id });
    assert.deepEqual(entries[1].changes, { revoked_at: entries[1].changes.revoked_at });
    assert.match(entries[1].changes.revoked_at, isoMs);
    for (const entry of entries) {
      assert.deepEqual(Object.keys(entry).sort(), [
        "action",
        "actor",
        "changes",
        "id",
        "key_id",
        "key_prefix",
        "source_ip",
        "time",
      ]);
      assert.match(entry.time, isoMs);
    }
    assert.equal(JSON.stringify(entries).includes(rotated.json.data.key), false, "no plaintext in the audit log");
  });

  await t.step("filters: key_id and action", async () => {
    const forKey = await audit(`?key_id=${id}`);
    assert.deepEqual(forKey.json.data.map((e: { action: string }) => e.action), [
      "key.rotate",
      "key.update",
      "key.create",
    ]);
    const creates = await audit("?action=key.create");
    assert.deepEqual(creates.json.data.map((e: { key_id: string }) => e.key_id), [newId, id]);
    const forNewKey = await audit(`?key_id=${newId}`);
    assert.deepEqual(forNewKey.json.data.map((e: { action: string }) => e.action), [
      "key.delete",
      "key.revoke",
      "key.create",
    ]);
    const both = await audit(`?action=key.revoke&key_id=${newId}`);
    assert.equal(both.json.data.length, 1);
    assert.deepEqual((await audit(`?key_id=${crypto.randomUUID()}`)).json.data, []);
  });

  await t.step("paginated with limit and cursor", async () => {
    const first = await audit("?limit=2");
    const second = await audit(`?limit=2&cursor=${first.json.meta.next_cursor}`);
    const third = await audit(`?limit=2&cursor=${second.json.meta.next_cursor}`);
    const ids = [...first.json.data, ...second.json.data, ...third.json.data].map((e: { id: number }) => e.id);
    assert.deepEqual(ids, (await audit()).json.data.map((e: { id: number }) => e.id));
    assert.equal(third.json.meta.next_cursor, null);
  });

  await t.step("invalid filters are 400", async () => {
    for (
      const [query, field] of [["?action=key.explode", "action"], ["?key_id=abc", "key_id"], ["?limit=500", "limit"], [
        "?cursor=xyz",
        "cursor",
      ]]
    ) {
      const res = await audit(query);
      assert.deepEqual([res.status, res.json.error.code, res.json.error.details[0].field], [
        400,
        "VALIDATION_ERROR",
        field,
      ], query);
    }
  });

  await t.step("another tenant's audit log is not visible", async () => {
    const other = await createTenant(test.db);
    const stranger = await member(test.db, other, "owner");
    await api.call({ method: "POST", token: stranger.token, body: { name: "theirs" } });
    assert.equal((await audit("", stranger.token)).json.data.length, 1);
    assert.equal((await audit()).json.data.length, 6);
  });

  await t.step("service_role actions are recorded as such", async () => {
    const service = await hs256(serviceRoleClaims());
    await api.call({ method: "POST", token: service, tenant, body: { name: "platform" } });
    const [entry] = (await audit("?limit=1")).json.data;
    assert.deepEqual(entry.actor, { type: "service_role", id: null, email: null });
  });
});

Deno.test("audit source ip behind trusted proxies", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const forged = { "x-forwarded-for": "198.51.100.66" };

  await t.step("by default X-Forwarded-For is ignored: the socket peer is recorded", async () => {
    const api = apiKeysHarness(test.db);
    await api.call({
      method: "POST",
      token: owner.token,
      body: { name: "direct" },
      ip: "203.0.113.1",
      headers: forged,
    });
    const [entry] = (await api.call({ path: "/audit?limit=1", token: owner.token })).json.data;
    assert.equal(entry.source_ip, "203.0.113.1");
  });

  await t.step("with one trusted hop, the address the proxy saw is recorded", async () => {
    const api = apiKeysHarness(test.db, { trustedProxyHops: 1 });
    await api.call({
      method: "POST",
      token: owner.token,
      body: { name: "proxied" },
      ip: "10.0.0.2",
      headers: { "x-forwarded-for": "198.51.100.66, 192.0.2.44" },
    });
    const [entry] = (await api.call({ path: "/audit?limit=1", token: owner.token })).json.data;
    assert.equal(entry.source_ip, "192.0.2.44");
  });
});

Deno.test("a mutation and its audit entry commit together", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db);
  const key = (await api.call({ method: "POST", token: owner.token, body: { name: "guarded" } })).json.data;
  // From now on every audit insert fails: no mutation may survive without its entry.
  await test.db.exec(`
    create function public.refuse_audit() returns trigger language plpgsql as $$
    begin raise exception 'audit store unavailable'; end $$;
    create trigger refuse_audit before insert on salesos.audit_log for each row execute function public.refuse_audit();`);

  const attempts = [
    { name: "create", method: "POST", path: "", body: { name: "new" } },
    { name: "update", method: "PATCH", path: `/${key.id}`, body: { name: "changed" } },
    { name: "rotate", method: "POST", path: `/${key.id}/rotate`, body: { grace_period_seconds: 60 } },
    { name: "revoke", method: "POST", path: `/${key.id}/revoke` },
    { name: "delete", method: "DELETE", path: `/${key.id}` },
  ];
  for (const attempt of attempts) {
    await t.step(`${attempt.name} fails whole: 500 and nothing changed`, async () => {
      const res = await api.call({ ...attempt, token: owner.token });
      assert.deepEqual([res.status, res.json.error], [500, {
        code: "SERVER_ERROR",
        message: "Internal server error",
        doc_url: "http://127.0.0.1:54321/docs/errors.md#server_error",
      }]);
      const rows = await test.db.query<{ name: string; revoked_at: string | null; expires_at: string | null }>(
        "select name, revoked_at, expires_at from salesos.api_keys",
      );
      assert.deepEqual([...rows], [{ name: "guarded", revoked_at: null, expires_at: null }]);
    });
  }
  await t.step("the log line names the failure, the response does not", () => {
    assert.match(String(api.logs.at(-1)?.error), /audit store unavailable/);
  });
});

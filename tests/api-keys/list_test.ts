// GET /api-keys: newest first, cursor pagination (limit, cursor -> meta.next_cursor), filters
// status and environment.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { apiKeysHarness, member } from "../support/api_keys.ts";

Deno.test("list", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db);
  const list = (query = "") => api.call({ token: owner.token, path: query });
  const names = (res: { json: { data: { name: string }[] } }) => res.json.data.map((k) => k.name);

  await t.step("an empty tenant lists nothing, next_cursor null", async () => {
    const res = await list();
    assert.deepEqual([res.status, res.json.data, res.json.meta.next_cursor], [200, [], null]);
  });

  // 25 keys; some created in the same transaction share created_at, so the id breaks ties.
  const created: string[] = [];
  for (let i = 0; i < 22; i++) {
    created.push((await createKey(test.db, tenant, { name: `k${String(i).padStart(2, "0")}` })).id);
  }
  await test.db.query(
    "update salesos.api_keys set created_at = (select max(created_at) from salesos.api_keys) where name in ('k19', 'k20', 'k21')",
  );
  for (let i = 22; i < 25; i++) {
    created.push((await createKey(test.db, tenant, { name: `k${i}`, environment: "test" })).id);
  }

  await t.step("newest first, 20 by default, with a cursor for the rest", async () => {
    const res = await list();
    assert.equal(res.json.data.length, 20);
    assert.deepEqual(names(res).slice(0, 3), ["k24", "k23", "k22"]);
    assert.equal(typeof res.json.meta.next_cursor, "string");
    const next = await list(`?cursor=${res.json.meta.next_cursor}`);
    assert.equal(next.json.data.length, 5);
    assert.equal(next.json.meta.next_cursor, null);
    assert.deepEqual(new Set([...names(res), ...names(next)]).size, 25);
  });

  await t.step("walking pages of 2 visits every key once, in order, ties included", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await list(`?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      assert.equal(res.status, 200);
      seen.push(...res.json.data.map((k: { id: string }) => k.id));
      cursor = res.json.meta.next_cursor;
    } while (cursor);
    assert.equal(seen.length, 25);
    assert.deepEqual(new Set(seen), new Set(created));
    const rows = await test.db.query<{ id: string }>(
      "select id from salesos.api_keys order by created_at desc, id desc",
    );
    assert.deepEqual(seen, rows.map((r) => r.id));
  });

  await t.step("a page that ends exactly at the last key has no next_cursor", async () => {
    const res = await list("?limit=25");
    assert.deepEqual([res.json.data.length, res.json.meta.next_cursor], [25, null]);
    assert.equal((await list("?limit=100")).json.data.length, 25);
  });

  await t.step("environment filter", async () => {
    assert.deepEqual(names(await list("?environment=test")), ["k24", "k23", "k22"]);
    assert.equal((await list("?environment=live&limit=100")).json.data.length, 22);
  });

  await t.step("status filter: active, revoked, expired", async () => {
    await api.call({ method: "POST", token: owner.token, path: `/${created[0]}/revoke` });
    await test.db.query("update salesos.api_keys set expires_at = now() - interval '1 second' where id = $1", [
      created[1],
    ]);
    assert.deepEqual(names(await list("?status=revoked")), ["k00"]);
    assert.deepEqual(names(await list("?status=expired")), ["k01"]);
    const active = await list("?status=active&limit=100");
    assert.equal(active.json.data.length, 23);
    assert.equal(active.json.data.every((k: { status: string }) => k.status === "active"), true);
    assert.deepEqual(names(await list("?status=active&environment=test&limit=1")), ["k24"]);
  });

  await t.step("filters and pagination combine", async () => {
    const first = await list("?status=active&limit=20");
    const rest = await list(`?status=active&limit=20&cursor=${first.json.meta.next_cursor}`);
    assert.deepEqual([first.json.data.length, rest.json.data.length, rest.json.meta.next_cursor], [20, 3, null]);
  });

  await t.step("invalid limit, status, environment or cursor is 400 with details", async () => {
    const cases: [string, string][] = [
      ["?limit=0", "limit"],
      ["?limit=101", "limit"],
      ["?limit=ten", "limit"],
      ["?status=deleted", "status"],
      ["?environment=prod", "environment"],
      ["?cursor=garbage", "cursor"],
      [`?cursor=${btoa("2026-01-01T00:00:00.000000Z|42")}`, "cursor"],
      // Shaped like ours, but no time Postgres takes (these were 500s).
      [`?cursor=${btoa(`2026-02-30T00:00:00.000000Z|${crypto.randomUUID()}`)}`, "cursor"],
      [`?cursor=${btoa(`0000-01-01T00:00:00.000000Z|${crypto.randomUUID()}`)}`, "cursor"],
      [`?cursor=${btoa(`2026-01-01T24:00:00.000000Z|${crypto.randomUUID()}`)}`, "cursor"],
    ];
    for (const [query, field] of cases) {
      const res = await list(query);
      assert.deepEqual([res.status, res.json.error.code, res.json.error.message], [
        400,
        "VALIDATION_ERROR",
        "Invalid query parameters",
      ], query);
      assert.equal(res.json.error.details[0].field, field, query);
    }
  });

  await t.step("another tenant's keys never appear", async () => {
    const other = await createTenant(test.db);
    await createKey(test.db, other, { name: "theirs" });
    assert.equal(names(await list("?limit=100")).includes("theirs"), false);
  });
});

// GET /api-keys/:id/usage (counts per hour or day bucket by status class, last use) and
// GET /api-keys/:id/requests (the key's request log, newest first, paginated).
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";
import { isoMs, uuidPattern } from "../support/patterns.ts";
import { apiKeysHarness, member } from "../support/api_keys.ts";

const empty = { action: "sync_activities", activities: [] };
const hour = 3_600_000;

Deno.test("usage", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db);
  const integration = integrationHarness(test.db);
  const usage = (id: string, query = "") => api.call({ path: `/${id}/usage${query}`, token: owner.token });

  const key = await createKey(test.db, tenant, { rate_limit_per_hour: 4, ip_allowlist: ["192.0.2.0/24"] });
  // 2xx: two syncs; 4xx: a bad body (400), a wrong source (403), and past the limit (429).
  await integration.post(key.key, empty, { ip: "192.0.2.10" });
  await integration.post(key.key, { action: "sync_collaborators", collaborators: [] }, { ip: "192.0.2.11" });
  await integration.post(key.key, { action: "nope" }, { ip: "192.0.2.11" });
  await integration.post(key.key, empty, { ip: "198.51.100.1" });
  await integration.post(key.key, empty, { ip: "192.0.2.12" });
  const limited = await integration.post(key.key, empty, { ip: "192.0.2.12" });
  assert.equal(limited.status, 429);

  await t.step("by default: the last 24 hours in hour buckets, counts by status class, last use", async () => {
    const res = await usage(key.id);
    assert.equal(res.status, 200);
    const data = res.json.data;
    assert.equal(data.key_id, key.id);
    assert.equal(data.bucket, "hour");
    assert.ok(Math.abs(Date.parse(data.to) - Date.now()) < 5_000);
    assert.equal(Date.parse(data.to) - Date.parse(data.from), 24 * hour);
    assert.equal(data.buckets.length, 25, "the partial first hour and the current one included");
    assert.deepEqual(data.totals, { total: 6, "2xx": 3, "4xx": 3, "429": 1, "5xx": 0 });
    assert.deepEqual(data.buckets.at(-1), {
      start: data.buckets.at(-1).start,
      total: 6,
      "2xx": 3,
      "4xx": 3,
      "429": 1,
      "5xx": 0,
    });
    assert.equal(data.buckets.slice(0, -1).every((b: { total: number }) => b.total === 0), true);
    for (const b of data.buckets) assert.match(b.start, /^\d{4}-\d\d-\d\dT\d\d:00:00\.000Z$/);
    assert.equal(data.last_used_ip, "192.0.2.12");
    assert.match(data.last_used_at, isoMs);
    assert.equal(data.request_count, 4, "admitted requests: the two syncs, the bad body, the one before the limit");
  });

  await t.step("a range in hour or day buckets, zeros included, [from, to) in UTC", async () => {
    const other = await createKey(test.db, tenant);
    const insert = (at: string, status: number) =>
      test.db.query(
        `insert into salesos.request_log (request_id, tenant_id, key_id, environment, action, status, latency_ms, created_at)
         values (gen_random_uuid(), $1, $2, 'live', 'sync_activities', $3, 5, $4::timestamptz)`,
        [tenant, other.id, status, at],
      );
    await insert("2026-03-01T10:05:00Z", 200);
    await insert("2026-03-01T10:59:59Z", 503);
    await insert("2026-03-01T12:00:00Z", 429);
    await insert("2026-03-02T23:30:00-03:00", 200); // 2026-03-03T02:30Z
    await insert("2026-03-01T09:59:59Z", 200); // before the range

    const hourly = await usage(other.id, "?from=2026-03-01T10:00:00Z&to=2026-03-01T13:00:00Z&bucket=hour");
    assert.deepEqual(hourly.json.data.buckets, [
      { start: "2026-03-01T10:00:00.000Z", total: 2, "2xx": 1, "4xx": 0, "429": 0, "5xx": 1 },
      { start: "2026-03-01T11:00:00.000Z", total: 0, "2xx": 0, "4xx": 0, "429": 0, "5xx": 0 },
      { start: "2026-03-01T12:00:00.000Z", total: 1, "2xx": 0, "4xx": 1, "429": 1, "5xx": 0 },
    ]);
    assert.deepEqual(hourly.json.data.totals, { total: 3, "2xx": 1, "4xx": 1, "429": 1, "5xx": 1 });

    const daily = await usage(other.id, "?from=2026-03-01T00:00:00Z&to=2026-03-04T00:00:00Z&bucket=day");
    assert.deepEqual(
      daily.json.data.buckets.map((b: { start: string; total: number }) => [b.start.slice(0, 10), b.total]),
      [
        ["2026-03-01", 4],
        ["2026-03-02", 0],
        ["2026-03-03", 1],
      ],
    );
    const offsets = await usage(other.id, "?from=2026-03-01T07:00:00-03:00&to=2026-03-01T12:00:00%2B01:00&bucket=hour");
    assert.deepEqual(offsets.json.data.buckets.map((b: { total: number }) => b.total), [2]);
    assert.equal(offsets.json.data.from, "2026-03-01T10:00:00.000Z");

    const defaultDays = await usage(other.id, "?bucket=day");
    assert.equal(Date.parse(defaultDays.json.data.to) - Date.parse(defaultDays.json.data.from), 30 * 24 * hour);
  });

  await t.step("invalid from, to, bucket or range is 400 with details", async () => {
    const cases: [string, string, string?][] = [
      ["?from=yesterday", "from"],
      ["?to=2026-03-01", "to"],
      ["?bucket=minute", "bucket"],
      ["?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", "from", "from must be before to"],
      ["?from=2026-03-01T00:00:00Z&to=2026-03-01T00:00:00Z", "from", "from must be before to"],
      [
        "?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&bucket=hour",
        "from",
        "from..to spans more than 1000 hour buckets",
      ],
      [
        "?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&bucket=day",
        "from",
        "from..to spans more than 1000 day buckets",
      ],
      // Outside the years Postgres and ISO 8601 output share (these were 500s).
      [
        "?from=0000-01-01T00:00:00Z&to=0000-01-01T05:00:00Z",
        "from",
        "from must be within the years 0001-9999 UTC",
      ],
      [
        "?from=0001-01-01T00:00:00%2B01:00&to=0001-01-01T05:00:00Z",
        "from",
        "from must be within the years 0001-9999 UTC",
      ],
      [
        "?from=9999-12-31T20:00:00Z&to=9999-12-31T23:59:59-14:00",
        "to",
        "to must be within the years 0001-9999 UTC",
      ],
    ];
    for (const [query, field, message] of cases) {
      const res = await usage(key.id, query);
      assert.deepEqual([res.status, res.json.error.code], [400, "VALIDATION_ERROR"], query);
      assert.equal(res.json.error.details[0].field, field, query);
      if (message) assert.equal(res.json.error.details[0].message, message);
    }
    assert.equal((await usage(key.id, "?from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&bucket=day")).status, 200);
  });

  await t.step("usage of an unknown key is 404", async () => {
    assert.equal((await usage(crypto.randomUUID())).status, 404);
  });
});

Deno.test("request log", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db);
  const integration = integrationHarness(test.db);
  const requests = (id: string, query = "") => api.call({ path: `/${id}/requests${query}`, token: owner.token });
  const key = await createKey(test.db, tenant, { ip_allowlist: ["192.0.2.0/24"] });
  const other = await createKey(test.db, tenant);

  const sent: { json: { meta: { request_id: string } } }[] = [];
  sent.push(
    await integration.post(key.key, {
      action: "sync_collaborators",
      collaborators: [{ external_id: "e1", name: "Ana", email: "ana@example.com" }, { external_id: "e2", name: "Bo" }],
    }, { ip: "192.0.2.7" }),
  );
  const refused = await integration.post(key.key, { action: "sync_activities", activities: [] }, {
    ip: "198.51.100.9",
  });
  sent.push(await integration.post(key.key, { action: "sync_activities", activities: "x" }, { ip: "192.0.2.8" }));
  await integration.post(other.key, { action: "sync_activities", activities: [] });

  await t.step("newest first, with request id, time, action, status, ip, latency and item counts", async () => {
    const res = await requests(key.id);
    assert.equal(res.status, 200);
    const items = res.json.data;
    // Admitted requests only: the 403 (wrong source address) is counted in usage, not listed.
    assert.equal(refused.status, 403);
    assert.deepEqual(
      items.map((r: { request_id: string }) => r.request_id),
      sent.map((s) => s.json.meta.request_id).reverse(),
    );
    assert.deepEqual(items.map((r: { status: number }) => r.status), [400, 200]);
    assert.deepEqual(items.map((r: { ip: string }) => r.ip), ["192.0.2.8", "192.0.2.7"]);
    assert.deepEqual(items.map((r: { action: string | null }) => r.action), [
      "sync_activities",
      "sync_collaborators",
    ]);
    assert.deepEqual(items[1].item_counts, { total: 2, created: 1, existing: 0, errors: 1 });
    for (const item of items) {
      assert.deepEqual(Object.keys(item).sort(), [
        "action",
        "ip",
        "item_counts",
        "latency_ms",
        "request_id",
        "status",
        "time",
      ]);
      assert.match(item.request_id, uuidPattern);
      assert.match(item.time, isoMs);
      assert.equal(Number.isInteger(item.latency_ms) && item.latency_ms >= 0, true);
    }
    assert.equal(res.json.meta.next_cursor, null);
  });

  await t.step("paginated with limit and cursor", async () => {
    for (let i = 0; i < 5; i++) {
      await integration.post(key.key, { action: "sync_activities", activities: [] }, { ip: "192.0.2.1" });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await requests(key.id, `?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...res.json.data.map((r: { request_id: string }) => r.request_id));
      cursor = res.json.meta.next_cursor;
      pages++;
    } while (cursor);
    assert.deepEqual([seen.length, new Set(seen).size, pages], [7, 7, 3]);
    const all = await requests(key.id, "?limit=100");
    assert.deepEqual(all.json.data.map((r: { request_id: string }) => r.request_id), seen);
  });

  await t.step("invalid limit or cursor is 400", async () => {
    for (
      const [query, field] of [
        ["?limit=0", "limit"],
        ["?cursor=%%%", "cursor"],
        [`?cursor=${btoa(`2026-01-01T00:00:00.000000Z|${crypto.randomUUID()}`)}`, "cursor"],
        // Past bigint's maximum, and a date that does not exist (these were 500s).
        [`?cursor=${btoa("2026-01-01T00:00:00.000000Z|9999999999999999999")}`, "cursor"],
        [`?cursor=${btoa("2026-02-30T00:00:00.000000Z|1")}`, "cursor"],
      ]
    ) {
      const res = await requests(key.id, query);
      assert.deepEqual([res.status, res.json.error.details[0].field], [400, field], query);
    }
  });

  await t.step("an unknown key, or another tenant's, is 404", async () => {
    assert.equal((await requests(crypto.randomUUID())).status, 404);
    const stranger = await createKey(test.db, await createTenant(test.db));
    assert.equal((await requests(stranger.id)).status, 404);
  });
});

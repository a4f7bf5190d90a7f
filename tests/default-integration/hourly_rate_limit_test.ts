// A fixed hourly window per key, exact under concurrency and across instances.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant, withWrongSecret } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";

const empty = { action: "sync_activities", activities: [] };

Deno.test("rate limit", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const api = integrationHarness(test.db);

  await t.step("every admitted response carries the limit headers, counting down", async () => {
    const key = await createKey(test.db, tenant, { rate_limit_per_hour: 5 });
    const first = await api.post(key.key, empty);
    assert.equal(first.headers.get("x-ratelimit-limit"), "5");
    assert.equal(first.headers.get("x-ratelimit-remaining"), "4");
    assert.equal(first.headers.get("x-ratelimit-reset"), "3600");
    assert.equal(first.headers.get("ratelimit-policy"), '"hourly";q=5;w=3600');
    assert.equal(first.headers.get("ratelimit"), '"hourly";r=4;t=3600');
    const second = await api.post(key.key, empty);
    assert.equal(second.headers.get("x-ratelimit-remaining"), "3");
  });

  await t.step("at the limit further requests get 429 with retry_after and Retry-After", async () => {
    const key = await createKey(test.db, tenant, { rate_limit_per_hour: 3 });
    for (let i = 0; i < 3; i++) assert.equal((await api.post(key.key, empty)).status, 200);
    const refused = await api.post(key.key, empty);
    assert.equal(refused.status, 429);
    assert.equal(refused.json.error.code, "RATE_LIMITED");
    assert.equal(refused.json.error.message, "Rate limit exceeded");
    const retryAfter = refused.json.error.retry_after;
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 3590 && retryAfter <= 3600, String(retryAfter));
    assert.equal(refused.headers.get("retry-after"), String(retryAfter));
    assert.equal(refused.headers.get("x-ratelimit-remaining"), "0");
    assert.equal(refused.headers.get("x-ratelimit-reset"), String(retryAfter));
  });

  await t.step("retry_after counts the whole seconds left in the window", async () => {
    const key = await createKey(test.db, tenant, { rate_limit_per_hour: 1 });
    assert.equal((await api.post(key.key, empty)).status, 200);
    await test.db.query(
      "update salesos.api_keys set window_started_at = now() - interval '3600 seconds' + interval '1847 seconds' where id = $1",
      [key.id],
    );
    const refused = await api.post(key.key, empty);
    assert.equal(refused.status, 429);
    assert.ok([1846, 1847].includes(refused.json.error.retry_after), String(refused.json.error.retry_after));
  });

  await t.step("when the window ends the counter starts again from zero", async () => {
    const key = await createKey(test.db, tenant, { rate_limit_per_hour: 2 });
    await api.post(key.key, empty);
    await api.post(key.key, empty);
    assert.equal((await api.post(key.key, empty)).status, 429);
    await test.db.query(
      "update salesos.api_keys set window_started_at = now() - interval '1 hour' where id = $1",
      [key.id],
    );
    const next = await api.post(key.key, empty);
    assert.equal(next.status, 200);
    assert.equal(next.headers.get("x-ratelimit-remaining"), "1");
    assert.equal(next.headers.get("x-ratelimit-reset"), "3600");
  });

  await t.step("refused requests are not counted: 401, 403 and 429 leave the counter alone", async () => {
    const key = await createKey(test.db, tenant, { rate_limit_per_hour: 2, ip_allowlist: ["192.0.2.0/24"] });
    assert.equal((await api.post(key.key, empty, { ip: "198.51.100.1" })).status, 403);
    // The same key id with another secret: well-formed, so the verifier compares it and refuses.
    const compares = api.keys.bcryptCompares;
    assert.equal((await api.post(withWrongSecret(key.key), empty, { ip: "192.0.2.1" })).status, 401);
    assert.equal(api.keys.bcryptCompares, compares + 1);
    assert.equal((await api.post(key.key, empty, { ip: "192.0.2.1" })).headers.get("x-ratelimit-remaining"), "1");
    assert.equal((await api.post(key.key, empty, { ip: "192.0.2.1" })).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await api.post(key.key, empty, { ip: "192.0.2.1" })).status, 429);
    const [window] = await test.db.query<{ window_request_count: number }>(
      "select window_request_count from salesos.api_keys where id = $1",
      [key.id],
    );
    assert.equal(window.window_request_count, 2);
  });

  await t.step("an admitted request with a bad body still counts (authentication came first)", async () => {
    const key = await createKey(test.db, tenant, { rate_limit_per_hour: 10 });
    const bad = await api.post(key.key, { action: "nope" });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get("x-ratelimit-remaining"), "9");
  });

  await t.step("raising the limit acts on the next request", async () => {
    const key = await createKey(test.db, tenant, { rate_limit_per_hour: 1 });
    await api.post(key.key, empty);
    assert.equal((await api.post(key.key, empty)).status, 429);
    await test.db.query("update salesos.api_keys set rate_limit_per_hour = 5 where id = $1", [key.id]);
    assert.equal((await api.post(key.key, empty)).status, 200);
  });

  await t.step("each key has its own window", async () => {
    const a = await createKey(test.db, tenant, { rate_limit_per_hour: 1 });
    const b = await createKey(test.db, tenant, { rate_limit_per_hour: 1 });
    assert.equal((await api.post(a.key, empty)).status, 200);
    assert.equal((await api.post(a.key, empty)).status, 429);
    assert.equal((await api.post(b.key, empty)).status, 200);
  });

  await t.step("exact under concurrency across two instances: 100 of 240 concurrent requests admitted", async () => {
    const key = await createKey(test.db, tenant, { rate_limit_per_hour: 100 });
    const instances = [integrationHarness(test.connect()), integrationHarness(test.connect())];
    const answers = await Promise.all(
      Array.from({ length: 240 }, (_, i) => instances[i % 2].post(key.key, empty)),
    );
    const statuses = answers.map((a) => a.status);
    assert.equal(statuses.filter((s) => s === 200).length, 100);
    assert.equal(statuses.filter((s) => s === 429).length, 140);
    const remaining = answers.filter((a) => a.status === 200).map((a) =>
      Number(a.headers.get("x-ratelimit-remaining"))
    );
    assert.deepEqual(remaining.sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
    const [row] = await test.db.query<{ request_count: string }>(
      "select request_count from salesos.api_keys where id = $1",
      [key.id],
    );
    assert.equal(Number(row.request_count), 100);
  });
});

// Idempotency-Key on default-integration: the first answer per (API key, Idempotency-Key) is kept
// 24 hours and replayed to a retry with the same body, without applying anything again.
import assert from "node:assert/strict";
import { freshDatabase, lockWaiters, openTransaction } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";

const reused = "Idempotency-Key reused with a different request body";
const inFlight = "A request with this Idempotency-Key is still being processed";
const invalidKey = "Idempotency-Key must be 1 to 255 visible ASCII characters";

Deno.test("Idempotency-Key", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const live = await createKey(test.db, tenant, { rate_limit_per_hour: 100_000 });
  // Two instances: each its own app, key verifier and database pool.
  const one = integrationHarness(test.db);
  const two = integrationHarness(test.connect());

  const collaborators = (...emails: string[]) => ({
    action: "sync_collaborators",
    collaborators: emails.map((email, i) => ({ external_id: `ext-${email}`, name: `Name ${i}`, email })),
  });
  const post = (key: string, body: unknown, idempotencyKey?: string, api = one) =>
    api.post(key, body, idempotencyKey === undefined ? {} : { headers: { "Idempotency-Key": idempotencyKey } });
  const nameOf = async (email: string) =>
    (await test.db.query<{ name: string }>(
      "select name from salesos.collaborators where email_normalized = $1 and tenant_id = $2 and environment = 'live'",
      [email, tenant],
    ))[0]?.name;
  const stored = async (key: string) =>
    (await test.db.query<{ n: number }>(
      "select count(*)::int as n from salesos.idempotency_keys where idempotency_key = $1",
      [key],
    ))[0].n;

  await t.step("a retry with the same key and body gets the stored answer and applies nothing again", async () => {
    const body = collaborators("ana@example.com");
    const first = await post(live.key, body, "retry-1");
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.deepEqual(first.json.data, { created: 1, existing: 0, errors: [], total: 1 });
    assert.equal(first.headers.get("Idempotent-Replayed"), null);

    // A newer batch changes the collaborator; the old batch's retry must not overwrite it.
    await post(live.key, {
      action: "sync_collaborators",
      collaborators: [{ ...body.collaborators[0], name: "Newer" }],
    });
    const again = await post(live.key, body, "retry-1", two);
    assert.equal(again.status, 200);
    assert.equal(again.headers.get("Idempotent-Replayed"), "true");
    assert.deepEqual(again.json.data, first.json.data, "the first answer, not created 0 existing 1");
    assert.notEqual(again.json.meta.request_id, first.json.meta.request_id, "the replay is a request of its own");
    assert.equal(again.headers.get("X-Request-Id"), again.json.meta.request_id);
    assert.ok(again.headers.get("X-RateLimit-Remaining"), "an authenticated answer, with its rate-limit headers");
    assert.equal(await nameOf("ana@example.com"), "Newer");

    const [logged] = await test.db.query<{ status: number; item_counts: unknown }>(
      "select status, item_counts from salesos.request_log where request_id = $1",
      [again.json.meta.request_id],
    );
    assert.deepEqual(logged, { status: 200, item_counts: { replayed: 1 } });
    assert.equal(two.logs.at(-1)?.idempotent_replayed, true);
  });

  await t.step("sync_activities: the replay answers processed, not duplicates, and stores nothing", async () => {
    await post(live.key, collaborators("act@example.com"));
    const body = {
      action: "sync_activities",
      activities: [{ activity_code: "001", external_id: "call-1", collaborator_email: "act@example.com" }],
    };
    const first = await post(live.key, body, "acts-1");
    assert.deepEqual(first.json.data, { processed: 1, skipped: 0, duplicates: 0, errors: [], total: 1 });
    const again = await post(live.key, body, "acts-1");
    assert.equal(again.headers.get("Idempotent-Replayed"), "true");
    assert.deepEqual(again.json.data, first.json.data);
    const without = await post(live.key, body);
    assert.deepEqual(without.json.data, { processed: 0, skipped: 0, duplicates: 1, errors: [], total: 1 });
  });

  await t.step("an item error is part of the stored answer, echoes included", async () => {
    const body = {
      action: "sync_collaborators",
      collaborators: [{ external_id: "nul\u0000id", name: "Nul", email: "nul@example.com" }, {
        external_id: "ok-1",
        name: "Ok",
        email: "ok@example.com",
      }],
    };
    const first = await post(live.key, body, "with-errors");
    assert.equal(first.json.data.errors.length, 1);
    const again = await post(live.key, body, "with-errors");
    assert.equal(again.headers.get("Idempotent-Replayed"), "true");
    assert.deepEqual(again.json.data, first.json.data);
  });

  await t.step("the same key with a different body is 422 and applies nothing", async () => {
    await post(live.key, collaborators("bea@example.com"), "diff-1");
    const other = await post(live.key, collaborators("carl@example.com"), "diff-1");
    assert.equal(other.status, 422);
    assert.equal(other.json.error.code, "IDEMPOTENCY_KEY_REUSED");
    assert.equal(other.json.error.message, reused);
    assert.equal(await nameOf("carl@example.com"), undefined);
    // Another action with the same key is another body too.
    const activities = await post(live.key, { action: "sync_activities", activities: [] }, "diff-1");
    assert.equal(activities.status, 422);
    // The same JSON written differently is a different body: the comparison is of bytes, as documented.
    const spaced = await one.call({
      key: live.key,
      headers: { "Idempotency-Key": "diff-1", "Content-Type": "application/json" },
      body: JSON.stringify(collaborators("bea@example.com"), null, 2),
    });
    assert.equal(spaced.status, 422);
  });

  await t.step("a malformed Idempotency-Key is 400; the draft's quoted form is the same key", async () => {
    for (const bad of ["", "x".repeat(256), "with space", "acentuação", "tab\there"]) {
      const res = await post(live.key, collaborators("bad@example.com"), bad);
      assert.equal(res.status, 400, JSON.stringify(bad));
      assert.equal(res.json.error.code, "VALIDATION_ERROR");
      assert.equal(res.json.error.message, invalidKey);
    }
    assert.equal(await nameOf("bad@example.com"), undefined);
    const longest = await post(live.key, collaborators("long@example.com"), "k".repeat(255));
    assert.equal(longest.status, 200);
    const quoted = await post(live.key, collaborators("long@example.com"), `"${"k".repeat(255)}"`);
    assert.equal(quoted.headers.get("Idempotent-Replayed"), "true");
  });

  await t.step("a request refused before its batch (400) stores nothing: the key stays free", async () => {
    const invalid = await post(live.key, { action: "sync_activities", activities: [{}] }, "after-400");
    assert.equal(invalid.status, 400);
    assert.equal(await stored("after-400"), 0);
    const valid = await post(live.key, collaborators("dan@example.com"), "after-400");
    assert.equal(valid.status, 200);
    assert.equal(valid.headers.get("Idempotent-Replayed"), null);
  });

  await t.step("while the first is being applied, the same key on another instance is 409", async () => {
    await post(live.key, collaborators("eve@example.com"));
    const body = {
      action: "sync_activities",
      activities: [{ activity_code: "002", external_id: "held-1", collaborator_email: "eve@example.com" }],
    };
    // Another transaction stores the same external_id and does not commit: the first request waits in
    // its transaction, holding the Idempotency-Key.
    await using blocker = await openTransaction(test.url);
    await blocker.query(
      "select * from salesos.sync_activities($1::uuid, 'live', $2::uuid, gen_random_uuid(), null, 0, $3::jsonb)",
      [tenant, live.id, [[0, "002", "held-1", "eve@example.com", null, null]]],
    );
    const first = post(live.key, body, "in-flight", one);
    await lockWaiters(test.db, 1);
    const second = await post(live.key, body, "in-flight", two);
    assert.equal(second.status, 409);
    assert.equal(second.json.error.code, "CONFLICT");
    assert.equal(second.json.error.message, inFlight);
    await blocker.finish("rollback");
    const applied = await first;
    assert.deepEqual(applied.json.data, { processed: 1, skipped: 0, duplicates: 0, errors: [], total: 1 });
    const third = await post(live.key, body, "in-flight", two);
    assert.equal(third.headers.get("Idempotent-Replayed"), "true");
    assert.deepEqual(third.json.data, applied.json.data);
  });

  await t.step("concurrent identical requests on two instances: applied once, the others replayed or 409", async () => {
    const body = collaborators("burst@example.com", "burst2@example.com");
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => post(live.key, body, "burst", i % 2 ? one : two)),
    );
    const applied = answers.filter((a) => a.status === 200 && a.headers.get("Idempotent-Replayed") === null);
    const replayed = answers.filter((a) => a.headers.get("Idempotent-Replayed") === "true");
    const refused = answers.filter((a) => a.status === 409);
    assert.equal(applied.length, 1, JSON.stringify(answers.map((a) => [a.status, a.json.data ?? a.json.error])));
    assert.equal(applied.length + replayed.length + refused.length, answers.length);
    for (const answer of [...applied, ...replayed]) {
      assert.deepEqual(answer.json.data, { created: 2, existing: 0, errors: [], total: 2 });
    }
    assert.equal(await stored("burst"), 1);
  });

  await t.step("after 24 hours the key is free again, and maintenance deletes the old answer", async () => {
    await post(live.key, collaborators("old@example.com"), "day-old");
    await test.db.query(
      "update salesos.idempotency_keys set created_at = now() - interval '24 hours 1 second' where idempotency_key = $1",
      ["day-old"],
    );
    const other = await post(live.key, collaborators("new@example.com"), "day-old");
    assert.equal(other.status, 200, JSON.stringify(other.json));
    assert.equal(other.headers.get("Idempotent-Replayed"), null);
    assert.equal(await nameOf("new@example.com"), "Name 0");
    const again = await post(live.key, collaborators("new@example.com"), "day-old");
    assert.equal(again.headers.get("Idempotent-Replayed"), "true", "the new answer is the stored one now");

    await test.db.query(
      "update salesos.idempotency_keys set created_at = now() - interval '25 hours' where idempotency_key = $1",
      ["day-old"],
    );
    const done = await test.db.query<{ action: string }>("select salesos.maintain_request_log() as action");
    assert.ok(done.some((d) => d.action === "deleted 1 expired idempotency_keys rows"), JSON.stringify(done));
    assert.equal(await stored("day-old"), 0);
    assert.ok(await stored("burst") === 1, "a fresh answer is kept");
  });

  await t.step("keys of test and live, and of another tenant, never share an Idempotency-Key", async () => {
    const testKey = await createKey(test.db, tenant, { environment: "test", rate_limit_per_hour: 100_000 });
    const otherTenant = await createKey(test.db, await createTenant(test.db), { rate_limit_per_hour: 100_000 });
    const secondLive = await createKey(test.db, tenant, { rate_limit_per_hour: 100_000 });
    const body = collaborators("shared@example.com");
    for (const key of [live, testKey, otherTenant]) {
      const res = await post(key.key, body, "shared-key");
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("Idempotent-Replayed"), null, "applied for each key");
      assert.deepEqual(res.json.data, { created: 1, existing: 0, errors: [], total: 1 });
    }
    // Another key of the same tenant and environment has keys of its own as well: applied, and
    // existing (the live key wrote the collaborator).
    const sibling = await post(secondLive.key, body, "shared-key");
    assert.equal(sibling.headers.get("Idempotent-Replayed"), null);
    assert.deepEqual(sibling.json.data, { created: 0, existing: 1, errors: [], total: 1 });
    assert.equal(await stored("shared-key"), 4);
  });

  await t.step("the table is closed to the API roles (row-level security, no grants)", async () => {
    const [row] = await test.db.query<{ rls: boolean; granted: boolean; comment: string | null }>(
      `select c.relrowsecurity as rls,
              has_table_privilege('authenticated', c.oid, 'select') or has_table_privilege('anon', c.oid, 'select') as granted,
              obj_description(c.oid, 'pg_class') as comment
         from pg_catalog.pg_class c where c.oid = 'salesos.idempotency_keys'::regclass`,
    );
    assert.equal(row.rls, true);
    assert.equal(row.granted, false);
    assert.ok(row.comment);
  });
});

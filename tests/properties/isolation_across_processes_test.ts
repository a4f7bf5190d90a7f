// Isolation, over real HTTP across two server processes. Two tenants, each
// with a live and a test key: every default-integration behaviour (create, update, external_id
// conflicts, activities processed / duplicate / skipped, rate-limit windows, revocation, the
// request log) is tried in each of the four contexts with the same emails and external ids, and
// nothing crosses; then every api-keys endpoint is tried on the other tenant's keys (user and
// service_role tokens): 404, and the other tenant's key is untouched.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createTenant } from "../support/fixtures.ts";
import { serverEnv, startServer } from "../support/server.ts";
import {
  assertEnvelope,
  createKey,
  dashboardMember,
  http,
  type HttpAnswer,
  postJson,
  propertyTest,
  rememberSecrets,
  signToken,
} from "../support/properties.ts";

propertyTest("7", "isolation across tenants and environments", import.meta.url, async ({ step, figures }) => {
  await using test = await freshDatabase();
  const env = serverEnv(test.url);
  await using a = await startServer(env);
  await using b = await startServer(env);
  const servers = [a, b];
  let turn = 0;
  const counts = { requests: 0, cross_checks: 0, crossings: 0 };

  const tenants = { A: await createTenant(test.db, "iso-a"), B: await createTenant(test.db, "iso-b") };
  const contexts = [
    { name: "A/live", tenant: tenants.A, env: "live" as const },
    { name: "A/test", tenant: tenants.A, env: "test" as const },
    { name: "B/live", tenant: tenants.B, env: "live" as const },
    { name: "B/test", tenant: tenants.B, env: "test" as const },
  ];
  const keys = new Map<string, { id: string; key: string }>();
  for (const c of contexts) {
    keys.set(c.name, await createKey(test.db, c.tenant, { environment: c.env, rate_limit_per_hour: 1000 }));
  }

  /** A request in one context, on the two processes in turn. */
  async function sync(context: string, body: unknown): Promise<HttpAnswer> {
    const server = servers[turn++ % 2];
    const answer = await postJson(server.baseUrl, "default-integration", keys.get(context)!.key, body);
    assertEnvelope(answer);
    counts.requests++;
    return answer;
  }
  const collaborators = (...items: Record<string, unknown>[]) => ({
    action: "sync_collaborators",
    collaborators: items,
  });
  const activities = (...items: Record<string, unknown>[]) => ({ action: "sync_activities", activities: items });
  const ana = (name = "Ana") => ({ external_id: "emp-1", name, email: "ana@example.com" });
  const call = (id: string, email = "ana@example.com") => ({
    activity_code: "001",
    external_id: id,
    collaborator_email: email,
  });

  /** One expectation per context, checked on every context: what one does shows in no other. */
  function expectEach(results: Record<string, unknown>, expected: Record<string, unknown>, what: string) {
    for (const c of contexts) {
      counts.cross_checks++;
      if (JSON.stringify(results[c.name]) !== JSON.stringify(expected[c.name])) counts.crossings++;
      assert.deepEqual(results[c.name], expected[c.name], `${what} in ${c.name}`);
    }
  }

  await step("the same email in four contexts creates four collaborators; an update stays in its context", async () => {
    const first: Record<string, unknown> = {};
    for (const c of contexts) first[c.name] = (await sync(c.name, collaborators(ana(`Ana ${c.name}`)))).json.data;
    expectEach(
      first,
      Object.fromEntries(contexts.map((c) => [c.name, { created: 1, existing: 0, errors: [], total: 1 }])),
      "first sync",
    );
    await sync("A/live", collaborators(ana("Ana renamed in A/live")));
    const rows = await test.db.query<{ tenant_id: string; environment: string; name: string }>(
      "select tenant_id, environment, name from salesos.collaborators where email_normalized = 'ana@example.com'",
    );
    const names = Object.fromEntries(
      contexts.map((c) => [c.name, rows.find((r) => r.tenant_id === c.tenant && r.environment === c.env)?.name]),
    );
    expectEach(names, {
      "A/live": "Ana renamed in A/live",
      "A/test": "Ana A/test",
      "B/live": "Ana B/live",
      "B/test": "Ana B/test",
    }, "name");
  });

  await step("an external_id held in one context is free in every other", async () => {
    await sync("B/test", collaborators({ external_id: "held-in-b-test", name: "Bo", email: "bo@example.com" }));
    const results: Record<string, unknown> = {};
    for (const c of contexts) {
      results[c.name] = (await sync(
        c.name,
        collaborators({ external_id: "held-in-b-test", name: "Carla", email: "carla@example.com" }),
      )).json.data;
    }
    expectEach(results, {
      "A/live": { created: 1, existing: 0, errors: [], total: 1 },
      "A/test": { created: 1, existing: 0, errors: [], total: 1 },
      "B/live": { created: 1, existing: 0, errors: [], total: 1 },
      "B/test": {
        created: 0,
        existing: 0,
        errors: [
          "Collaborator held-in-b-test (carla@example.com): external_id is already used by another collaborator",
        ],
        total: 1,
      },
    }, "claiming an external_id");
  });

  await step(
    "the same activity external_id is stored once per context; a replay is a duplicate only in its own",
    async () => {
      const first: Record<string, unknown> = {};
      for (const c of contexts) first[c.name] = (await sync(c.name, activities(call("act-1")))).json.data;
      const processed = { processed: 1, skipped: 0, duplicates: 0, errors: [], total: 1 };
      expectEach(first, Object.fromEntries(contexts.map((c) => [c.name, processed])), "first activity");
      const replay: Record<string, unknown> = {};
      for (const c of contexts) replay[c.name] = (await sync(c.name, activities(call("act-1")))).json.data;
      const duplicate = { processed: 0, skipped: 0, duplicates: 1, errors: [], total: 1 };
      expectEach(replay, Object.fromEntries(contexts.map((c) => [c.name, duplicate])), "replay");
    },
  );

  await step("an email known in one context only is skipped in every other, and nothing is stored there", async () => {
    await sync("A/live", collaborators({ external_id: "only-a-live", name: "Dan", email: "dan@example.com" }));
    const results: Record<string, unknown> = {};
    for (const c of contexts) {
      results[c.name] = (await sync(c.name, activities(call("act-dan", "dan@example.com")))).json.data;
    }
    const skipped = { processed: 0, skipped: 1, duplicates: 0, errors: [], total: 1 };
    expectEach(results, {
      "A/live": { processed: 1, skipped: 0, duplicates: 0, errors: [], total: 1 },
      "A/test": skipped,
      "B/live": skipped,
      "B/test": skipped,
    }, "activity of an email known only in A/live");
  });

  await step(
    "what is stored per context is exactly what that context sent, linked to its own collaborators",
    async () => {
      const rows = await test.db.query<
        { tenant_id: string; environment: string; collaborators: string; activities: string }
      >(
        `select t.tenant_id, t.environment,
              (select count(*) from salesos.collaborators c where c.tenant_id = t.tenant_id and c.environment = t.environment) as collaborators,
              (select count(*) from salesos.activities a where a.tenant_id = t.tenant_id and a.environment = t.environment) as activities
         from (values ($1::uuid, 'live'), ($1::uuid, 'test'), ($2::uuid, 'live'), ($2::uuid, 'test')) as t (tenant_id, environment)`,
        [tenants.A, tenants.B],
      );
      const stored = Object.fromEntries(contexts.map((c) => {
        const r = rows.find((x) => x.tenant_id === c.tenant && x.environment === c.env)!;
        return [c.name, [Number(r.collaborators), Number(r.activities)]];
      }));
      expectEach(
        stored,
        { "A/live": [3, 2], "A/test": [2, 1], "B/live": [2, 1], "B/test": [2, 1] },
        "[collaborators, activities]",
      );
      const [links] = await test.db.query<{ foreign: string }>(
        `select count(*) as foreign from salesos.activities a join salesos.collaborators c on c.id = a.collaborator_id
        where a.tenant_id <> c.tenant_id or a.environment <> c.environment`,
      );
      assert.equal(Number(links.foreign), 0);
    },
  );

  await step("each key has its own rate-limit window: exhausting one leaves the other three untouched", async () => {
    await test.db.query("update salesos.api_keys set rate_limit_per_hour = request_count + 2 where id = $1", [
      keys.get("A/live")!.id,
    ]);
    const empty = activities();
    assert.equal((await sync("A/live", empty)).status, 200);
    assert.equal((await sync("A/live", empty)).status, 200);
    assert.equal((await sync("A/live", empty)).status, 429);
    const results: Record<string, unknown> = {};
    for (const c of contexts) results[c.name] = (await sync(c.name, empty)).status;
    expectEach(results, { "A/live": 429, "A/test": 200, "B/live": 200, "B/test": 200 }, "status after A/live's limit");
  });

  await step("revoking one key leaves the other three working", async () => {
    await test.db.query("select salesos.revoke_api_key($1::uuid, $2::uuid, null, 'cli', null)", [
      tenants.B,
      keys.get("B/test")!.id,
    ]);
    const results: Record<string, unknown> = {};
    for (const c of contexts) results[c.name] = (await sync(c.name, activities())).status;
    // A/live is still at its limit (429, not 401): the revoke touched only B/test.
    expectEach(results, { "A/live": 429, "A/test": 200, "B/live": 200, "B/test": 401 }, "status after B/test's revoke");
  });

  await step("every request-log row carries the tenant and environment of the key that made it", async () => {
    const [row] = await test.db.query<{ wrong: string; total: string }>(
      `select count(*) filter (where r.tenant_id <> k.tenant_id or r.environment <> k.environment) as wrong, count(*) as total
         from salesos.request_log r join salesos.api_keys k on k.id = r.key_id`,
    );
    assert.equal(Number(row.wrong), 0);
    assert.ok(Number(row.total) >= 30);
  });

  // --- api-keys across tenants ---

  const owners: Record<string, string> = {};
  for (const [name, tenant] of Object.entries(tenants)) {
    owners[name] = (await dashboardMember(test.db, tenant, `owner-${name}@example.com`)).token;
  }
  const now = Math.floor(Date.now() / 1000);
  const serviceRole = await signToken({ role: "service_role", iss: "supabase", iat: now, exp: now + 3600 });

  async function manage(
    token: string,
    method: string,
    path: string,
    options: { body?: unknown; tenant?: string } = {},
  ) {
    const server = servers[turn++ % 2];
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    if (options.tenant) headers["x-tenant-id"] = options.tenant;
    const answer = await http(`${server.baseUrl}/functions/v1/api-keys${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    assertEnvelope(answer, `${method} ${path}`);
    counts.requests++;
    return answer;
  }

  await step("api-keys: every endpoint on another tenant's key is 404, for a user and for service_role", async () => {
    const victim = keys.get("B/live")!;
    const attempts: [string, string, unknown?][] = [
      ["GET", `/${victim.id}`],
      ["PATCH", `/${victim.id}`, { name: "taken over", scopes: ["leads:read"] }],
      ["POST", `/${victim.id}/revoke`],
      ["POST", `/${victim.id}/rotate`, { grace_period_seconds: 0 }],
      ["GET", `/${victim.id}/usage`],
      ["GET", `/${victim.id}/requests`],
      ["DELETE", `/${victim.id}`],
    ];
    const statuses: Record<string, number> = {};
    figures.api_keys_cross_tenant_statuses = statuses;
    for (const [method, path, body] of attempts) {
      const asUser = await manage(owners.A, method, path, { body });
      const asPlatform = await manage(serviceRole, method, path, { body, tenant: tenants.A });
      statuses[`${method} ${path.replace(victim.id, ":id")}`] = asUser.status;
      statuses[`${method} ${path.replace(victim.id, ":id")} (service_role)`] = asPlatform.status;
      counts.cross_checks += 2;
    }
    const not404 = Object.entries(statuses).filter(([, status]) => status !== 404);
    // The victim's key is untouched and still works.
    const [row] = await test.db.query<{ name: string; revoked: boolean; scopes: string[] }>(
      "select name, revoked_at is not null as revoked, to_json(scopes) as scopes from salesos.api_keys where id = $1",
      [victim.id],
    );
    assert.deepEqual([row.name, row.revoked, row.scopes], ["test key", false, ["default:sync"]]);
    assert.equal((await sync("B/live", activities())).status, 200);
    // Nothing crossed; and the contract's answer for another tenant's key is 404 whatever the method.
    assert.deepEqual(not404, [], "answers other than 404 for another tenant's key");
  });

  await step("api-keys: lists, audit logs and usage show one tenant's own keys only", async () => {
    const [aCreated, bCreated] = [
      await manage(owners.A, "POST", "", { body: { name: "made by A", tenant_id: tenants.B } }),
      await manage(owners.B, "POST", "", { body: { name: "made by B" } }),
    ];
    rememberSecrets(aCreated.json.data.key, bCreated.json.data.key);
    assert.equal(aCreated.status, 201);
    const [{ tenant_id }] = await test.db.query<{ tenant_id: string }>(
      "select tenant_id from salesos.api_keys where id = $1",
      [aCreated.json.data.id],
    );
    assert.equal(tenant_id, tenants.A, "a user's tenant_id in the body is ignored");

    for (const [name, tenant] of Object.entries(tenants)) {
      const own =
        (await test.db.query<{ id: string }>("select id from salesos.api_keys where tenant_id = $1", [tenant])).map((
          r,
        ) => r.id).sort();
      const listed = await manage(owners[name], "GET", "?limit=100");
      assert.deepEqual(listed.json.data.map((k: { id: string }) => k.id).sort(), own, `list of ${name}`);
      const onlyTest = await manage(owners[name], "GET", "?environment=test&limit=100");
      assert.ok(onlyTest.json.data.length > 0, `test keys of ${name}`);
      assert.ok(onlyTest.json.data.every((k: { environment: string }) => k.environment === "test"));
      const audit = await manage(owners[name], "GET", "/audit?limit=100");
      assert.ok(audit.json.data.length > 0);
      assert.ok(
        audit.json.data.every((e: { key_id: string | null }) => e.key_id === null || own.includes(e.key_id)),
        `audit of ${name}`,
      );
      counts.cross_checks += 3;
    }
    const usage = await manage(owners.A, "GET", `/${keys.get("A/live")!.id}/requests?limit=100`);
    const [{ n }] = await test.db.query<{ n: string }>(
      "select count(*) as n from salesos.request_log where key_id = $1",
      [keys.get("A/live")!.id],
    );
    assert.equal(usage.json.data.length, Math.min(Number(n), 100));
  });

  await step(
    "api-keys: naming the other tenant with X-Tenant-Id is 403 for a user, and creates nothing there",
    async () => {
      const before =
        (await test.db.query<{ n: string }>("select count(*) as n from salesos.api_keys where tenant_id = $1", [
          tenants.B,
        ]))[0].n;
      const res = await manage(owners.A, "POST", "", { body: { name: "intruder" }, tenant: tenants.B });
      assert.equal(res.status, 403);
      const list = await manage(owners.A, "GET", "", { tenant: tenants.B });
      assert.equal(list.status, 403);
      const after =
        (await test.db.query<{ n: string }>("select count(*) as n from salesos.api_keys where tenant_id = $1", [
          tenants.B,
        ]))[0].n;
      assert.equal(after, before);
      counts.cross_checks += 2;
    },
  );

  Object.assign(figures, { server_processes: 2, tenants: 2, environments: 2, ...counts });
  assert.equal(counts.crossings, 0);
});

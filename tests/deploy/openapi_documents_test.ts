// The OpenAPI 3.1 documents of both functions: served without authentication, clean
// under an OpenAPI linter, in step with the routes the apps serve, carrying the contract's
// examples, and describing the answers the service really gives.
import assert from "node:assert/strict";
import { createConfig, lintFromString } from "@redocly/openapi-core";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { Database } from "../../supabase/functions/_shared/database.ts";
import { DatabaseUnavailableError, errorStatus } from "../../supabase/functions/_shared/errors.ts";
import type { OpenApiDocument } from "../../supabase/functions/_shared/openapi.ts";
import { createApiKeysApp } from "../../supabase/functions/api-keys/app.ts";
import { createIntegrationApp } from "../../supabase/functions/default-integration/app.ts";
import { functionDocuments } from "../../tools/docs.ts";
import { apiKeysHarness, hs256, member, serviceRoleClaims } from "../support/api_keys.ts";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";
import { documentChecker } from "../support/openapi.ts";

const documents = await functionDocuments();
const methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/** A database whose every statement fails the way `failure` says. */
function failingDatabase(failure: () => Error): Database {
  return {
    query: () => Promise.reject(failure()),
    exec: () => Promise.reject(failure()),
    close: () => Promise.resolve(),
  };
}

/** The documented operations of a document, as "METHOD /path" with `{param}` templates. */
function documentedOperations(document: OpenApiDocument): string[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item).filter((key) => methods.includes(key.toUpperCase())).map((m) => `${m.toUpperCase()} ${path}`)
  ).sort();
}

/** The operations a Hono app serves: every route but the 405 catch-alls (ALL) and middleware. */
function servedOperations(app: { routes: { method: string; path: string }[] }): string[] {
  return app.routes.filter((r) => r.method !== "ALL").map((r) =>
    `${r.method} ${r.path.replace(/:([A-Za-z_]+)/g, "{$1}")}`
  ).sort();
}

/** The linter's findings that are accepted, each for a stated reason. */
const acceptedFindings: { ruleId: string; pointer: RegExp; reason: string }[] = [
  {
    ruleId: "operation-4xx-response",
    pointer: /^#\/paths\/~1(default-integration|api-keys)~1(health|openapi\.json)\/get\/responses$/,
    reason: "health and openapi.json take no input and no credential: no client error to document",
  },
];

async function lint(document: unknown) {
  // recommended-strict: every rule of Redocly's recommended set as an error. info-license is off:
  // no license has been chosen for the API yet (the client package is UNLICENSED too).
  const config = await createConfig({ extends: ["recommended-strict"], rules: { "info-license": "off" } });
  const problems = await lintFromString({ source: JSON.stringify(document), absoluteRef: "openapi.json", config });
  return problems.map((p) => ({
    ruleId: p.ruleId,
    severity: p.severity,
    message: p.message,
    pointer: p.location?.[0]?.pointer ?? "",
  }));
}

Deno.test("OpenAPI documents", async (t) => {
  await t.step("both documents pass the Redocly linter (recommended-strict) with no error", async () => {
    for (const [name, document] of Object.entries(documents)) {
      const problems = await lint(document);
      const unexpected = problems.filter((p) =>
        !acceptedFindings.some((a) => a.ruleId === p.ruleId && a.pointer.test(p.pointer))
      );
      assert.deepEqual(unexpected, [], `${name}: ${JSON.stringify(unexpected, null, 2)}`);
    }
  });

  await t.step("the linter does catch an example that does not match its schema", async () => {
    const broken = structuredClone(documents["default-integration"]) as any;
    const examples = broken.paths["/default-integration"].post.requestBody.content["application/json"].examples;
    examples.sync_activities.value.activities[0].activity_code = 1;
    const problems = await lint(broken);
    assert.ok(
      problems.some((p) => p.ruleId === "no-invalid-media-type-examples" && p.severity === "error"),
      JSON.stringify(problems),
    );
  });

  await t.step("both are OpenAPI 3.1 with the contract's security schemes", () => {
    const integration = documents["default-integration"] as any;
    const keys = documents["api-keys"] as any;
    assert.match(integration.openapi, /^3\.1\./);
    assert.match(keys.openapi, /^3\.1\./);
    assert.deepEqual(
      [integration.components.securitySchemes.apiKey.type, integration.components.securitySchemes.apiKey.scheme],
      ["http", "bearer"],
    );
    assert.match(integration.components.securitySchemes.apiKey.description, /sk_live_/);
    assert.match(integration.components.securitySchemes.apiKey.description, /crc32/, "the checksum, for scanners");
    assert.equal(keys.components.securitySchemes.dashboardJwt.bearerFormat, "JWT");
    // Beside Bearer, the signed scheme: its header, its HMAC chain, its path.
    const signed = integration.components.securitySchemes.signedRequest;
    assert.deepEqual([signed.type, signed.scheme], ["http", "P2S-SIGN-V1"]);
    assert.ok(signed.description.includes("P2S-SIGN-V1 <API_KEY>:<TIMESTAMP>:<SIGNATURE>"), signed.description);
    for (const step of ["k1 = HMAC_SHA256(key = SECRET, msg = API_KEY)", "/functions/v1/default-integration"]) {
      assert.ok(signed.description.includes(step), step);
    }
    assert.match(integration.info.description, /P2S-SIGN-V1/);
    const sync = integration.paths["/default-integration"].post;
    assert.deepEqual(sync.security, [{ apiKey: [] }, { signedRequest: [] }], "Bearer or signed");
    assert.deepEqual(keys.paths["/api-keys"].get.security, [{ dashboardJwt: [] }]);
    for (const [name, document] of Object.entries(documents) as [string, any][]) {
      for (const [path, item] of Object.entries(document.paths) as [string, any][]) {
        for (const [method, operation] of Object.entries(item) as [string, any][]) {
          const open = path.endsWith("/health") || path.endsWith("/openapi.json");
          assert.deepEqual(operation.security.length === 0, open, `${name} ${method} ${path}: security`);
        }
      }
    }
  });

  await t.step("every route the apps serve is documented, and every documented operation is served", () => {
    const db = failingDatabase(() => new Error("unused"));
    const integration = createIntegrationApp({ db, keys: {} as never, config: { trustedProxyHops: 0 }, log: () => {} });
    const keys = createApiKeysApp({
      db,
      jwt: {} as never,
      config: { trustedProxyHops: 0, maxActiveKeysPerTenant: 100, bcryptCost: 4 },
      log: () => {},
    });
    assert.deepEqual(servedOperations(integration), documentedOperations(documents["default-integration"]));
    assert.deepEqual(servedOperations(keys), documentedOperations(documents["api-keys"]));
  });

  await t.step("every other method on a documented path is 405 with Allow listing the documented ones", async () => {
    // A 405 is decided by the route alone: no database behind it.
    const db = failingDatabase(() => new Error("unused"));
    const integration = integrationHarness(db);
    const keys = apiKeysHarness(db);
    for (const [name, document] of Object.entries(documents)) {
      for (const [template, item] of Object.entries(document.paths)) {
        const path = template.replace("{id}", crypto.randomUUID());
        const allowed = Object.keys(item).map((m) => m.toUpperCase()).sort();
        for (const method of methods.filter((m) => !allowed.includes(m))) {
          const res = name === "api-keys"
            ? await keys.call({ method, path: path.slice("/api-keys".length) })
            : await integration.call({ method, path });
          assert.equal(res.status, 405, `${method} ${path}`);
          assert.deepEqual(res.headers.get("allow")?.split(", ").sort(), allowed, `${method} ${path}`);
        }
      }
    }
  });

  await t.step("the documented curl examples are the document's examples", () => {
    const post = (documents["default-integration"] as any).paths["/default-integration"].post;
    const requests = Object.values(post.requestBody.content["application/json"].examples).map((e: any) => e.value);
    assert.deepEqual(requests[0], {
      action: "sync_collaborators",
      collaborators: [{ external_id: "emp-101", name: "Maria Santos", email: "maria@yourcompany.com" }],
    });
    assert.deepEqual(requests[1], {
      action: "sync_activities",
      activities: [{
        activity_code: "001",
        external_id: "crm-call-5001",
        collaborator_email: "maria@yourcompany.com",
        data: { client: "Acme Corp", duration_min: 12 },
        occurred_at: "2026-03-17T09:15:00-03:00",
      }],
    });
    const answers = Object.values(post.responses["200"].content["application/json"].examples).map((e: any) =>
      e.value.data
    );
    for (
      const data of [
        { created: 1, existing: 0, errors: [], total: 1 },
        { created: 0, existing: 1, errors: [], total: 1 },
        { processed: 1, skipped: 0, duplicates: 0, errors: [], total: 1 },
        { processed: 0, skipped: 0, duplicates: 1, errors: [], total: 1 },
      ]
    ) {
      assert.ok(answers.some((a) => JSON.stringify(a) === JSON.stringify(data)), JSON.stringify(data));
    }
    const responses = (documents["default-integration"] as any).components.responses;
    const errors = (name: string) =>
      Object.values(responses[name].content["application/json"].examples).map((e: any) => e.value.error);
    assert.ok(
      errors("Unauthorized").some((e) =>
        e.message === "Missing or malformed Authorization header. Expected: Bearer sk_live_xxx"
      ),
    );
    assert.ok(
      errors("Unauthorized").some((e) => e.message === "Invalid API key prefix. Expected sk_live_ or sk_test_"),
    );
    assert.ok(errors("Forbidden").some((e) => e.message === "API key missing required scopes: default:sync"));
    assert.deepEqual(errors("RateLimited")[0], {
      code: "RATE_LIMITED",
      message: "Rate limit exceeded",
      retry_after: 1847,
    });
  });

  await t.step("every error answer is documented with the error envelope, and 429/503 with Retry-After", () => {
    for (const [name, document] of Object.entries(documents) as [string, any][]) {
      for (const [path, item] of Object.entries(document.paths) as [string, any][]) {
        for (const [method, operation] of Object.entries(item) as [string, any][]) {
          for (const [status, answer] of Object.entries(operation.responses) as [string, any][]) {
            if (Number(status) < 400) continue;
            const resolved = answer.$ref ? document.components.responses[answer.$ref.split("/").pop()] : answer;
            const label = `${name} ${method} ${path} ${status}`;
            assert.deepEqual(
              resolved.content["application/json"].schema,
              { $ref: "#/components/schemas/Error" },
              label,
            );
            if (status === "429" || status === "503") assert.ok(resolved.headers["Retry-After"], label);
          }
        }
      }
    }
  });
});

Deno.test("OpenAPI documents are served and describe the real answers", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const integration = integrationHarness(test.db);
  const keys = apiKeysHarness(test.db);
  const integrationDoc = documentChecker(documents["default-integration"]);
  const keysDoc = documentChecker(documents["api-keys"]);

  const sync = async (key: string | undefined, body: unknown, headers?: Record<string, string>, api = integration) => {
    const res = await api.call({ key, body, headers });
    integrationDoc.check("POST", "/default-integration", res);
    return res;
  };
  const manage = async (method: string, path: string, options: { body?: unknown; token?: string } = {}, api = keys) => {
    const res = await api.call({ method, path, token: options.token ?? owner.token, body: options.body });
    keysDoc.check(method, `/api-keys${path}`, res);
    return res;
  };

  await t.step("the error code is an open set: an unknown code validates, the known ones are listed", () => {
    for (const [name, document] of Object.entries(documents) as [string, any][]) {
      const ajv = new Ajv2020({ strict: false, validateSchema: false });
      ajv.addSchema(document, "openapi");
      const validCode = ajv.compile({ $ref: "openapi#/components/schemas/ErrorCode" });
      for (const code of ["VALIDATION_ERROR", "NOT_FOUND", "A_CODE_ADDED_LATER"]) {
        assert.ok(validCode(code), `${name}: ${code}`);
      }
      const schema = document.components.schemas.ErrorCode;
      assert.deepEqual([...schema["x-extensible-enum"]].sort(), Object.keys(errorStatus).sort(), name);
      assert.match(schema.description, /unknown|do not know/i, `${name}: says how to treat an unknown code`);
    }
  });

  await t.step("GET <function>/openapi.json answers the document without authentication", async () => {
    const a = await integration.call({ method: "GET", path: "/default-integration/openapi.json" });
    assert.equal(a.status, 200);
    assert.deepEqual(a.json, documents["default-integration"]);
    assert.match(a.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    assert.equal(a.headers.get("access-control-allow-origin"), "*");
    integrationDoc.check("GET", "/default-integration/openapi.json", a);

    const b = await keys.call({ method: "GET", path: "/openapi.json" });
    assert.equal(b.status, 200);
    assert.deepEqual(b.json, documents["api-keys"]);
    keysDoc.check("GET", "/api-keys/openapi.json", b);
  });

  await t.step("default-integration: successes, every error class and health match the document", async () => {
    const key = await createKey(test.db, tenant, { rate_limit_per_hour: 100 });
    const scopeless = await createKey(test.db, tenant, { scopes: ["leads:read"] });
    const allowlisted = await createKey(test.db, tenant, { ip_allowlist: ["203.0.113.7"] });
    const limited = await createKey(test.db, tenant, { rate_limit_per_hour: 1 });
    const maria = { external_id: "emp-101", name: "Maria Santos", email: "maria@yourcompany.com" };
    const call = {
      activity_code: "001",
      external_id: "crm-call-5001",
      collaborator_email: "maria@yourcompany.com",
      data: { client: "Acme Corp", duration_min: 12 },
      occurred_at: "2026-03-17T09:15:00-03:00",
    };

    assert.equal((await sync(key.key, { action: "sync_collaborators", collaborators: [maria] })).json.data.created, 1);
    assert.equal((await sync(key.key, { action: "sync_collaborators", collaborators: [maria] })).json.data.existing, 1);
    const itemError = await sync(key.key, {
      action: "sync_collaborators",
      collaborators: [maria, { external_id: "emp-102", name: "X", email: "not-an-email" }],
    });
    assert.equal(itemError.json.data.errors.length, 1);
    assert.equal((await sync(key.key, { action: "sync_activities", activities: [call] })).json.data.processed, 1);
    assert.equal((await sync(key.key, { action: "sync_activities", activities: [call] })).json.data.duplicates, 1);
    const once = { "Idempotency-Key": "doc-1" };
    assert.equal((await sync(key.key, { action: "sync_activities", activities: [] }, once)).status, 200);
    const replayed = await sync(key.key, { action: "sync_activities", activities: [] }, once);
    assert.equal(replayed.headers.get("Idempotent-Replayed"), "true");
    assert.equal((await sync(key.key, { action: "sync_collaborators", collaborators: [] }, once)).status, 422);
    assert.equal(
      (await sync(key.key, { action: "sync_activities", activities: [] }, { "Idempotency-Key": "" })).status,
      400,
    );

    const statuses = [
      await sync(key.key, { action: "nope" }),
      await sync(key.key, { action: "sync_activities", activities: [{ activity_code: "0" }] }),
      await sync(key.key, "{", { "content-type": "application/json" }),
      await sync(undefined, { action: "sync_activities", activities: [] }),
      await sync("mytoken123456789", { action: "sync_activities", activities: [] }),
      await sync("sk_live_short", { action: "sync_activities", activities: [] }),
      await sync(scopeless.key, { action: "sync_activities", activities: [] }),
      await sync(allowlisted.key, { action: "sync_activities", activities: [] }),
      await sync(key.key, "{}", { "content-type": "application/json", "content-length": String(6 * 1024 * 1024) }),
      await sync(key.key, "action=sync_activities", { "content-type": "text/plain" }),
      await sync(limited.key, { action: "sync_activities", activities: [] }),
      await sync(limited.key, { action: "sync_activities", activities: [] }),
    ].map((r) => r.status);
    assert.deepEqual(statuses, [400, 400, 400, 401, 401, 401, 403, 403, 413, 415, 200, 429]);

    const health = await integration.call({ method: "GET", path: "/default-integration/health" });
    assert.equal(health.status, 200);
    integrationDoc.check("GET", "/default-integration/health", health);

    const down = integrationHarness(failingDatabase(() => new DatabaseUnavailableError(new Error("down"))));
    const unavailable = await sync(key.key, { action: "sync_activities", activities: [] }, undefined, down);
    assert.equal(unavailable.status, 503);
    const unhealthy = await down.call({ method: "GET", path: "/default-integration/health" });
    assert.equal(unhealthy.status, 503);
    integrationDoc.check("GET", "/default-integration/health", unhealthy);

    const broken: Database = {
      query: (text, params) =>
        /salesos\.sync_/.test(text) ? Promise.reject(new Error("a bug")) : test.db.query(text, params),
      exec: (script) => test.db.exec(script),
      close: () => Promise.resolve(),
    };
    const failed = await sync(
      key.key,
      { action: "sync_activities", activities: [] },
      undefined,
      integrationHarness(broken),
    );
    assert.equal(failed.status, 500);
  });

  await t.step("api-keys: every operation's success and its error classes match the document", async () => {
    const created = await manage("POST", "", {
      body: { name: "CRM sync", scopes: ["default:sync"], ip_allowlist: ["203.0.113.7", "198.51.100.0/24"] },
    });
    assert.equal(created.status, 201);
    const id = created.json.data.id;
    // A request of the key, so that usage and requests have something to show.
    assert.equal(
      (await integration.post(created.json.data.key, { action: "sync_activities", activities: [] }, {
        ip: "203.0.113.7",
      })).status,
      200,
    );

    const successes: [string, string, unknown, number][] = [
      ["GET", "", undefined, 200],
      ["GET", "?limit=1&status=active", undefined, 200],
      ["GET", `/${id}`, undefined, 200],
      ["PATCH", `/${id}`, { rate_limit_per_hour: 10000, expires_at: "2099-01-01T00:00:00Z" }, 200],
      ["GET", `/${id}/usage`, undefined, 200],
      ["GET", `/${id}/usage?bucket=day`, undefined, 200],
      ["GET", `/${id}/requests`, undefined, 200],
      ["POST", `/${id}/rotate`, { grace_period_seconds: 60 }, 201],
      ["POST", `/${id}/revoke`, undefined, 200],
      ["GET", "/audit", undefined, 200],
      ["DELETE", `/${id}`, undefined, 200],
    ];
    for (const [method, path, body, status] of successes) {
      assert.equal((await manage(method, path, { body })).status, status, `${method} ${path}`);
    }
    const rotated = await manage("GET", "?limit=1");
    assert.equal(rotated.json.data[0].status, "active");

    const stranger = await member(test.db, tenant, "member");
    const other = await createKey(test.db, tenant);
    await manage("POST", `/${other.id}/revoke`);
    const service = await hs256(serviceRoleClaims());
    const errors: [string, string, { body?: unknown; token?: string }, number][] = [
      ["POST", "", { body: { name: "" } }, 400],
      ["GET", "?limit=0", {}, 400],
      ["GET", "", { token: "not-a-token" }, 401],
      ["GET", "", { token: other.key }, 401],
      ["GET", "", { token: stranger.token }, 403],
      ["GET", `/${crypto.randomUUID()}`, {}, 404],
      ["PATCH", `/${other.id}`, { body: { name: "x" } }, 409],
      ["POST", `/${other.id}/rotate`, {}, 409],
      ["GET", "", { token: service }, 400],
    ];
    for (const [method, path, options, status] of errors) {
      assert.equal((await manage(method, path, options)).status, status, `${method} ${path}`);
    }
    const wrongType = await keys.call({
      method: "POST",
      path: "",
      token: owner.token,
      body: "name=k",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assert.equal(wrongType.status, 415);
    keysDoc.check("POST", "/api-keys", wrongType);

    const down = apiKeysHarness(failingDatabase(() => new DatabaseUnavailableError(new Error("down"))));
    assert.equal((await manage("GET", "", {}, down)).status, 503);
  });

  await t.step("every operation of both documents was seen answering", () => {
    for (
      const [doc, checker] of [[documents["default-integration"], integrationDoc], [
        documents["api-keys"],
        keysDoc,
      ]] as const
    ) {
      for (const operation of documentedOperations(doc)) {
        assert.ok([...checker.seen].some((s) => s.startsWith(`${operation} `)), `${operation} never checked`);
      }
    }
  });
});

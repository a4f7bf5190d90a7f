// CORS on api-keys for the Integrations consoles of CONSOLE_ORIGINS: only those origins are
// reflected, a preflight from them is answered, credentials are never allowed, and with the
// default (empty) setting no CORS header is sent. default-integration never sends one.
import assert from "node:assert/strict";
import { readConfig } from "../../supabase/functions/_shared/config.ts";
import { createApiKeysApp } from "../../supabase/functions/api-keys/app.ts";
import { createJwtVerifier } from "../../supabase/functions/api-keys/jwt.ts";
import { createIntegrationApp } from "../../supabase/functions/default-integration/app.ts";
import { createKeyVerifier } from "../../supabase/functions/default-integration/key_verifier.ts";
import { member, testSecret } from "../support/api_keys.ts";
import { freshDatabase } from "../support/database.ts";
import { createTenant } from "../support/fixtures.ts";

const consoleOrigin = "https://console.example.com";
const otherOrigin = "https://evil.example.net";
const base = "http://127.0.0.1/functions/v1";
const peer = { remoteAddr: { hostname: "127.0.0.1" } };

function corsHeaders(response: Response): Record<string, string> {
  return Object.fromEntries([...response.headers].filter(([name]) => name.startsWith("access-control-")));
}

Deno.test("CONSOLE_ORIGINS is a comma-separated list of origins, empty by default", () => {
  assert.deepEqual(readConfig({}).consoleOrigins, []);
  assert.deepEqual(readConfig({ CONSOLE_ORIGINS: "" }).consoleOrigins, []);
  assert.deepEqual(
    readConfig({ CONSOLE_ORIGINS: "https://console.example.com, http://127.0.0.1:8080" }).consoleOrigins,
    ["https://console.example.com", "http://127.0.0.1:8080"],
  );
  for (
    const wrong of ["*", "https://console.example.com/", "https://console.example.com/path", "console.example.com"]
  ) {
    assert.throws(() => readConfig({ CONSOLE_ORIGINS: wrong }), /consoleOrigins\.0: must be origins/, wrong);
  }
});

Deno.test("CORS on api-keys", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const appWith = (origins: string) => {
    const config = readConfig({ CONSOLE_ORIGINS: origins, BCRYPT_COST: "4" });
    return createApiKeysApp({ db: test.db, jwt: createJwtVerifier({ jwtSecret: testSecret }), config, log: () => {} });
  };
  const configured = appWith(`${consoleOrigin},http://127.0.0.1:8080`);
  const unconfigured = appWith("");
  const preflight = (origin: string) =>
    new Request(`${base}/api-keys`, {
      method: "OPTIONS",
      headers: {
        Origin: origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-tenant-id",
      },
    });
  const list = (origin: string, token = owner.token) =>
    new Request(`${base}/api-keys`, { headers: { Origin: origin, Authorization: `Bearer ${token}` } });

  await t.step(
    "a listed origin's preflight is answered: 204, its origin, methods and headers, no credentials",
    async () => {
      const response = await configured.fetch(preflight(consoleOrigin), peer);
      assert.equal(response.status, 204);
      const headers = corsHeaders(response);
      assert.equal(headers["access-control-allow-origin"], consoleOrigin);
      assert.equal(headers["access-control-allow-methods"], "GET,POST,PATCH,DELETE");
      assert.equal(headers["access-control-allow-headers"], "Authorization,Content-Type,X-Tenant-Id");
      assert.equal(headers["access-control-allow-credentials"], undefined);
      assert.match(response.headers.get("vary") ?? "", /Origin/);
    },
  );

  await t.step("a listed origin's requests carry its origin and expose X-Request-Id, errors too", async () => {
    const ok = await configured.fetch(list(consoleOrigin), peer);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    assert.equal(ok.headers.get("access-control-allow-origin"), consoleOrigin);
    assert.equal(ok.headers.get("access-control-expose-headers"), "X-Request-Id,Retry-After");
    assert.equal(ok.headers.get("access-control-allow-credentials"), null);
    const refused = await configured.fetch(list(consoleOrigin, "not-a-token"), peer);
    assert.equal(refused.status, 401);
    await refused.body?.cancel();
    assert.equal(refused.headers.get("access-control-allow-origin"), consoleOrigin);
  });

  await t.step("another origin gets no CORS header, and its preflight is refused as any OPTIONS is", async () => {
    const response = await configured.fetch(list(otherOrigin), peer);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.deepEqual(corsHeaders(response), {});
    assert.match(response.headers.get("vary") ?? "", /Origin/);
    const refused = await configured.fetch(preflight(otherOrigin), peer);
    assert.equal(refused.status, 405);
    await refused.body?.cancel();
    assert.deepEqual(corsHeaders(refused), {});
  });

  await t.step("unset CONSOLE_ORIGINS: no CORS header for anyone", async () => {
    const response = await unconfigured.fetch(list(consoleOrigin), peer);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.deepEqual(corsHeaders(response), {});
    const refused = await unconfigured.fetch(preflight(consoleOrigin), peer);
    assert.equal(refused.status, 405);
    await refused.body?.cancel();
    assert.deepEqual(corsHeaders(refused), {});
  });

  await t.step("default-integration sends no CORS header, whatever CONSOLE_ORIGINS says", async () => {
    const config = readConfig({ CONSOLE_ORIGINS: consoleOrigin, BCRYPT_COST: "4" });
    const integration = createIntegrationApp({ db: test.db, keys: createKeyVerifier(test.db), config, log: () => {} });
    for (const method of ["OPTIONS", "POST"]) {
      const response = await integration.fetch(
        new Request(`${base}/default-integration`, {
          method,
          headers: { Origin: consoleOrigin, "Access-Control-Request-Method": "POST" },
        }),
        peer,
      );
      await response.body?.cancel();
      assert.deepEqual(corsHeaders(response), {}, method);
    }
  });
});

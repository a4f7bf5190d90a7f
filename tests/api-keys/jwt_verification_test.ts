// Dashboard JWTs verified for real. HS256 with the project secret
// (jose); ES256 and RS256 with the project's JWKS (supabase-js getClaims), served by a real local
// HTTP server. Rejections: alg none, tampered, expired, wrong audience, wrong key, an sk_ key.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import {
  apiKeysHarness,
  hs256,
  jwksServer,
  member,
  serviceRoleClaims,
  signingKey,
  testSecret,
  unsigned,
  userClaims as baseUserClaims,
} from "../support/api_keys.ts";
import type { JWTPayload } from "jose";

const invalidToken = "Invalid or expired access token";
const jwksPath = "/auth/v1/.well-known/jwks.json";
const past = () => Math.floor(Date.now() / 1000) - 60;
/** Claims of a user's access token; without SUPABASE_URL no issuer is required. */
const userClaims = baseUserClaims;
/** Claims as the Auth server at `url` issues them (`iss` = <url>/auth/v1). */
const issuedBy = (url: string) => (userId: string, extra: JWTPayload = {}) =>
  baseUserClaims(userId, { iss: `${url}/auth/v1`, ...extra });

Deno.test("HS256 Dashboard tokens", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const api = apiKeysHarness(test.db);
  const list = (token: string) => api.call({ token });
  const rejected = async (token: string, why: string) => {
    const res = await list(token);
    assert.deepEqual(
      [res.status, res.json.error.code, res.json.error.message],
      [401, "UNAUTHORIZED", invalidToken],
      why,
    );
  };

  await t.step("a token signed with the project secret is accepted", async () => {
    const res = await list(owner.token);
    assert.deepEqual([res.status, res.json.data], [200, []]);
  });

  await t.step("a token signed with another secret is 401", async () => {
    await rejected(await hs256(userClaims(owner.userId), "another-secret-of-at-least-32-characters"), "wrong key");
  });

  await t.step("a tampered token (payload changed, signature kept) is 401", async () => {
    const other = await member(test.db, tenant, "owner");
    const [header, , signature] = owner.token.split(".");
    const forgedPayload = (await hs256(userClaims(other.userId))).split(".")[1];
    await rejected(`${header}.${forgedPayload}.${signature}`, "tampered");
  });

  await t.step("an expired token, or one without exp, is 401", async () => {
    await rejected(await hs256(userClaims(owner.userId, { exp: past() })), "expired");
    const { exp: _, ...noExp } = userClaims(owner.userId);
    await rejected(await hs256(noExp), "no exp");
  });

  await t.step("a wrong or missing audience is 401; an audience list holding authenticated is accepted", async () => {
    await rejected(await hs256(userClaims(owner.userId, { aud: "anon" })), "aud anon");
    const { aud: _, ...noAud } = userClaims(owner.userId);
    await rejected(await hs256(noAud), "no aud");
    assert.equal((await list(await hs256(userClaims(owner.userId, { aud: ["other", "authenticated"] })))).status, 200);
  });

  await t.step("a subject that is not a user id is 401", async () => {
    await rejected(await hs256(userClaims("not-a-uuid")), "sub");
  });

  // Only what Supabase issues is accepted, each claim checked for its role.
  await t.step("a role other than authenticated (anon, none) is 401 for a user token", async () => {
    await rejected(await hs256(userClaims(owner.userId, { role: "anon" })), "role anon");
    const { role: _, ...noRole } = userClaims(owner.userId);
    await rejected(await hs256(noRole), "no role");
  });

  await t.step("an iat in the future beyond 60 s of clock skew is 401; within it, accepted", async () => {
    const now = Math.floor(Date.now() / 1000);
    await rejected(await hs256(userClaims(owner.userId, { iat: now + 3600 })), "iat an hour ahead");
    await rejected(await hs256(userClaims(owner.userId, { iat: now + 120 })), "iat two minutes ahead");
    await rejected(await hs256(userClaims(owner.userId, { iat: "now" as unknown as number })), "iat not a number");
    assert.equal((await list(await hs256(userClaims(owner.userId, { iat: now + 20 })))).status, 200);
  });

  await t.step("a service_role token naming a user (sub, aud authenticated) is 401, not a platform admin", async () => {
    const acting = { method: "POST", token: "", tenant, body: { name: "cross-tenant" } };
    for (
      const claims of [
        serviceRoleClaims({ sub: owner.userId, aud: "authenticated" }),
        serviceRoleClaims({ sub: crypto.randomUUID() }),
        userClaims(crypto.randomUUID(), { role: "service_role" }),
      ]
    ) {
      const res = await api.call({ ...acting, token: await hs256(claims) });
      assert.deepEqual([res.status, res.json.error.message], [401, invalidToken], JSON.stringify(claims));
    }
    // Supabase's own service_role key (no sub) still acts for the tenant it names.
    const res = await api.call({ ...acting, token: await hs256(serviceRoleClaims()) });
    assert.equal(res.status, 201);
  });

  await t.step("with SUPABASE_URL set, a user token must be issued by <SUPABASE_URL>/auth/v1", async () => {
    const project = "https://abcdefghijklmnop.supabase.co";
    const withUrl = apiKeysHarness(test.db, { jwt: { jwtSecret: testSecret, supabaseUrl: project } });
    const call = async (claims: JWTPayload) => (await withUrl.call({ token: await hs256(claims) })).status;
    assert.equal(await call(userClaims(owner.userId, { iss: `${project}/auth/v1` })), 200);
    assert.equal(await call(userClaims(owner.userId)), 401, "no iss");
    assert.equal(await call(userClaims(owner.userId, { iss: "https://evil.example/auth/v1" })), 401, "other issuer");
    assert.equal(await call(userClaims(owner.userId, { iss: project })), 401, "project url without /auth/v1");
    // The service_role key's issuer is Supabase's own ("supabase"): not checked.
    assert.equal((await withUrl.call({ token: await hs256(serviceRoleClaims()), tenant })).status, 200);
  });

  await t.step("alg none and algorithms outside HS256/ES256/RS256 are 401", async () => {
    await rejected(unsigned(userClaims(owner.userId)), "none");
    const hs512 = await new (await import("jose")).SignJWT(userClaims(owner.userId))
      .setProtectedHeader({ alg: "HS512" })
      .sign(new TextEncoder().encode("test-only-hs256-secret-0123456789abcdef".repeat(2)));
    await rejected(hs512, "HS512");
  });

  await t.step("something that is no JWT at all is 401", async () => {
    await rejected("not.a.jwt", "garbage");
    await rejected("abc", "one part");
  });

  await t.step("an sk_ API key instead of a JWT is 401 with its own message", async () => {
    const key = await createKey(test.db, tenant);
    const res = await list(key.key);
    assert.deepEqual(
      [res.status, res.json.error.message],
      [401, "API keys cannot manage API keys. Send a Dashboard access token (JWT)"],
    );
  });

  await t.step("no Authorization header, or not a Bearer one, is 401", async () => {
    for (
      const headers of [{}, { authorization: "Basic dXNlcjpwYXNz" }, { authorization: "Bearer" }] as Record<
        string,
        string
      >[]
    ) {
      const res = await api.call({ headers });
      assert.deepEqual(
        [res.status, res.json.error.message],
        [401, "Missing or malformed Authorization header. Expected: Bearer <Dashboard access token>"],
      );
    }
  });

  await t.step("without a configured secret, HS256 tokens are refused", async () => {
    const noSecret = apiKeysHarness(test.db, { jwt: {} });
    const res = await noSecret.call({ token: owner.token });
    assert.deepEqual([res.status, res.json.error.message], [401, invalidToken]);
    assert.match(String(noSecret.logs.at(-1)?.auth_failure), /no JWT secret/);
  });

  await t.step(
    "the secret comes from SUPABASE_JWT_SECRET, or SALESOS_JWT_SECRET where SUPABASE_* is reserved",
    async () => {
      const { readConfig } = await import("../../supabase/functions/_shared/config.ts");
      const hosted = readConfig({ SALESOS_JWT_SECRET: testSecret });
      const hostedApi = apiKeysHarness(test.db, { jwt: hosted });
      assert.equal((await hostedApi.call({ token: owner.token })).status, 200);
      const both = readConfig({ SUPABASE_JWT_SECRET: "s".repeat(32), SALESOS_JWT_SECRET: testSecret });
      assert.equal(both.jwtSecret, "s".repeat(32));
      assert.equal(readConfig({}).jwtSecret, undefined);
    },
  );

  await t.step("log lines name the reason of a rejection, never the token", async () => {
    const expired = await hs256(userClaims(owner.userId, { exp: past() }));
    await list(expired);
    const line = JSON.stringify(api.logs.at(-1));
    assert.match(line, /ERR_JWT_EXPIRED/);
    for (const token of [expired, owner.token]) {
      assert.equal(JSON.stringify(api.logs).includes(token.split(".")[2]), false);
    }
  });
});

Deno.test("ES256 and RS256 Dashboard tokens against the project's JWKS", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  await using auth = jwksServer();
  const userClaims = issuedBy(auth.url);
  const es = await signingKey("ES256");
  const rs = await signingKey("RS256");
  auth.publish([es.jwk, rs.jwk]);
  const api = apiKeysHarness(test.db, { jwt: { supabaseUrl: auth.url } });
  const jwksFetches = () => auth.requests.filter((r) => r.path === jwksPath).length;
  const rejected = async (token: string, why: string) => {
    const res = await api.call({ token });
    assert.deepEqual([res.status, res.json.error.message], [401, invalidToken], why);
  };

  await t.step("an ES256 token is verified with the JWKS from SUPABASE_URL/auth/v1/.well-known/jwks.json", async () => {
    const res = await api.call({ token: await es.sign(userClaims(owner.userId)) });
    assert.equal(res.status, 200);
    assert.deepEqual(auth.requests.map((r) => r.path), [jwksPath]);
  });

  await t.step("an RS256 token is verified too, from the cached JWKS", async () => {
    assert.equal((await api.call({ token: await rs.sign(userClaims(owner.userId)) })).status, 200);
    assert.equal((await api.call({ token: await es.sign(userClaims(owner.userId)) })).status, 200);
    assert.equal(jwksFetches(), 1);
  });

  await t.step("a token signed by another key under a published kid is 401 (wrong key)", async () => {
    for (const alg of ["ES256", "RS256"] as const) {
      const impostor = await signingKey(alg, alg === "ES256" ? es.kid : rs.kid);
      await rejected(await impostor.sign(userClaims(owner.userId)), `${alg} wrong key`);
    }
  });

  await t.step("tampered, expired and wrong-audience tokens are 401", async () => {
    for (const key of [es, rs]) {
      const other = await member(test.db, tenant, "owner");
      const [header, , signature] = (await key.sign(userClaims(owner.userId))).split(".");
      const payload = (await key.sign(userClaims(other.userId))).split(".")[1];
      await rejected(`${header}.${payload}.${signature}`, `${key.alg} tampered`);
      await rejected(await key.sign(userClaims(owner.userId, { exp: past() })), `${key.alg} expired`);
      await rejected(await key.sign(userClaims(owner.userId, { aud: "anon" })), `${key.alg} audience`);
    }
  });

  await t.step("a token without kid, or naming a key of another type, is 401", async () => {
    const { SignJWT, generateKeyPair } = await import("jose");
    const { privateKey } = await generateKeyPair("ES256");
    await rejected(
      await new SignJWT(userClaims(owner.userId)).setProtectedHeader({ alg: "ES256" }).sign(privateKey),
      "no kid",
    );
    // An RS256 header naming the EC key: WebCrypto refuses the key for that algorithm.
    const rsaSigned = await rs.sign(userClaims(owner.userId), { kid: es.kid });
    await rejected(rsaSigned, "key type mismatch");
    assert.equal(api.logs.at(-1)?.auth_failure, "key does not fit the algorithm");
  });

  await t.step(
    "an unknown kid is 401 without asking the Auth server, and refetches the JWKS at most once per cool-down",
    async () => {
      const before = jwksFetches();
      const stranger = await signingKey("ES256");
      for (let i = 0; i < 3; i++) await rejected(await stranger.sign(userClaims(owner.userId)), "unknown kid");
      assert.equal(jwksFetches() - before, 0, "the JWKS was fetched less than 30 s ago");
      assert.deepEqual(auth.requests.filter((r) => r.path !== jwksPath), [], "no token was sent to /auth/v1/user");
    },
  );

  await t.step("an HS256 token is not sent to the JWKS path: it needs the secret", async () => {
    const before = auth.requests.length;
    const res = await api.call({ token: await hs256(userClaims(owner.userId)) });
    assert.deepEqual([res.status, res.json.error.message], [401, invalidToken]);
    assert.match(String(api.logs.at(-1)?.auth_failure), /no JWT secret/);
    assert.equal(auth.requests.length, before, "nothing was asked of the Auth server");
  });

  await t.step("alg none is 401 before any key is looked up", async () => {
    const before = auth.requests.length;
    await rejected(unsigned(userClaims(owner.userId)), "none");
    assert.equal(auth.requests.length, before);
  });

  await t.step("an sk_ key is 401 here too", async () => {
    const key = await createKey(test.db, tenant);
    const res = await api.call({ token: key.key });
    assert.equal(res.status, 401);
  });

  await t.step("without SUPABASE_URL or SUPABASE_JWKS_URL, asymmetric tokens are refused", async () => {
    const hsOnly = apiKeysHarness(test.db);
    const res = await hsOnly.call({ token: await es.sign(userClaims(owner.userId)) });
    assert.deepEqual([res.status, res.json.error.message], [401, invalidToken]);
    assert.match(String(hsOnly.logs.at(-1)?.auth_failure), /no SUPABASE_URL/);
  });
});

Deno.test("JWKS source, cache and outages", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  await using auth = jwksServer();
  const userClaims = issuedBy(auth.url);
  const es = await signingKey("ES256");

  await t.step("SUPABASE_JWKS_URL overrides where the JWKS comes from", async () => {
    auth.publish([es.jwk], "/custom/keys.json");
    const api = apiKeysHarness(test.db, { jwt: { supabaseUrl: auth.url, jwksUrl: `${auth.url}/custom/keys.json` } });
    assert.equal((await api.call({ token: await es.sign(userClaims(owner.userId)) })).status, 200);
    assert.deepEqual(auth.requests.map((r) => r.path), ["/custom/keys.json"]);
  });

  await t.step("SUPABASE_JWKS_URL alone is enough", async () => {
    auth.requests.length = 0;
    const api = apiKeysHarness(test.db, { jwt: { jwksUrl: `${auth.url}/custom/keys.json` } });
    assert.equal((await api.call({ token: await es.sign(userClaims(owner.userId)) })).status, 200);
    assert.deepEqual(auth.requests.map((r) => r.path), ["/custom/keys.json"]);
  });

  await t.step("the JWKS request carries SUPABASE_ANON_KEY as apikey when set, nothing otherwise", async () => {
    auth.publish([es.jwk]);
    auth.requests.length = 0;
    const withKey = apiKeysHarness(test.db, { jwt: { supabaseUrl: auth.url, supabaseAnonKey: "anon-public-key" } });
    assert.equal((await withKey.call({ token: await es.sign(userClaims(owner.userId)) })).status, 200);
    const without = apiKeysHarness(test.db, { jwt: { supabaseUrl: auth.url } });
    assert.equal((await without.call({ token: await es.sign(userClaims(owner.userId)) })).status, 200);
    assert.deepEqual(auth.requests.map((r) => r.apikey), ["anon-public-key", null]);
  });

  await t.step("concurrent first requests share one JWKS fetch", async () => {
    auth.requests.length = 0;
    const api = apiKeysHarness(test.db, { jwt: { supabaseUrl: auth.url } });
    const token = await es.sign(userClaims(owner.userId));
    const answers = await Promise.all(Array.from({ length: 8 }, () => api.call({ token })));
    assert.deepEqual(answers.map((a) => a.status), Array(8).fill(200));
    assert.equal(auth.requests.length, 1);
  });

  await t.step("a signing key added to the JWKS is picked up once the cool-down has passed", async () => {
    const api = apiKeysHarness(test.db, { jwt: { supabaseUrl: auth.url, jwksCooldownMs: 0 } });
    assert.equal((await api.call({ token: await es.sign(userClaims(owner.userId)) })).status, 200);
    const next = await signingKey("RS256");
    auth.publish([es.jwk, next.jwk]);
    assert.equal((await api.call({ token: await next.sign(userClaims(owner.userId)) })).status, 200);
  });

  await t.step("a JWKS that cannot be fetched is 503 with Retry-After, not 401", async () => {
    auth.failWith(500);
    const api = apiKeysHarness(test.db, { jwt: { supabaseUrl: auth.url } });
    const res = await api.call({ token: await es.sign(userClaims(owner.userId)) });
    assert.deepEqual([res.status, res.json.error.code, res.headers.get("retry-after")], [
      503,
      "SERVICE_UNAVAILABLE",
      "5",
    ]);
    auth.failWith(null);
  });

  await t.step("an unreachable Auth server is 503 too", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closedPort = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const api = apiKeysHarness(test.db, { jwt: { supabaseUrl: `http://127.0.0.1:${closedPort}` } });
    const res = await api.call({ token: await es.sign(userClaims(owner.userId)) });
    assert.deepEqual([res.status, res.json.error.code], [503, "SERVICE_UNAVAILABLE"]);
  });

  await t.step("a JWKS that answers too slowly is 503", async () => {
    const slow = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async () => {
      await new Promise((r) => setTimeout(r, 500));
      return Response.json({ keys: [es.jwk] });
    });
    try {
      const api = apiKeysHarness(test.db, {
        jwt: { supabaseUrl: `http://127.0.0.1:${slow.addr.port}`, jwksTimeoutMs: 100 },
      });
      const res = await api.call({ token: await es.sign(userClaims(owner.userId)) });
      assert.equal(res.status, 503);
    } finally {
      await slow.shutdown();
    }
  });

  await t.step("service_role tokens are verified the same way (ES256 from the JWKS)", async () => {
    const api = apiKeysHarness(test.db, { jwt: { supabaseUrl: auth.url } });
    const res = await api.call({ token: await es.sign(serviceRoleClaims()), tenant });
    assert.equal(res.status, 200);
  });
});

// `deno task token` as a new user runs it, and the README's walk-through against `deno task start`:
// mint a token, create a key with curl, use it, list, revoke.
import assert from "node:assert/strict";
import { createJwtVerifier } from "../../supabase/functions/api-keys/jwt.ts";
import { developmentJwtSecret } from "../../tools/config.ts";
import { freshDatabase } from "../support/database.ts";
import { runTask, serverEnv, startServer } from "../support/server.ts";
import { uuidPattern } from "../support/patterns.ts";

const customSecret = "a-project-secret-for-this-test-0123456789";

async function token(args: string[], env: Record<string, string>) {
  const result = await runTask("token", args, env);
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trim().split("\n");
  assert.equal(lines.length, 1, "one JSON line");
  return JSON.parse(lines[0]) as { token: string; user_id: string; tenant_id: string };
}

Deno.test("deno task token", async (t) => {
  await using test = await freshDatabase();
  const env = { DATABASE_URL: test.url };

  let first = { token: "", user_id: "", tenant_id: "" };
  await t.step("creates tenant, user and membership and prints {token, user_id, tenant_id}", async () => {
    first = await token(["--tenant", "acme"], env);
    assert.deepEqual(Object.keys(first).sort(), ["tenant_id", "token", "user_id"]);
    assert.match(first.user_id, uuidPattern);
    const rows = await test.db.query<{ slug: string; role: string; email: string }>(
      `select t.slug, m.role, m.email from salesos.tenant_members m join salesos.tenants t on t.id = m.tenant_id
        where m.user_id = $1`,
      [first.user_id],
    );
    assert.deepEqual([...rows], [{ slug: "acme", role: "owner", email: "owner@acme.local" }]);
    const [{ id }] = await test.db.query<{ id: string }>("select id from salesos.tenants where slug = 'acme'");
    assert.equal(first.tenant_id, id);
  });

  await t.step("without SUPABASE_JWT_SECRET the token is signed with the documented development default", async () => {
    const identity = await createJwtVerifier({ jwtSecret: developmentJwtSecret }).verify(first.token);
    assert.deepEqual(identity, { kind: "user", userId: first.user_id });
    await assert.rejects(createJwtVerifier({ jwtSecret: customSecret }).verify(first.token));
    const [, payload] = first.token.split(".");
    const claims = JSON.parse(atob(payload.replaceAll("-", "+").replaceAll("_", "/")));
    assert.equal(claims.aud, "authenticated");
    assert.equal(claims.role, "authenticated");
    assert.equal(claims.exp - claims.iat, 3600);
  });

  await t.step("with SUPABASE_JWT_SECRET it is signed with that", async () => {
    const minted = await token(["--tenant", "acme"], { ...env, SUPABASE_JWT_SECRET: customSecret });
    assert.equal((await createJwtVerifier({ jwtSecret: customSecret }).verify(minted.token)).kind, "user");
    await assert.rejects(createJwtVerifier({ jwtSecret: developmentJwtSecret }).verify(minted.token));
    assert.equal(minted.user_id, first.user_id, "the same email is the same user");
  });

  await t.step("--role and --email; one user per email across tenants; the role is updated", async () => {
    const member = await token(["--tenant", "acme", "--role", "member", "--email", "mia@example.com"], env);
    const admin = await token(["--tenant", "globex", "--role", "admin", "--email", "mia@example.com"], env);
    assert.equal(admin.user_id, member.user_id);
    assert.notEqual(admin.tenant_id, member.tenant_id);
    const promoted = await token(["--tenant", "acme", "--role", "admin", "--email", "MIA@example.com"], env);
    assert.equal(promoted.user_id, member.user_id);
    const roles = await test.db.query<{ role: string }>(
      "select role from salesos.tenant_members where user_id = $1 order by role",
      [member.user_id],
    );
    assert.deepEqual(roles.map((r) => r.role), ["admin", "admin"]);
  });

  await t.step("bad arguments exit 2 with the usage", async () => {
    for (
      const args of [[], ["--tenant", "Not A Slug"], ["--tenant", "acme", "--role", "root"], [
        "--tenant",
        "acme",
        "--email",
        "nope",
      ], ["--tenant", "acme", "--bogus"]]
    ) {
      const result = await runTask("token", args, env);
      assert.equal(result.code, 2, args.join(" "));
      assert.match(result.stderr, /usage: deno task token/);
    }
  });

  await t.step("deno task keys: an unknown flag or a bad tenant slug exits 2 with the usage", async () => {
    for (const args of [["--bogus"], ["create", "--tenant", "Bad Slug!", "--name", "x"], ["list", "--tenant", "-x"]]) {
      const result = await runTask("keys", args, env);
      assert.equal(result.code, 2, args.join(" "));
      assert.match(result.stderr, /usage:\n {2}deno task keys create/, args.join(" "));
      assert.doesNotMatch(result.stderr, /\bat \S+ \(/, "no stack trace");
    }
  });
});

Deno.test("README walk-through: start, mint a token, create a key with curl, use it, list, revoke", async () => {
  await using test = await freshDatabase();
  const env = serverEnv(test.url);
  await using server = await startServer(env);
  const api = `${server.baseUrl}/functions/v1/api-keys`;
  const { token: jwt } = await token(["--tenant", "acme"], env);
  const auth = { Authorization: `Bearer ${jwt}` };

  const created = await fetch(api, {
    method: "POST",
    headers: { ...auth, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "CRM sync", scopes: ["default:sync"] }),
  });
  assert.equal(created.status, 201);
  const key = (await created.json()).data;
  assert.match(key.key, /^sk_live_[a-z0-9]{32}$/);

  const sync = () =>
    fetch(`${server.baseUrl}/functions/v1/default-integration`, {
      method: "POST",
      headers: { Authorization: `Bearer ${key.key}`, "Content-Type": "application/json" },
      body: JSON.stringify({
        action: "sync_collaborators",
        collaborators: [{ external_id: "emp-101", name: "Maria Santos", email: "maria@yourcompany.com" }],
      }),
    });
  const used = await sync();
  assert.deepEqual([used.status, (await used.json()).data.created], [200, 1]);

  const listed = await (await fetch(api, { headers: auth })).json();
  assert.deepEqual(listed.data.map((k: { id: string; request_count: number }) => [k.id, k.request_count]), [[
    key.id,
    1,
  ]]);

  // Rotate and revoke need no body: an empty POST (Content-Length: 0, no Content-Type) is fine.
  const rotated = await fetch(`${api}/${key.id}/rotate`, { method: "POST", headers: auth });
  assert.equal(rotated.status, 201);
  const fresh = (await rotated.json()).data;
  const renamed = await fetch(`${api}/${fresh.id}`, {
    method: "PATCH",
    headers: { ...auth, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "CRM sync (rotated)" }),
  });
  assert.deepEqual([renamed.status, (await renamed.json()).data.name], [200, "CRM sync (rotated)"]);
  const revoked = await fetch(`${api}/${key.id}/revoke`, { method: "POST", headers: auth });
  assert.deepEqual([revoked.status, (await revoked.json()).data.status], [200, "revoked"]);
  const refused = await sync();
  assert.deepEqual([refused.status, (await refused.json()).error.message], [401, "Invalid or expired API key"]);

  const audit = await (await fetch(`${api}/audit`, { headers: auth })).json();
  assert.deepEqual(audit.data.map((e: { action: string }) => e.action), [
    "key.revoke",
    "key.update",
    "key.create",
    "key.rotate",
    "key.create",
  ]);
  const deleted = await fetch(`${api}/${fresh.id}`, { method: "DELETE", headers: auth });
  assert.deepEqual([deleted.status, (await deleted.json()).data.deleted], [200, true]);
  const output = await server.stop();
  assert.ok(output.includes(`"key_prefix":"${key.key.slice(0, 16)}"`), "the request log lines were captured");
  assert.equal(output.includes(key.key.slice(16)), false, "no plaintext key in the server log");
  assert.equal(output.includes(jwt.split(".")[2]), false, "no token in the server log");
});

// `deno task tenants` as an operator runs it on a fresh database: create a tenant, make a Supabase
// Auth user (auth.users, as on a hosted project) its owner, who can then manage its keys; add,
// list and remove members; refusals exit 2 with nothing on stdout.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { runTask, serverEnv } from "../support/server.ts";
import { apiKeysHarness, hs256, userClaims } from "../support/api_keys.ts";

Deno.test("deno task tenants", async (t) => {
  await using test = await freshDatabase();
  const env = serverEnv(test.url);
  const tenants = async (...args: string[]) => {
    const result = await runTask("tenants", args, env);
    return { ...result, json: result.code === 0 ? JSON.parse(result.stdout) : null };
  };
  const refused = async (pattern: RegExp, ...args: string[]) => {
    const result = await tenants(...args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.equal(result.stdout, "", args.join(" "));
    assert.match(result.stderr, pattern, args.join(" "));
  };

  await t.step("--help prints the usage and exits 0", async () => {
    const result = await runTask("tenants", ["--help"], env);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /usage:\s+deno task tenants create <slug>/);
    assert.match(result.stdout, /add-member/);
  });

  let tenantId = "";
  await t.step("create: a tenant with its display name; again, the same one", async () => {
    const created = await tenants("create", "acme", "--name", "Acme Corp");
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.json.slug, "acme");
    assert.equal(created.json.name, "Acme Corp");
    assert.equal(created.json.created, true);
    tenantId = created.json.id;
    const again = await tenants("create", "acme", "--name", "Other");
    assert.deepEqual([again.json.id, again.json.name, again.json.created], [tenantId, "Acme Corp", false]);
  });

  await t.step("add-member --email without Supabase Auth (the embedded database): the local user", async () => {
    const added = await tenants("add-member", "acme", "--email", "dev@acme.example", "--role", "admin");
    assert.equal(added.code, 0, added.stderr);
    const [{ user_id }] = await test.db.query<{ user_id: string }>(
      "select user_id from salesos.tenant_members where email = 'dev@acme.example'",
    );
    assert.deepEqual([added.json.user_id, added.json.role], [user_id, "admin"]);
    const removed = await tenants("remove-member", "acme", "--email", "DEV@acme.example");
    assert.deepEqual(removed.json, { tenant: "acme", removed: user_id });
  });

  await t.step("add-member --email without Supabase Auth: the only owner is not demoted, as by --user-id", async () => {
    const owner = await tenants("add-member", "acme", "--email", "lead@acme.example", "--role", "owner");
    assert.equal(owner.code, 0, owner.stderr);
    await refused(
      /lead@acme\.example is acme's only owner/i,
      "add-member",
      "acme",
      "--email",
      "Lead@acme.example",
      "--role",
      "member",
    );
    await refused(/only owner/, "add-member", "acme", "--user-id", owner.json.user_id, "--role", "member");
    const members = await tenants("members", "acme");
    assert.deepEqual(members.json.members.map((m: { user_id: string; role: string }) => [m.user_id, m.role]), [
      [owner.json.user_id, "owner"],
    ]);
    // The steps below start from a tenant without members; the CLI does not remove an only owner.
    await test.db.query("delete from salesos.tenant_members where tenant_id = $1", [tenantId]);
  });

  // The hosted project's Supabase Auth, as far as the CLI reads it.
  const maria = crypto.randomUUID();
  await test.db.exec(`create schema auth; create table auth.users (id uuid primary key, email text);`);
  await test.db.query("insert into auth.users (id, email) values ($1, 'maria@acme.example')", [maria]);

  await t.step("add-member --email: the Supabase Auth user of that email becomes owner", async () => {
    const added = await tenants("add-member", "acme", "--email", "Maria@Acme.example", "--role", "owner");
    assert.equal(added.code, 0, added.stderr);
    assert.deepEqual([added.json.user_id, added.json.role, added.json.tenant_id], [maria, "owner", tenantId]);
  });

  await t.step("the owner's Dashboard JWT now manages the tenant's keys", async () => {
    const api = apiKeysHarness(test.db);
    const token = await hs256(userClaims(maria));
    const created = await api.call({ method: "POST", token, body: { name: "CRM sync" } });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const [{ tenant_id }] = await test.db.query<{ tenant_id: string }>(
      "select tenant_id from salesos.api_keys where id = $1",
      [created.json.data.id],
    );
    assert.equal(tenant_id, tenantId);
    const stranger = await api.call({ token: await hs256(userClaims(crypto.randomUUID())) });
    assert.equal(stranger.status, 403);
  });

  await t.step("an email with no Supabase Auth user is refused", async () => {
    await refused(
      /No Supabase Auth user with email nobody@acme\.example/,
      "add-member",
      "acme",
      "--email",
      "nobody@acme.example",
      "--role",
      "admin",
    );
  });

  const pedro = crypto.randomUUID();
  await t.step("add-member --user-id, a role change, and members in role order", async () => {
    assert.equal((await tenants("add-member", "acme", "--user-id", pedro, "--role", "member")).code, 0);
    const promoted = await tenants("add-member", "acme", "--user-id", pedro, "--role", "admin");
    assert.equal(promoted.json.role, "admin");
    const members = await tenants("members", "acme");
    assert.deepEqual(members.json.members.map((m: { user_id: string; role: string }) => [m.user_id, m.role]), [
      [maria, "owner"],
      [pedro, "admin"],
    ]);
    const list = await tenants("list");
    assert.deepEqual(list.json.tenants.map((t: { slug: string; members: number }) => [t.slug, t.members]), [[
      "acme",
      2,
    ]]);
  });

  await t.step("remove-member; the only owner stays (neither removed nor demoted)", async () => {
    await refused(/only owner/, "remove-member", "acme", "--email", "maria@acme.example");
    await refused(/only owner/, "add-member", "acme", "--user-id", maria, "--role", "admin");
    const removed = await tenants("remove-member", "acme", "--user-id", pedro);
    assert.deepEqual(removed.json, { tenant: "acme", removed: pedro });
    await refused(/not a member/, "remove-member", "acme", "--user-id", pedro);
    const members = await tenants("members", "acme");
    assert.deepEqual(members.json.members.map((m: { user_id: string }) => m.user_id), [maria]);
  });

  await t.step("usage errors exit 2 before touching the database", async () => {
    await refused(/slug/, "create", "Not A Slug");
    await refused(
      /--role must be one of owner, admin, member/,
      "add-member",
      "acme",
      "--user-id",
      pedro,
      "--role",
      "king",
    );
    await refused(/one of --user-id/, "add-member", "acme", "--role", "admin");
    await refused(/--user-id must be a UUID/, "add-member", "acme", "--user-id", "not-a-uuid", "--role", "admin");
    await refused(
      /one of --user-id/,
      "add-member",
      "acme",
      "--user-id",
      pedro,
      "--email",
      "a@b.example",
      "--role",
      "admin",
    );
    await refused(/usage/, "rename", "acme");
    await refused(/No tenant ghost/, "members", "ghost");
  });
});

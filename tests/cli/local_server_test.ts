// The README's commands as a new user runs them: `deno task keys` and `deno task start`, on the
// embedded Postgres default and on a configured Postgres, with the contract's section 5 examples as written.
import assert from "node:assert/strict";
import { checksum } from "../../supabase/functions/_shared/api_key.ts";
import { apiVersion } from "../../supabase/functions/_shared/version.ts";
import { emptyDatabase, freshDatabase, openTransaction, serverUrl } from "../support/database.ts";
import { runTask, serverEnv, startServer } from "../support/server.ts";
import { startTcpProxy } from "../support/tcp_proxy.ts";

/** A well-formed key (its checksum holds) whose id no database knows. */
const unknownKeyBody = `sk_live_zzzzzzzz${"a".repeat(18)}`;
const unknownKey = unknownKeyBody + checksum(unknownKeyBody);

async function curl(baseUrl: string, key: string | null, body: unknown, token?: string) {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  else if (key !== null) headers.Authorization = `Bearer ${key}`;
  const res = await fetch(`${baseUrl}/functions/v1/default-integration`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

/** The answer to an unknown key once it is no longer 503 (the migrations went on), within 5 s. */
async function onceMigrated(baseUrl: string) {
  let res = await curl(baseUrl, unknownKey, maria);
  for (let i = 0; res.status === 503 && i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    res = await curl(baseUrl, unknownKey, maria);
  }
  return res;
}

const maria = {
  action: "sync_collaborators",
  collaborators: [{ external_id: "emp-101", name: "Maria Santos", email: "maria@yourcompany.com" }],
};
const call = {
  action: "sync_activities",
  activities: [{
    activity_code: "001",
    external_id: "crm-call-5001",
    collaborator_email: "maria@yourcompany.com",
    data: { client: "Acme Corp", duration_min: 12 },
    occurred_at: "2026-03-17T09:15:00-03:00",
  }],
};

/** Runs the examples; returns the plaintext keys it created. */
async function contractExamples(baseUrl: string, env: Record<string, string>): Promise<string[]> {
  const created = await runTask("keys", [
    "create",
    "--tenant",
    "acme",
    "--name",
    "CRM sync",
    "--scopes",
    "default:sync",
  ], env);
  assert.equal(created.code, 0, created.stderr);
  const key = JSON.parse(created.stdout);
  assert.match(key.key, /^sk_live_[a-z0-9]{32}$/);
  assert.equal(key.key_prefix, key.key.slice(0, 16));
  assert.equal(key.key_hash, undefined);

  let res = await curl(baseUrl, key.key, maria);
  assert.equal(res.status, 200);
  assert.deepEqual(res.json.data, { created: 1, existing: 0, errors: [], total: 1 });
  assert.match(res.json.meta.request_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.match(res.json.meta.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  res = await curl(baseUrl, key.key, maria);
  assert.deepEqual(res.json.data, { created: 0, existing: 1, errors: [], total: 1 });

  res = await curl(baseUrl, key.key, call);
  assert.deepEqual(res.json.data, { processed: 1, skipped: 0, duplicates: 0, errors: [], total: 1 });
  res = await curl(baseUrl, key.key, call);
  assert.deepEqual(res.json.data, { processed: 0, skipped: 0, duplicates: 1, errors: [], total: 1 });

  const noHeader = await fetch(`${baseUrl}/functions/v1/default-integration`, { method: "POST" });
  assert.equal(noHeader.status, 401);
  assert.equal(
    (await noHeader.json()).error.message,
    "Missing or malformed Authorization header. Expected: Bearer sk_live_xxx",
  );
  res = await curl(baseUrl, null, maria, "mytoken123456789");
  assert.deepEqual([res.status, res.json.error.message], [
    401,
    "Invalid API key prefix. Expected sk_live_ or sk_test_",
  ]);

  const readOnly = JSON.parse(
    (await runTask("keys", ["create", "--tenant", "acme", "--name", "reader", "--scopes", "leads:read"], env)).stdout,
  );
  res = await curl(baseUrl, readOnly.key, maria);
  assert.deepEqual([res.status, res.json.error.message], [403, "API key missing required scopes: default:sync"]);

  const tiny = JSON.parse(
    (await runTask("keys", ["create", "--tenant", "acme", "--name", "tiny", "--rate-limit", "1"], env)).stdout,
  );
  assert.equal((await curl(baseUrl, tiny.key, maria)).status, 200);
  res = await curl(baseUrl, tiny.key, maria);
  assert.equal(res.status, 429);
  assert.equal(res.json.error.code, "RATE_LIMITED");
  assert.equal(res.json.error.message, "Rate limit exceeded");
  assert.equal(res.headers.get("retry-after"), String(res.json.error.retry_after));

  const listed = JSON.parse((await runTask("keys", ["list", "--tenant", "acme"], env)).stdout);
  assert.deepEqual(listed.keys.map((k: { name: string }) => k.name).sort(), ["CRM sync", "reader", "tiny"]);
  assert.equal(JSON.stringify(listed).includes(key.key), false);

  const revoked = await runTask("keys", ["revoke", key.id], env);
  assert.equal(JSON.parse(revoked.stdout).status, "revoked");
  res = await curl(baseUrl, key.key, maria);
  assert.deepEqual([res.status, res.json.error.message], [401, "Invalid or expired API key"]);
  return [key.key, readOnly.key, tiny.key];
}

Deno.test("deno task start on Postgres runs the contract's examples as written", async () => {
  await using test = await freshDatabase();
  const env = serverEnv(test.url);
  await using server = await startServer(env);
  const keys = await contractExamples(server.baseUrl, env);
  // A path outside every function is answered like the functions answer: the envelope, its headers.
  const unknown = await fetch(`${server.baseUrl}/functions/v1/no-such-function`);
  const body = await unknown.json();
  assert.deepEqual([unknown.status, body.error.code], [404, "NOT_FOUND"]);
  assert.equal(unknown.headers.get("x-request-id"), body.meta.request_id);
  assert.equal(unknown.headers.get("salesos-version"), apiVersion);
  const output = await server.stop();
  // The request log was captured: it names the key by its public prefix, never its secret.
  assert.ok(output.includes(`"key_prefix":"${keys[0].slice(0, 16)}"`), "the request log lines were captured");
  for (const key of keys) assert.equal(output.includes(key.slice(16)), false, "a secret reached the log");
});

Deno.test("deno task start serves on after the reader of its stdout went away", async () => {
  await using test = await freshDatabase();
  // `deno task start | head -1`: the pipe closes after the first line; the log lines that follow
  // have nowhere to go.
  const child = new Deno.Command("deno", {
    args: ["task", "--quiet", "start"],
    env: { ...serverEnv(test.url), PORT: "0", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let first = "";
  while (!first.includes("\n")) first += (await stdout.read()).value ?? "";
  await stdout.cancel();
  const baseUrl = /at (http:\/\/127\.0\.0\.1:\d+)\//.exec(first)![1];
  try {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${baseUrl}/functions/v1/default-integration`, { method: "POST" });
      await res.body?.cancel();
      assert.equal(res.status, 401);
      await new Promise((r) => setTimeout(r, 50)); // past the log's 10 ms batching
    }
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* it had exited: the fetch above says why */ }
    await child.status;
  }
  let errors = "";
  for (let chunk = await stderr.read(); !chunk.done; chunk = await stderr.read()) errors += chunk.value;
  assert.doesNotMatch(errors, /error/i);
});

Deno.test("deno task start on a new database listens at once; its statements wait for the migrations", async () => {
  await using empty = await emptyDatabase();
  // Holds the first migration back: its `create schema salesos` waits for this transaction.
  await using blocking = await openTransaction(empty.url);
  await blocking.query("create schema salesos");
  await using server = await startServer(serverEnv(empty.url, { DB_STATEMENT_TIMEOUT_MS: "10000" }));
  let answered = false;
  const pending = curl(server.baseUrl, unknownKey, maria).finally(() => (answered = true));
  pending.catch(() => {}); // awaited below, unless an assertion fails first
  try {
    const noKey = await curl(server.baseUrl, null, maria);
    assert.equal(noKey.status, 401, "what needs no database is answered while the migrations wait");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(answered, false, "the key's lookup waits for the migrations");
  } finally {
    await blocking.finish("rollback"); // before the server stops: it waits for its requests
  }
  // Once salesos.api_keys exists, the lookup runs: an unknown key is 401, not a 500.
  const res = await pending;
  assert.deepEqual([res.status, res.json.error?.code], [401, "UNAUTHORIZED"]);
});

Deno.test("deno task start: while its migrations are stuck, what needs the database is 503 after the statement timeout", async () => {
  await using empty = await emptyDatabase();
  await using proxy = startTcpProxy(empty.url);
  // A network gone silent as the server starts: its migrations wait (postgres.js gives up
  // connecting after 2 s and the migrations are tried again; the silence is shorter).
  proxy.set("blackhole");
  await using server = await startServer(serverEnv(proxy.url, { DB_STATEMENT_TIMEOUT_MS: "800" }));
  const started = performance.now();
  const stuck = await curl(server.baseUrl, unknownKey, maria);
  const waitedMs = performance.now() - started;
  assert.deepEqual([stuck.status, stuck.json.error?.code], [503, "SERVICE_UNAVAILABLE"]);
  assert.ok(waitedMs >= 800, `it waited for the migrations, not ${Math.round(waitedMs)} ms`);
  proxy.set("forward");
  // The migrations go on once the network is back; then the key's lookup runs.
  const res = await onceMigrated(server.baseUrl);
  assert.deepEqual([res.status, res.json.error?.code], [401, "UNAUTHORIZED"]);
});

Deno.test("deno task start before its database answers: 503 meanwhile, migrated once it answers", async () => {
  await using empty = await emptyDatabase();
  await using proxy = startTcpProxy(empty.url);
  proxy.set("refuse");
  await using server = await startServer(serverEnv(proxy.url, { DB_STATEMENT_TIMEOUT_MS: "500" }));
  const refused = await curl(server.baseUrl, unknownKey, maria);
  assert.deepEqual([refused.status, refused.json.error?.code], [503, "SERVICE_UNAVAILABLE"]);
  // Still serving after failed attempts (backoff 250, 500, 1000 ms).
  await new Promise((r) => setTimeout(r, 1_000));
  assert.equal((await curl(server.baseUrl, null, maria)).status, 401);
  assert.match(server.output(), /"level":"warn","message":"database not answering: migrations tried again in \d+ ms"/);

  proxy.set("forward");
  const res = await onceMigrated(server.baseUrl);
  // The key's lookup ran: salesos.api_keys exists.
  assert.deepEqual([res.status, res.json.error?.code], [401, "UNAUTHORIZED"]);
});

Deno.test("deno task start exits with a message when the migrations cannot be applied", async () => {
  const url = new URL(serverUrl);
  url.pathname = "/salesos_test_no_such_database";
  await using server = await startServer(serverEnv(url.toString()));
  const timer = setTimeout(() => server.stop(), 30_000); // SIGTERM would exit with 0 and fail below
  const status = await server.exited;
  clearTimeout(timer);
  assert.equal(status.code, 1);
  // The reason is kept: a database that does not exist, a refused connection, a timeout.
  const output = await server.stop(); // already exited: this waits for the last of its output
  const logged = output.split("\n").find((line) => line.includes("migrations could not be applied"));
  assert.match(logged ?? "", /"error":"PostgresError: database .*salesos_test_no_such_database.* does not exist"/);
});

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A data folder for the embedded Postgres, and a port for it; readable by the `postgres` user that runs it as root. */
async function embeddedEnv() {
  const folder = await Deno.makeTempDir({ prefix: "salesos-embedded-" });
  await Deno.chmod(folder, 0o755);
  const env = { EMBEDDED_POSTGRES_DIR: `${folder}/data`, EMBEDDED_POSTGRES_PORT: String(freePort()), BCRYPT_COST: "4" };
  return { env, [Symbol.asyncDispose]: () => Deno.remove(folder, { recursive: true }) };
}

Deno.test("deno task start with no database configured runs on the embedded Postgres", async (t) => {
  await using embedded = await embeddedEnv();
  const { env } = embedded;
  let key = "";
  await t.step("the keys CLI works before the server runs (it starts the cluster for its command)", async () => {
    const created = await runTask("keys", ["create", "--tenant", "smoke", "--name", "first"], env);
    assert.equal(created.code, 0, created.stderr);
    key = JSON.parse(created.stdout).key;
  });
  {
    await using server = await startServer(env);
    assert.match(
      server.output(),
      new RegExp(
        `"database":"embedded postgres at postgres://postgres:postgres@127\\.0\\.0\\.1:${env.EMBEDDED_POSTGRES_PORT}/postgres"`,
      ),
    );

    await t.step("the server answers the contract's examples on it", async () => {
      const res = await curl(server.baseUrl, key, maria);
      assert.deepEqual([res.status, res.json.data], [200, { created: 1, existing: 0, errors: [], total: 1 }]);
      const activity = await curl(server.baseUrl, key, call);
      assert.deepEqual(activity.json.data, { processed: 1, skipped: 0, duplicates: 0, errors: [], total: 1 });
    });

    await t.step("while the server runs, the CLIs use its cluster and their keys and tokens work at once", async () => {
      const created = await runTask("keys", ["create", "--tenant", "smoke", "--name", "second", "--env", "test"], env);
      assert.equal(created.code, 0, created.stderr);
      const second = JSON.parse(created.stdout);
      const res = await curl(server.baseUrl, second.key, maria);
      // A test key sees none of the live data: Maria is new there.
      assert.deepEqual([res.status, res.json.data.created], [200, 1]);
      const listed = JSON.parse((await runTask("keys", ["list", "--tenant", "smoke"], env)).stdout);
      assert.deepEqual(listed.keys.map((k: { name: string }) => k.name), ["second", "first"]);
      const minted = await runTask("token", ["--tenant", "smoke"], env);
      assert.equal(minted.code, 0, minted.stderr);
      const keysPage = await fetch(`${server.baseUrl}/functions/v1/api-keys`, {
        headers: { Authorization: `Bearer ${JSON.parse(minted.stdout).token}` },
      });
      await keysPage.body?.cancel();
      assert.equal(keysPage.status, 200);
    });

    await t.step(
      "a second server on the same data folder exits with a one-line message; the first serves on",
      async () => {
        const second = await runTask("start", [], { ...env, PORT: "0" });
        assert.equal(second.code, 1);
        assert.equal(second.stderr.trim().split("\n").length, 1, second.stderr);
        assert.match(second.stderr, /"message":"the database could not be opened"/);
        assert.match(second.stderr, /the embedded Postgres of .* is already running \(pid \d+\)/);
        const res = await curl(server.baseUrl, key, maria);
        assert.deepEqual([res.status, res.json.data.existing], [200, 1]);
      },
    );
    const output = await server.stop();
    assert.doesNotMatch(output, /"level":"error"/, "it stopped its cluster cleanly");
  }

  await t.step("the data is kept across restarts; when its cluster stops, the server stops too", async () => {
    await using server = await startServer(env);
    const res = await curl(server.baseUrl, key, maria);
    assert.deepEqual([res.status, res.json.data], [200, { created: 0, existing: 1, errors: [], total: 1 }]);
    const [pid] = (await Deno.readTextFile(`${env.EMBEDDED_POSTGRES_DIR}/postmaster.pid`)).split("\n");
    Deno.kill(Number(pid), "SIGINT"); // what `pg_ctl stop` sends
    assert.equal((await server.exited).code, 1);
    assert.match(await server.stop(), /"level":"error","message":"the embedded Postgres stopped \(exit code 0\): see /);
  });

  await t.step("a stopped server left no cluster running: the CLI starts it again itself", async () => {
    const listed = await runTask("keys", ["list", "--tenant", "smoke"], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(JSON.parse(listed.stdout).keys.length, 2);
  });
});

Deno.test("the embedded Postgres on a port another program holds: a one-line message naming the setting", async () => {
  await using embedded = await embeddedEnv();
  using holder = Deno.listen({ hostname: "127.0.0.1", port: Number(embedded.env.EMBEDDED_POSTGRES_PORT) });
  const refused = await runTask("keys", ["list", "--tenant", "smoke"], embedded.env);
  assert.deepEqual([refused.code, refused.stdout], [1, ""]);
  assert.equal(
    refused.stderr.trim(),
    `port ${holder.addr.port} of 127.0.0.1 is taken by another program: set EMBEDDED_POSTGRES_PORT to a free port`,
  );
});

Deno.test("keys create rejects invalid settings with a message and exit code 2", async () => {
  await using test = await freshDatabase();
  const env = serverEnv(test.url);
  const invalidSettings = [
    ["--rate-limit", "0"],
    ["--scopes", "admin:all"],
    ["--ip", "10.0.0.1/8"],
    ["--env", "prod"],
    ["--expires", "2000-01-01T00:00:00Z"],
  ];
  for (const args of invalidSettings) {
    const result = await runTask("keys", ["create", "--tenant", "acme", "--name", "bad", ...args], env);
    assert.equal(result.code, 2, args.join(" "));
    assert.notEqual(result.stderr.trim(), "");
  }
  const usage = await runTask("keys", ["frobnicate"], env);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage:/);
});

Deno.test("deno task start on a port another program holds: a one-line message naming PORT, exit 1", async () => {
  using holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = holder.addr.port;
  const refused = await runTask("start", [], serverEnv(serverUrl, { PORT: String(port) }));
  assert.deepEqual([refused.code, refused.stdout], [1, ""]);
  assert.equal(refused.stderr.trim().split("\n").length, 1, refused.stderr);
  assert.deepEqual(JSON.parse(refused.stderr), {
    level: "error",
    message: `port ${port} of 127.0.0.1 is taken by another program: set PORT to a free port`,
  });
});

/** The migration files, as `<version>_<name>`. */
function migrationNames(): string[] {
  const folder = new URL("../../supabase/migrations/", import.meta.url);
  return [...Deno.readDirSync(folder)].map((e) => e.name.replace(/\.sql$/, "")).sort();
}

Deno.test("deno task start logs each migration it applies and a summary, as JSON lines", async () => {
  await using empty = await emptyDatabase();
  const names = migrationNames();
  const env = serverEnv(empty.url);
  const logged = async () => {
    await using server = await startServer(env);
    await onceMigrated(server.baseUrl);
    return (await server.stop()).split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
      .filter((line) => /^migration/.test(line.message ?? ""));
  };
  assert.deepEqual(await logged(), [
    ...names.map((name) => ({ level: "info", message: `migration ${name} applied` })),
    { level: "info", message: `migrations: ${names.length} applied, 0 already applied` },
  ]);
  assert.deepEqual(await logged(), [
    { level: "info", message: `migrations: 0 applied, ${names.length} already applied` },
  ]);
});

Deno.test("keys and token say on stderr which migrations they applied; stdout stays one JSON line", async () => {
  await using empty = await emptyDatabase();
  const names = migrationNames();
  const env = serverEnv(empty.url);
  const listed = await runTask("keys", ["list", "--tenant", "acme"], env);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(JSON.parse(listed.stdout), { tenant: "acme", keys: [] });
  assert.deepEqual(listed.stderr.trim().split("\n"), [
    ...names.map((name) => `migration ${name} applied`),
    `migrations: ${names.length} applied, 0 already applied`,
  ]);
  const token = await runTask("token", ["--tenant", "acme"], env);
  assert.equal(token.code, 0, token.stderr);
  assert.ok(JSON.parse(token.stdout).token);
  assert.equal(token.stderr.trim(), `migrations: 0 applied, ${names.length} already applied`);
});

// GET /default-integration/health: no authentication; 200 when the database answers a
// trivial query, 503 with Retry-After and the error envelope when it is gone or silent, and
// back to 200 by itself when the database returns.
import assert from "node:assert/strict";
import { readConfig } from "../../supabase/functions/_shared/config.ts";
import { connectPostgres } from "../../supabase/functions/_shared/postgres.ts";
import { healthTimeoutMs } from "../../supabase/functions/default-integration/routes/health.ts";
import { freshDatabase } from "../support/database.ts";
import { type Answer, integrationHarness } from "../support/integration.ts";
import { documentChecker } from "../support/openapi.ts";
import { functionDocuments } from "../../tools/docs.ts";
import { uuidV4 } from "../support/patterns.ts";
import { startTcpProxy } from "../support/tcp_proxy.ts";

const path = "/default-integration/health";

Deno.test("health", async (t) => {
  await using test = await freshDatabase();
  await using proxy = startTcpProxy(test.url);
  // A statement deadline far longer than the health check's: the check must not wait for it.
  const db = connectPostgres(proxy.url, readConfig({ DB_STATEMENT_TIMEOUT_MS: "10000", DB_POOL_SIZE: "4" }));
  const api = integrationHarness(db);
  const document = documentChecker((await functionDocuments())["default-integration"]);
  // Every answer to `path`, for the log step: each has exactly one line.
  const answers: Answer[] = [];
  const call = async (method: string, headers?: Record<string, string>) => {
    const res = await api.call({ method, path, headers });
    answers.push(res);
    return res;
  };
  const health = async (headers?: Record<string, string>) => {
    const res = await call("GET", headers);
    document.check("GET", path, res);
    return res;
  };
  const assertUnavailable = (res: Answer) => {
    assert.equal(res.status, 503);
    assert.equal(res.json.error.code, "SERVICE_UNAVAILABLE");
    assert.equal(res.json.error.retry_after, 5);
    assert.equal(res.headers.get("retry-after"), "5");
    assert.equal(res.headers.get("x-request-id"), res.json.meta.request_id);
  };
  const waitForHealthy = async () => {
    const started = Date.now();
    let res = await health();
    while (res.status !== 200 && Date.now() - started < 8000) {
      await new Promise((r) => setTimeout(r, 100));
      res = await health();
    }
    return res;
  };

  await t.step("answers 200 with the database's latency, without any credential", async () => {
    const res = await health();
    assert.equal(res.status, 200);
    assert.equal(res.json.data.status, "ok");
    assert.equal(res.json.data.database.status, "ok");
    assert.ok(Number.isInteger(res.json.data.database.latency_ms) && res.json.data.database.latency_ms >= 0);
    assert.match(res.headers.get("x-request-id") ?? "", uuidV4);
    assert.equal(res.headers.get("x-request-id"), res.json.meta.request_id);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(res.headers.get("x-ratelimit-limit"), null, "no key, no rate limit");
  });

  await t.step("a credential, even a wrong one, changes nothing", async () => {
    assert.equal((await health({ authorization: "Bearer sk_live_wrong" })).status, 200);
  });

  await t.step("other methods are 405 with Allow: GET, and a trailing slash is the same path", async () => {
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      const res = await call(method);
      assert.deepEqual([res.status, res.json.error.code, res.headers.get("allow")], [405, "METHOD_NOT_ALLOWED", "GET"]);
    }
    const trailing = await api.call({ method: "GET", path: `${path}/` });
    assert.equal(trailing.status, 200);
    answers.push(trailing); // logged under the route's path
    assert.equal((await api.call({ method: "GET", path: `${path}/deeper` })).status, 404);
  });

  await t.step("a database that refuses connections is 503 with Retry-After, at once", async () => {
    proxy.set("refuse");
    const started = Date.now();
    const res = await health();
    assertUnavailable(res);
    assert.ok(Date.now() - started < healthTimeoutMs + 1000, `answered after ${Date.now() - started} ms`);
  });

  await t.step("and 200 again by itself once the database is back", async () => {
    proxy.set("forward");
    assert.equal((await waitForHealthy()).status, 200);
  });

  await t.step(
    `a silent database is 503 after the check's ${healthTimeoutMs} ms deadline, not the statement's`,
    async () => {
      proxy.set("blackhole");
      const started = Date.now();
      const res = await health();
      const waited = Date.now() - started;
      assertUnavailable(res);
      assert.ok(waited >= healthTimeoutMs - 50 && waited < healthTimeoutMs + 1500, `answered after ${waited} ms`);
    },
  );

  await t.step("and 200 again once the network answers", async () => {
    proxy.set("forward");
    assert.equal((await waitForHealthy()).status, 200);
  });

  await t.step("every check has its one log line: status, latency, and the failure's class when down", () => {
    const lines = api.logs.filter((line) => line.path === path);
    assert.equal(lines.length, answers.length, "one line per answer");
    for (const res of answers) {
      const mine = lines.filter((line) => line.request_id === res.headers.get("x-request-id"));
      assert.deepEqual(mine.map((line) => line.status), [res.status]);
    }
    for (const line of lines) {
      assert.equal(line.function, "default-integration");
      assert.equal(typeof line.latency_ms, "number");
      assert.match(String(line.request_id), uuidV4);
    }
    const down = lines.filter((line) => line.status === 503);
    assert.ok(down.length >= 2);
    for (const line of down) assert.equal(typeof line.error, "string", "the failure, by class and message");
    assert.ok(down.some((line) => /no answer within/.test(String(line.error))), "the silent database's line says so");
    const up = lines.find((line) => line.status === 200);
    assert.equal(typeof up?.database_latency_ms, "number");
  });

  await t.step("a closed port is 503 too", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const url = new URL(test.url);
    url.port = String(port);
    const nowhere = connectPostgres(url.toString(), readConfig({ DB_STATEMENT_TIMEOUT_MS: "10000" }));
    try {
      const res = await integrationHarness(nowhere).call({ method: "GET", path });
      assertUnavailable(res);
    } finally {
      await nowhere.close();
    }
  });

  await db.close();
});

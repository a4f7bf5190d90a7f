// Retries that depend on timing: 503 from the real service while its database is cut (through a
// TCP proxy), and, on small local stubs, network errors, timeouts, the backoff bounds and the
// switches. The 429 behaviour is tested against the real service in sync_test.ts.
import assert from "node:assert/strict";
import {
  type RetryEvent,
  SalesOSApiError,
  SalesOSClient,
  SalesOSConnectionError,
  SalesOSKeysClient,
} from "../../clients/typescript/src/index.ts";
import { backoffDelay, retryPolicy } from "../../clients/typescript/src/retry.ts";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { startTcpProxy } from "../support/tcp_proxy.ts";

const one = [{ external_id: "emp-1", name: "Ana", email: "ana@example.com" }];
const fast = { baseDelayMs: 20, maxDelayMs: 100 };

/**
 * An HTTP stub that answers the n-th request with `answers[n]` (the last one from then on) and
 * records each request's headers.
 */
function stub(answers: (() => Response)[]) {
  const headers: Headers[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    await request.text();
    headers.push(request.headers);
    return answers[Math.min(headers.length - 1, answers.length - 1)]();
  });
  return {
    baseUrl: `http://127.0.0.1:${server.addr.port}`,
    requests: () => headers.length,
    headers,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

const envelope = (data: unknown, status = 200) =>
  Response.json({ data, meta: { request_id: crypto.randomUUID(), timestamp: new Date().toISOString() } }, { status });
const unavailable = () =>
  Response.json(
    {
      error: { code: "SERVICE_UNAVAILABLE", message: "Service temporarily unavailable. Retry later.", retry_after: 5 },
    },
    { status: 503, headers: { "Retry-After": "5" } },
  );
const counts = () => envelope({ created: 1, existing: 0, errors: [], total: 1 });

Deno.test("backoff is full jitter: uniform below min(maxDelay, base * 2^retry)", () => {
  const policy = retryPolicy({ baseDelayMs: 100, maxDelayMs: 1_000 });
  assert.equal(backoffDelay(0, policy, () => 0), 0);
  assert.equal(backoffDelay(0, policy, () => 0.999), 99);
  assert.equal(backoffDelay(2, policy, () => 0.5), 200);
  assert.equal(backoffDelay(10, policy, () => 0.999), 999);
  assert.deepEqual(retryPolicy(), {
    enabled: true,
    maxRetries: 5,
    maxRetryAfterSeconds: 60,
    baseDelayMs: 500,
    maxDelayMs: 30_000,
  });
});

Deno.test("503 from the real service while its database is cut: retried after its Retry-After until it is back", async () => {
  await using database = await freshDatabase();
  // The service reaches its database through the proxy; the test's own pool does not.
  await using proxy = startTcpProxy(database.url);
  await using server = await startServer(
    serverEnv(proxy.url, { LOG_REQUESTS: "false", DB_STATEMENT_TIMEOUT_MS: "1000" }),
  );
  const key = await createKey(database.db, await createTenant(database.db));

  const retries: RetryEvent[] = [];
  const api = new SalesOSClient({
    apiKey: key.key,
    baseUrl: server.baseUrl,
    retry: { baseDelayMs: 200, maxDelayMs: 400, maxRetries: 20 },
    onRetry: (event) => {
      retries.push(event);
      if (retries.length === 3) proxy.set("forward");
    },
  });
  proxy.set("refuse");
  const summary = await api.syncCollaborators(one);
  assert.equal(summary.created, 1);
  assert.ok(retries.length >= 3);
  for (const { error, delayMs } of retries) {
    assert.ok(error instanceof SalesOSApiError);
    assert.deepEqual([error.status, error.code, error.retryAfter], [503, "SERVICE_UNAVAILABLE", 5]);
    assert.equal(delayMs, 400, "the service's Retry-After (5 s), capped at maxDelayMs");
  }
  const rows = await database.db.query<{ n: string }>("select count(*) as n from salesos.collaborators");
  assert.equal(Number(rows[0].n), 1);
});

Deno.test("503 twice, then the answer: two retries, the counts of the one answer", async () => {
  await using service = stub([unavailable, unavailable, counts]);
  const retries: RetryEvent[] = [];
  const api = new SalesOSClient({
    apiKey: "sk_test_x",
    baseUrl: service.baseUrl,
    retry: fast,
    onRetry: (e) => retries.push(e),
  });
  assert.equal((await api.syncCollaborators(one)).created, 1);
  assert.equal(service.requests(), 3);
  assert.deepEqual(retries.map((r) => r.retry), [1, 2]);
  // Retry-After: 5 is more than this policy's maxDelayMs: the cap.
  assert.deepEqual(retries.map((r) => r.delayMs), [100, 100]);
});

Deno.test("503 with Retry-After: the wait is at least that long, with the jitter on top", async () => {
  const oneSecond = () =>
    Response.json(
      { error: { code: "SERVICE_UNAVAILABLE", message: "Service temporarily unavailable. Retry later." } },
      {
        status: 503,
        headers: { "Retry-After": "1" },
      },
    );
  await using service = stub([oneSecond, counts]);
  const retries: RetryEvent[] = [];
  const api = new SalesOSClient({
    apiKey: "sk_test_x",
    baseUrl: service.baseUrl,
    retry: { baseDelayMs: 20, maxDelayMs: 5_000 },
    onRetry: (e) => retries.push(e),
  });
  assert.equal((await api.syncCollaborators(one)).created, 1);
  assert.equal(retries.length, 1);
  assert.ok(retries[0].delayMs >= 1_000 && retries[0].delayMs < 1_020, `waited ${retries[0].delayMs} ms`);
});

Deno.test("an empty or negative Retry-After is no wait at all: a 429 is thrown, a 503 backs off", async () => {
  await using limited = stub([() => new Response(null, { status: 429, headers: { "Retry-After": "" } })]);
  const api = new SalesOSClient({ apiKey: "sk_test_x", baseUrl: limited.baseUrl, retry: fast });
  const error = await api.syncCollaborators(one).then(() => null, (e) => e);
  assert.ok(error instanceof SalesOSApiError);
  assert.deepEqual([error.status, error.retryAfter, limited.requests()], [429, null, 1]);

  await using negative = stub([() => new Response(null, { status: 503, headers: { "Retry-After": "-3" } }), counts]);
  const retries: RetryEvent[] = [];
  const backingOff = new SalesOSClient({
    apiKey: "sk_test_x",
    baseUrl: negative.baseUrl,
    retry: fast,
    onRetry: (e) => retries.push(e),
  });
  assert.equal((await backingOff.syncCollaborators(one)).created, 1);
  assert.ok(retries.length === 1 && retries[0].delayMs < 20, JSON.stringify(retries));
});

Deno.test("503 with retries off, or past maxRetries, is thrown", async () => {
  await using service = stub([unavailable]);
  const off = new SalesOSClient({ apiKey: "sk_test_x", baseUrl: service.baseUrl, retry: { enabled: false } });
  const error = await off.syncCollaborators(one).then(() => null, (e) => e);
  assert.ok(error instanceof SalesOSApiError);
  assert.deepEqual([error.status, error.code, service.requests()], [503, "SERVICE_UNAVAILABLE", 1]);

  const limited = new SalesOSClient({
    apiKey: "sk_test_x",
    baseUrl: service.baseUrl,
    retry: { ...fast, maxRetries: 2 },
  });
  await assert.rejects(limited.syncCollaborators(one), SalesOSApiError);
  assert.equal(service.requests(), 1 + 3);
});

Deno.test("network errors: a refused connection is retried, then thrown as SalesOSConnectionError", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close(); // nobody listens there now
  const api = new SalesOSClient({
    apiKey: "sk_test_x",
    baseUrl: `http://127.0.0.1:${port}`,
    retry: { ...fast, maxRetries: 3 },
  });
  const error = await api.syncActivities([{ activity_code: "001", external_id: "a", collaborator_email: "a@b.co" }])
    .then(() => null, (e) => e);
  assert.ok(error instanceof SalesOSConnectionError);
  assert.equal(error.attempts, 4);
  assert.deepEqual(error.progress?.completedItems, 0);
});

Deno.test("a connection dropped mid-answer is retried and the next answer counts", async () => {
  let connections = 0;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      connections++;
      if (connections === 1) {
        conn.close(); // no answer at all
        continue;
      }
      const buffer = new Uint8Array(64 * 1024);
      await conn.read(buffer);
      const body = JSON.stringify({
        data: { created: 1, existing: 0, errors: [], total: 1 },
        meta: { request_id: crypto.randomUUID(), timestamp: new Date().toISOString() },
      });
      await conn.write(new TextEncoder().encode(
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      ));
      conn.close();
    }
  })();
  try {
    const { port } = listener.addr as Deno.NetAddr;
    const api = new SalesOSClient({ apiKey: "sk_test_x", baseUrl: `http://127.0.0.1:${port}`, retry: fast });
    assert.equal((await api.syncCollaborators(one)).created, 1);
    assert.equal(connections, 2);
  } finally {
    listener.close();
  }
});

Deno.test("a silent server: the attempt times out and counts as a network error", async () => {
  const hang = Promise.withResolvers<Response>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => hang.promise);
  try {
    const api = new SalesOSClient({
      apiKey: "sk_test_x",
      baseUrl: `http://127.0.0.1:${server.addr.port}`,
      timeoutMs: 100,
      retry: { ...fast, maxRetries: 1 },
    });
    const started = Date.now();
    const error = await api.syncCollaborators(one).then(() => null, (e) => e);
    assert.ok(error instanceof SalesOSConnectionError);
    assert.match(error.message, /no response within 100 ms/);
    assert.equal(error.attempts, 2);
    assert.ok(Date.now() - started < 2_000);
  } finally {
    hang.resolve(new Response(null, { status: 204 }));
    await server.shutdown();
  }
});

Deno.test("creating a key is not retried after a gateway 502 (it may exist), but is after a 503 (nothing written)", async () => {
  const badGateway = () =>
    new Response("<html>bad gateway</html>", { status: 502, headers: { "content-type": "text/html" } });
  await using gateway = stub([badGateway]);
  const keys = new SalesOSKeysClient({ accessToken: "jwt", baseUrl: gateway.baseUrl, retry: fast });
  const error = await keys.create({ name: "x" }).then(() => null, (e) => e);
  assert.ok(error instanceof SalesOSApiError);
  assert.deepEqual([error.status, error.code, gateway.requests()], [502, "UNEXPECTED_RESPONSE", 1]);

  await using busy = stub([unavailable, () => envelope({ id: "k", key: "sk_live_x" }, 201)]);
  const retried = new SalesOSKeysClient({ accessToken: "jwt", baseUrl: busy.baseUrl, retry: fast });
  assert.equal((await retried.create({ name: "x" })).key, "sk_live_x");
  assert.equal(busy.requests(), 2);
});

Deno.test("an abort signal stops a retry wait at once, with the signal's reason", async () => {
  await using service = stub([unavailable]);
  const api = new SalesOSClient({
    apiKey: "sk_test_x",
    baseUrl: service.baseUrl,
    retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 },
  });
  const controller = new AbortController();
  const started = Date.now();
  setTimeout(() => controller.abort(new Error("job cancelled")), 100);
  await assert.rejects(api.syncCollaborators(one, { signal: controller.signal }), /job cancelled/);
  assert.ok(Date.now() - started < 2_000);
});

Deno.test("a sync batch has one Idempotency-Key, the same on its retries; a 409 (still processing) is retried", async () => {
  const answers = [
    () => unavailable(),
    () =>
      Response.json({
        error: { code: "CONFLICT", message: "A request with this Idempotency-Key is still being processed" },
      }, { status: 409 }),
    counts,
    counts,
  ];
  await using service = stub(answers);
  const idempotencyKeys = () => service.headers.map((headers) => headers.get("idempotency-key"));
  const client = new SalesOSClient({
    apiKey: "sk_test_x",
    baseUrl: service.baseUrl,
    retry: { ...fast, maxRetryAfterSeconds: 0 },
  });
  const summary = await client.syncCollaborators([...one, { ...one[0], external_id: "emp-2" }], { batchSize: 1 });
  let seen = idempotencyKeys();
  assert.deepEqual([summary.created, summary.batches], [2, 2]);
  assert.equal(seen.length, 4);
  assert.match(seen[0] ?? "", /^[0-9a-f-]{36}$/);
  assert.deepEqual(seen.slice(0, 3), [seen[0], seen[0], seen[0]], "the 503's and the 409's retries reuse the key");
  assert.notEqual(seen[3], seen[0], "the second batch has its own");

  // A 409 of a request without the header (an API-key action) is a conflict: thrown at once.
  const keys = new SalesOSKeysClient({
    baseUrl: service.baseUrl,
    accessToken: "jwt",
    retry: fast,
  });
  answers.push(() => Response.json({ error: { code: "CONFLICT", message: "Key is revoked" } }, { status: 409 }));
  await assert.rejects(() => keys.rotate("00000000-0000-4000-8000-000000000000"), (error: SalesOSApiError) => {
    assert.deepEqual([error.status, error.code], [409, "CONFLICT"]);
    return true;
  });
  seen = idempotencyKeys();
  assert.equal(seen.length, 5);
});

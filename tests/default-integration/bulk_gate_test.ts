// The per-instance fairness gate (bulk_gate.ts): per-key and per-tenant concurrency of bulk bodies
// (429 with retry_after, its own message), the byte budget (waits in order, then 503; a body of
// unknown length that turns out small gives its room back), large bodies one at a time and database
// calls paced while small requests are served, the slicing of CPU work; and through the app, that a
// concurrency 429 comes before the body is read.
import assert from "node:assert/strict";
import { ApiError } from "../../supabase/functions/_shared/errors.ts";
import { BulkGate, concurrencyMessages } from "../../supabase/functions/default-integration/bulk_gate.ts";
import { createIntegrationApp } from "../../supabase/functions/default-integration/app.ts";
import { createKeyVerifier } from "../../supabase/functions/default-integration/key_verifier.ts";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant } from "../support/fixtures.ts";

const MiB = 1024 * 1024;
const a1 = { keyId: "key-a1", tenantId: "tenant-a" };
const a2 = { keyId: "key-a2", tenantId: "tenant-a" };
const a3 = { keyId: "key-a3", tenantId: "tenant-a" };
const b1 = { keyId: "key-b1", tenantId: "tenant-b" };

async function refusal(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ApiError, String(error));
    return error;
  }
  assert.fail("admitted");
}

Deno.test("bulk gate: concurrency per key and per tenant", async () => {
  const gate = new BulkGate({ maxBulkPerKey: 2, maxBulkPerTenant: 3 });
  const held = [await gate.admit(a1, 4 * MiB), await gate.admit(a1, 4 * MiB)];
  const overKey = await refusal(gate.admit(a1, 4 * MiB));
  assert.equal(overKey.status, 429);
  assert.equal(overKey.message, concurrencyMessages.key);
  assert.equal(overKey.retryAfter, 1);
  assert.notEqual(overKey.message, "Rate limit exceeded");

  held.push(await gate.admit(a2, 2 * MiB));
  const overTenant = await refusal(gate.admit(a3, 2 * MiB));
  assert.equal(overTenant.status, 429);
  assert.equal(overTenant.message, concurrencyMessages.tenant);

  // Another tenant is not affected.
  held.push(await gate.admit(b1, 4 * MiB));

  // Released: room again.
  held[0].release();
  held[0].release(); // twice is once
  const again = await gate.admit(a1, 4 * MiB);
  assert.equal(again.bulk, true);
  await refusal(gate.admit(a1, 4 * MiB));

  // Small bodies of the same key are not affected.
  for (let i = 0; i < 50; i++) (await gate.admit(a1, 1000)).release();
  assert.equal((await gate.admit(a1, 1000)).bulk, false);
  for (const h of [...held, again]) h.release();
  assert.equal(gate.bytesInUse, 0);
});

Deno.test("bulk gate: the byte budget makes requests wait in order, then 503", async () => {
  const gate = new BulkGate({ maxBulkPerKey: 100, maxBulkPerTenant: 100, bodyBudgetBytes: 10 * MiB, bodyWaitMs: 300 });
  const first = await gate.admit(a1, 5 * MiB);
  const second = await gate.admit(a2, 5 * MiB);
  assert.equal(gate.bytesInUse, 10 * MiB);
  const order: string[] = [];
  const third = gate.admit(b1, 4 * MiB).then((h) => (order.push("third"), h));
  const fourth = gate.admit(b1, 100 * 1024).then((h) => (order.push("fourth"), h));
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(order, [], "waited while the budget was full");
  first.release();
  const [h3, h4] = await Promise.all([third, fourth]);
  assert.deepEqual(order, ["third", "fourth"]);
  assert.ok(gate.bytesInUse <= 10 * MiB);

  // Nothing is released: the next one gets 503 after bodyWaitMs, with Retry-After.
  const started = performance.now();
  const unavailable = await refusal(gate.admit(a3, 5 * MiB));
  assert.equal(unavailable.status, 503);
  assert.equal(unavailable.retryAfter, 1);
  assert.ok(performance.now() - started >= 250);
  // A body without Content-Length counts as 5 MiB; small bodies never wait.
  assert.equal((await gate.admit(a1, 1000)).bulk, false);
  for (const h of [second, h3, h4]) h.release();
  assert.equal(gate.bytesInUse, 0);
  const unknown = await gate.admit(a1, null);
  assert.equal(gate.bytesInUse, 5 * MiB);
  assert.equal(unknown.bulk, false, "an unknown length is paced and budgeted, not concurrency-limited");
  unknown.release();
  assert.ok(gate.stats.peakBytesInUse <= 10 * MiB);
});

Deno.test("bulk gate: a body of unknown length that ends within 64 KiB goes on as a small one", async () => {
  // A wait for a turn ends (503) before the small requests' window (200 ms) does.
  const gate = new BulkGate({ maxBulkPerKey: 100, maxBulkPerTenant: 100, bodyWaitMs: 100 });
  const post = (bytes: number) =>
    new Request("http://localhost/", {
      method: "POST",
      body: new ReadableStream({
        start: (c) => {
          c.enqueue(new Uint8Array(bytes).fill(32));
          c.close();
        },
      }),
      // deno-lint-ignore no-explicit-any
      ...({ duplex: "half" } as any),
    });
  // Small requests are being served and a large body holds the turn: another large one would wait.
  (await gate.admit(b1, 1000)).release();
  const holding = await gate.admit(a1, 4 * MiB);
  await holding.slice(() => {});

  const chunked = await gate.admit(a2, null);
  assert.equal(chunked.large, true, "of unknown length until read");
  assert.equal(gate.bytesInUse, 9 * MiB);
  await chunked.counted(post(64 * 1024)).arrayBuffer();
  assert.equal(chunked.large, false);
  assert.equal(gate.bytesInUse, 4 * MiB, "its room in the budget is given back once read");
  assert.equal(await chunked.slice(() => "went on"), "went on", "without waiting for the large body's turn");
  assert.equal(await chunked.paced(() => Promise.resolve("called")), "called");
  chunked.release();

  // One more byte and it stays large: its slice waits for the turn, then 503.
  const over = await gate.admit(a3, null);
  await over.counted(post(64 * 1024 + 1)).arrayBuffer();
  assert.equal(over.large, true);
  assert.equal((await refusal(over.slice(() => {}))).status, 503);
  over.release();
  holding.release();
  assert.equal(gate.bytesInUse, 0);

  // Released before its body was read (an answer that did not need it): its room is given back once.
  const early = await gate.admit(a2, null);
  const unread = early.counted(post(100));
  early.release();
  await unread.arrayBuffer();
  assert.equal(gate.bytesInUse, 0);
});

Deno.test("bulk gate: while small requests are served, large bodies that arrived go on one at a time", async () => {
  const gate = new BulkGate({ maxBulkPerKey: 100, maxBulkPerTenant: 100, bodyWaitMs: 2_000 });
  const small = async () => (await gate.admit(b1, 1000)).release();
  // With no small request lately, large bodies go on together.
  const quiet = [await gate.admit(a1, 4 * MiB), await gate.admit(b1, 4 * MiB)];
  await quiet[0].slice(() => {});
  await quiet[1].slice(() => {});
  for (const h of quiet) h.release();

  await small();
  // Both are admitted (their bodies are read meanwhile); the second's first slice waits for the first.
  const [first, second, third] = [
    await gate.admit(a1, 4 * MiB),
    await gate.admit(b1, 4 * MiB),
    await gate.admit(a2, 4 * MiB),
  ];
  await first.slice(() => {});
  const went: string[] = [];
  const secondGoes = second.slice(() => went.push("second"));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(went.length, 0, "the second waits while the first goes on");
  first.release();
  await secondGoes;

  // The third waits for the second, until small requests stop: then it goes on without it.
  await small();
  const thirdGoes = third.slice(() => went.push("third"));
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(went, ["second"]);
  await thirdGoes;
  assert.deepEqual(went, ["second", "third"]);
  for (const h of [second, third]) h.release();
  assert.equal(gate.bytesInUse, 0);
});

Deno.test("bulk gate: while small requests are served, a large body's database call is paced like a slice", async () => {
  const gate = new BulkGate({ pauseRatio: 3 });
  (await gate.admit(b1, 1000)).release(); // a small request: the instance is serving small ones
  const bulk = await gate.admit(a1, 4 * MiB);
  await bulk.paced(() => new Promise((r) => setTimeout(r, 20)));
  const started = performance.now();
  await bulk.slice(() => {});
  const waited = performance.now() - started;
  bulk.release();
  assert.ok(waited >= 50, `the next slice waited ${Math.round(waited)} ms after a 20 ms call (pause 3 × 20)`);
});

Deno.test("bulk gate: CPU work of large bodies runs in slices that let other work in", async () => {
  const gate = new BulkGate();
  const bulk = await gate.admit(a1, 4 * MiB);
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 1);
  const items = Array.from({ length: 400 }, (_, i) => i);
  let seen = 0;
  await bulk.eachSliced(items, () => {
    const until = performance.now() + 0.5; // 200 ms of work in all
    while (performance.now() < until) { /* busy */ }
    seen++;
  });
  clearInterval(ticker);
  bulk.release();
  assert.equal(seen, 400);
  assert.ok(ticks >= 10, `other work ran ${ticks} times during 200 ms of sliced work`);
});

Deno.test("bulk gate through the app: a concurrency 429 before the body is read", async () => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const { key } = await createKey(test.db, tenant, { rate_limit_per_hour: 100_000 });
  const gate = new BulkGate({ maxBulkPerKey: 1 });
  const app = createIntegrationApp({
    db: test.db,
    keys: createKeyVerifier(test.db),
    config: { trustedProxyHops: 0 },
    gate,
    log: () => {},
  });
  const size = 2 * MiB;
  // A body that never ends: holds the key's one bulk slot.
  let pulls = 0;
  let stop = false;
  const endless = new ReadableStream<Uint8Array>({
    pull: async (c) => {
      pulls++;
      await new Promise((r) => setTimeout(r, 20));
      if (stop) c.close();
      else c.enqueue(new Uint8Array(1024).fill(32));
    },
  });
  const request = (body: BodyInit) =>
    new Request("http://localhost/default-integration", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "content-length": String(size) },
      body,
      // deno-lint-ignore no-explicit-any
      ...({ duplex: "half" } as any),
    });
  const holding = app.fetch(request(endless));
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(pulls > 0, "the first body is being read");

  let read = false;
  const second = new ReadableStream<Uint8Array>({
    pull: () => {
      read = true;
    },
  }, { highWaterMark: 0 });
  const res = await app.fetch(request(second));
  const body = await res.json();
  assert.equal(res.status, 429);
  assert.equal(body.error.code, "RATE_LIMITED");
  assert.equal(body.error.message, "Too many concurrent requests for this API key");
  assert.equal(body.error.retry_after, 1);
  assert.equal(res.headers.get("retry-after"), "1");
  assert.ok(res.headers.get("x-ratelimit-limit"), "rate-limit headers of an authenticated answer");
  assert.equal(read, false, "the refused body was not read");
  stop = true;
  const first = await holding;
  assert.equal(first.status, 400, "the first body ends short: not JSON");
  await first.body?.cancel();
  await second.cancel().catch(() => {});
});

Deno.test("bulk gate through the app: a chunked body counts as bulk once over 1 MiB of it arrived", async () => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const { key } = await createKey(test.db, tenant, { rate_limit_per_hour: 100_000 });
  const gate = new BulkGate({ maxBulkPerKey: 1 });
  const app = createIntegrationApp({
    db: test.db,
    keys: createKeyVerifier(test.db),
    config: { trustedProxyHops: 0 },
    gate,
    log: () => {},
  });
  // No Content-Length: the body is a stream (chunked on the wire).
  const request = (body: ReadableStream<Uint8Array>) =>
    new Request("http://localhost/default-integration", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body,
      // deno-lint-ignore no-explicit-any
      ...({ duplex: "half" } as any),
    });
  const chunk = new Uint8Array(64 * 1024).fill(32);
  /** `bytes` of JSON whitespace, then (when `holdUntil`) nothing until it resolves. */
  const spaces = (bytes: number, holdUntil?: Promise<void>) => {
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull: async (c) => {
        if (sent >= bytes) {
          await holdUntil;
          return c.close();
        }
        sent += chunk.byteLength;
        c.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
    return { stream, sent: () => sent };
  };

  // 1.5 MiB arrives, then the body waits: it holds the key's one bulk slot.
  let stop = () => {};
  const held = spaces(1.5 * MiB, new Promise((resolve) => (stop = resolve)));
  const holding = app.fetch(request(held.stream));
  while (held.sent() < 1.5 * MiB) await new Promise((r) => setTimeout(r, 10));

  // Small chunked bodies are not counted: several at once are all served.
  const small = () =>
    new ReadableStream<Uint8Array>({
      start: (c) => {
        c.enqueue(new TextEncoder().encode('{"action":"sync_activities","activities":[]}'));
        c.close();
      },
    });
  const smalls = await Promise.all(Array.from({ length: 4 }, () => app.fetch(request(small()))));
  assert.deepEqual(smalls.map((r) => r.status), [200, 200, 200, 200]);
  await Promise.all(smalls.map((r) => r.body?.cancel()));

  // A second large chunked body of the key: 429 once more than 1 MiB of it arrived, before its end.
  const second = spaces(3 * MiB);
  const res = await app.fetch(request(second.stream));
  const body = await res.json();
  assert.equal(res.status, 429, JSON.stringify(body));
  assert.equal(body.error.message, concurrencyMessages.key);
  assert.equal(body.error.retry_after, 1);
  assert.ok(second.sent() > MiB && second.sent() < 3 * MiB, `read ${second.sent()} bytes of it`);

  stop();
  const first = await holding;
  assert.equal(first.status, 400, "the first body is whitespace only: not JSON");
  await first.body?.cancel();
  assert.equal(gate.bytesInUse, 0);
});

// The TypeScript client against the real service (a `deno task start` subprocess on a fresh
// database): batching and summed counts, the all-or-nothing activity batch mapped to input indexes,
// the 5 MiB body limit, rate-limit headers, typed errors and the 429 retry.
import assert from "node:assert/strict";
import {
  type Activity,
  type Collaborator,
  type RetryEvent,
  SalesOSApiError,
  SalesOSClient,
  SalesOSError,
} from "../../clients/typescript/src/index.ts";
import { uuidV4 } from "../support/patterns.ts";
import { endWindowIn, startService } from "../support/client_service.ts";

const collaborators = (count: number, prefix = "p"): Collaborator[] =>
  Array.from(
    { length: count },
    (_, i) => ({ external_id: `${prefix}-${i}`, name: `Person ${i}`, email: `${prefix}${i}@example.com` }),
  );

const activities = (count: number, emails: number, prefix = "a"): Activity[] =>
  Array.from({ length: count }, (_, i) => ({
    activity_code: "001",
    external_id: `${prefix}-${i}`,
    collaborator_email: `p${i % emails}@example.com`,
    data: { n: i },
  }));

Deno.test("TypeScript client against the running service", async (t) => {
  await using service = await startService();
  const client = async (options: Partial<ConstructorParameters<typeof SalesOSClient>[0]> = {}) => {
    const key = await service.key();
    return { key, client: new SalesOSClient({ apiKey: key.key, baseUrl: service.baseUrl, ...options }) };
  };
  const count = async (table: string, tenantId: string) =>
    Number(
      (await service.query<{ n: string }>(`select count(*) as n from salesos.${table} where tenant_id = $1`, [
        tenantId,
      ]))[0].n,
    );

  await t.step(
    "syncCollaborators sends 1,234 items in 3 batches and adds up created, existing and errors",
    async () => {
      const { key, client: api } = await client();
      const items = collaborators(1_234);
      items[10] = { ...items[10], email: "not-an-email" };
      items[700] = { ...items[700], name: "" };
      items[1_100] = { ...items[1_100], email: items[5].email, external_id: "p-5" }; // the same person again
      const batches: number[] = [];
      for await (const report of api.syncCollaboratorsInBatches(items)) batches.push(report.size);
      assert.deepEqual(batches, [500, 500, 234]);

      const again = await api.syncCollaborators(items);
      assert.deepEqual(
        { ...again, rejected: again.rejected.map((r) => r.index) },
        {
          created: 0,
          existing: 1_232,
          errors: [
            "Collaborator p-10 (not-an-email): email must be a valid email",
            "Collaborator p-700 (p700@example.com): name must be a string of 1-255 characters",
          ],
          total: 1_234,
          rejected: [10, 700],
          batches: 3,
        },
      );
      assert.equal(await count("collaborators", key.tenantId), 1_231);
    },
  );

  await t.step(
    "a refused collaborator is found by its echo, also when cut at 320 characters; look-alikes get no index",
    async () => {
      const { client: api } = await client();
      const long = "x".repeat(400);
      const summary = await api.syncCollaborators([
        { external_id: "emp-1", name: "Ana", email: "ana@example.com" },
        { external_id: "emp-1", name: "Ana", email: "ana@example.com", phone: "9".repeat(60) },
        { external_id: long, name: "Long", email: "long@example.com" },
      ]);
      assert.deepEqual(summary.rejected.map((r) => r.index), [null, 2]);
      assert.equal(summary.errors.length, 2);
      assert.ok(summary.errors[1].startsWith(`Collaborator ${"x".repeat(320)}… (long@example.com): `));
    },
  );

  await t.step(
    "syncActivities sends 2,500 items in 3 batches; skipped and duplicates add up; a replay stores nothing",
    async () => {
      const { key, client: api } = await client();
      await api.syncCollaborators(collaborators(40));
      const items = activities(2_500, 50); // emails p40..p49 are nobody: skipped
      items[2_400] = { ...items[2_400], external_id: "a-0" };
      const first = await api.syncActivities(items);
      assert.deepEqual(first, {
        processed: 1_999,
        skipped: 500,
        duplicates: 1,
        errors: [],
        total: 2_500,
        rejected: [],
        batches: 3,
      });
      const replay = await api.syncActivities(items);
      assert.deepEqual(replay, {
        processed: 0,
        skipped: 500,
        duplicates: 2_000,
        errors: [],
        total: 2_500,
        rejected: [],
        batches: 3,
      });
      assert.equal(await count("activities", key.tenantId), 1_999);
    },
  );

  await t.step(
    "an invalid activity fails its batch: thrown with the caller's index, progress tells what was stored",
    async () => {
      const { key, client: api } = await client();
      await api.syncCollaborators(collaborators(10));
      const items = activities(2_500, 10);
      items[1_700] = { ...items[1_700], activity_code: "1" };
      items[1_701] = { ...items[1_701], collaborator_email: "nobody", occurred_at: "yesterday" };
      const error = await api.syncActivities(items).then(() => null, (e) => e);
      assert.ok(error instanceof SalesOSApiError);
      assert.equal(error.status, 400);
      assert.equal(error.code, "VALIDATION_ERROR");
      assert.equal(error.message, "Invalid activities payload");
      assert.deepEqual(error.details, [
        { index: 1_700, field: "activity_code", message: 'Required 3-digit string (001-999), e.g. "001"' },
        { index: 1_701, field: "collaborator_email", message: "Required valid email" },
        {
          index: 1_701,
          field: "occurred_at",
          message: "Optional ISO 8601 date-time with offset or Z, at most 24 hours ahead",
        },
      ]);
      assert.match(error.requestId!, uuidV4);
      assert.deepEqual(error.progress, {
        completedItems: 1_000,
        result: { processed: 1_000, skipped: 0, duplicates: 0, errors: [], total: 1_000, rejected: [], batches: 1 },
      });
      assert.equal(await count("activities", key.tenantId), 1_000);
    },
  );

  await t.step("skipInvalid sends the batch again without the invalid items and reports them", async () => {
    const { key, client: api } = await client();
    await api.syncCollaborators(collaborators(10));
    const items = activities(2_500, 10);
    items[1_700] = { ...items[1_700], activity_code: "000" };
    const summary = await api.syncActivities(items, { skipInvalid: true });
    assert.deepEqual(summary.rejected, [{
      index: 1_700,
      reason: 'Activity a-1700 (p0@example.com): activity_code: Required 3-digit string (001-999), e.g. "001"',
      details: [{ index: 1_700, field: "activity_code", message: 'Required 3-digit string (001-999), e.g. "001"' }],
    }]);
    assert.deepEqual({ ...summary, rejected: undefined }, {
      processed: 2_499,
      skipped: 0,
      duplicates: 0,
      errors: [summary.rejected[0].reason],
      total: 2_500,
      rejected: undefined,
      batches: 3,
    });
    assert.equal(await count("activities", key.tenantId), 2_499);
  });

  await t.step("batches stay under the 5 MiB body limit: 1000 activities of 8 KiB go in 2 requests", async () => {
    const { client: api } = await client();
    await api.syncCollaborators(collaborators(1));
    const padding = "x".repeat(8 * 1024);
    const items = activities(1_000, 1).map((a) => ({ ...a, data: { padding } }));
    const summary = await api.syncActivities(items);
    assert.equal(summary.processed, 1_000);
    assert.equal(summary.batches, 2);
  });

  await t.step("rate-limit headers of the last response are exposed", async () => {
    const key = await service.key({ rate_limit_per_hour: 50 });
    const api = new SalesOSClient({ apiKey: key.key, baseUrl: service.baseUrl });
    assert.equal(api.rateLimit, null);
    await api.syncCollaborators(collaborators(600)); // 2 requests
    assert.deepEqual({ ...api.rateLimit!, reset: undefined }, { limit: 50, remaining: 48, reset: undefined });
    assert.ok(api.rateLimit!.reset > 3500 && api.rateLimit!.reset <= 3600);
  });

  await t.step("errors are typed: code, status, message, requestId", async () => {
    const { key } = await client();
    const wrong = new SalesOSClient({ apiKey: `${key.key.slice(0, -8)}00000000`, baseUrl: service.baseUrl });
    const unauthorized = await wrong.syncCollaborators(collaborators(1)).then(() => null, (e) => e);
    assert.ok(unauthorized instanceof SalesOSApiError && unauthorized instanceof SalesOSError);
    assert.deepEqual([unauthorized.status, unauthorized.code, unauthorized.message], [
      401,
      "UNAUTHORIZED",
      "Invalid or expired API key",
    ]);
    assert.match(unauthorized.requestId!, uuidV4);
    assert.equal(wrong.rateLimit, null);

    const reader = await service.key({ scopes: ["leads:read"] });
    const forbidden = await new SalesOSClient({ apiKey: reader.key, baseUrl: service.baseUrl })
      .syncActivities(activities(1, 1)).then(() => null, (e) => e);
    assert.ok(forbidden instanceof SalesOSApiError);
    assert.deepEqual(
      [forbidden.status, forbidden.code, forbidden.message],
      [403, "FORBIDDEN", "API key missing required scopes: default:sync"],
    );
    assert.deepEqual(forbidden.progress, {
      completedItems: 0,
      result: { processed: 0, skipped: 0, duplicates: 0, errors: [], total: 0, rejected: [], batches: 0 },
    });
  });

  await t.step("429: waits retry_after and sends the same batch again", async () => {
    const key = await service.key({ rate_limit_per_hour: 1 });
    const retries: RetryEvent[] = [];
    const api = new SalesOSClient({ apiKey: key.key, baseUrl: service.baseUrl, onRetry: (e) => retries.push(e) });
    await api.syncCollaborators(collaborators(1));
    await endWindowIn(service, key.id, 2);
    const started = Date.now();
    const summary = await api.syncCollaborators(collaborators(1));
    const waited = Date.now() - started;
    assert.equal(summary.existing, 1);
    assert.equal(retries.length, 1);
    const error = retries[0].error as SalesOSApiError;
    assert.deepEqual([error.status, error.code, error.retryAfter], [429, "RATE_LIMITED", 2]);
    assert.equal(retries[0].delayMs, 2_000);
    assert.ok(waited >= 2_000 && waited < 4_000, `waited ${waited} ms`);
    assert.equal(api.rateLimit?.remaining, 0); // the new window's one request
  });

  await t.step("429 with retry_after over the cap, or with retries off, is thrown at once", async () => {
    const key = await service.key({ rate_limit_per_hour: 1 });
    const capped = new SalesOSClient({
      apiKey: key.key,
      baseUrl: service.baseUrl,
      retry: { maxRetryAfterSeconds: 60 },
    });
    await capped.syncCollaborators(collaborators(1));
    let started = Date.now();
    const error = await capped.syncCollaborators(collaborators(1)).then(() => null, (e) => e);
    assert.ok(error instanceof SalesOSApiError);
    assert.deepEqual([error.status, error.code, error.message], [429, "RATE_LIMITED", "Rate limit exceeded"]);
    assert.ok(error.retryAfter! > 3_500, `retry_after ${error.retryAfter}`);
    assert.ok(Date.now() - started < 1_000);
    assert.deepEqual(capped.rateLimit, { limit: 1, remaining: 0, reset: error.retryAfter });

    await endWindowIn(service, key.id, 2);
    const off = new SalesOSClient({ apiKey: key.key, baseUrl: service.baseUrl, retry: { enabled: false } });
    started = Date.now();
    const refused = await off.syncCollaborators(collaborators(1)).then(() => null, (e) => e);
    assert.deepEqual([refused?.status, refused?.retryAfter], [429, 2]);
    assert.ok(Date.now() - started < 1_000);
  });

  await t.step("a signed key with its secret: each batch signed, 200s; a wrong secret is refused", async () => {
    const { key, client: api } = await client({ secret: undefined });
    const signed = await service.key({ auth_scheme: "signed" });
    const signedClient = new SalesOSClient({ apiKey: signed.key, secret: signed.secret, baseUrl: service.baseUrl });
    const result = await signedClient.syncCollaborators(collaborators(1_200, "s"));
    assert.deepEqual([result.created, result.batches, result.errors], [1_200, 3, []]);
    assert.equal(signedClient.rateLimit?.limit, 100_000);
    assert.equal(await count("collaborators", signed.tenantId), 1_200);

    const refusal = async (options: { secret?: string }) => {
      try {
        await new SalesOSClient({ apiKey: signed.key, baseUrl: service.baseUrl, ...options }).syncCollaborators(
          collaborators(1, "w"),
        );
      } catch (error) {
        assert.ok(error instanceof SalesOSApiError, String(error));
        return [error.status, error.code, error.message];
      }
      assert.fail("accepted");
    };
    assert.deepEqual(await refusal({ secret: "0".repeat(64) }), [401, "UNAUTHORIZED", "Invalid request signature"]);
    assert.deepEqual(await refusal({}), [401, "UNAUTHORIZED", "This API key requires signed requests (P2S-SIGN-V1)"]);
    // A Bearer key given a secret signs, and is refused in the signed scheme.
    const bearer = new SalesOSClient({ apiKey: key.key, secret: "0".repeat(64), baseUrl: service.baseUrl });
    await assert.rejects(bearer.syncCollaborators(collaborators(1, "b")), /API key is not enabled for signed requests/);
    await api.syncCollaborators(collaborators(1, "b")); // the same key as Bearer works
  });

  await t.step("empty input sends nothing and answers zero counts", async () => {
    const api = new SalesOSClient({ apiKey: (await service.key()).key, baseUrl: service.baseUrl });
    assert.deepEqual(await api.syncActivities([]), {
      processed: 0,
      skipped: 0,
      duplicates: 0,
      errors: [],
      total: 0,
      rejected: [],
      batches: 0,
    });
    assert.equal(api.rateLimit, null);
  });
});

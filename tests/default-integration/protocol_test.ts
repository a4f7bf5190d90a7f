// The envelope, request ids, methods, paths, media type,
// body size, body shape, rate-limit headers, the request log and the one log line per response.
import assert from "node:assert/strict";
import type { Database } from "../../supabase/functions/_shared/database.ts";
import { DatabaseUnavailableError } from "../../supabase/functions/_shared/errors.ts";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant, unknownKey, withWrongSecret } from "../support/fixtures.ts";
import { type Answer, type CallOptions, type IntegrationHarness, integrationHarness } from "../support/integration.ts";
import { isoMs, uuidV4 } from "../support/patterns.ts";

const actionMessage = 'Missing or invalid "action". Valid values: sync_collaborators, sync_activities';
const mib = 1024 * 1024;
const empty = { action: "sync_activities", activities: [] };

/** The envelope: request id (uuid v4) in meta and X-Request-Id, ISO 8601 UTC timestamp with ms. */
function assertEnvelope(res: Answer, label = "") {
  const requestId = res.headers.get("x-request-id");
  assert.match(requestId ?? "", uuidV4, `X-Request-Id ${label}`);
  assert.ok(res.json && typeof res.json === "object", `JSON body ${label}`);
  assert.equal(res.json.meta?.request_id, requestId, `meta.request_id ${label}`);
  assert.match(res.json.meta.timestamp, isoMs, `meta.timestamp ${label}`);
  assert.ok(Math.abs(Date.parse(res.json.meta.timestamp) - Date.now()) < 10_000, `timestamp is now ${label}`);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/, label);
  if (res.status < 400) {
    assert.ok("data" in res.json && !("error" in res.json), label);
  } else {
    assert.ok("error" in res.json && !("data" in res.json), label);
    assert.equal(typeof res.json.error.code, "string", label);
    assert.equal(typeof res.json.error.message, "string", label);
  }
}

/** A stream of `total` bytes in 64 KiB chunks that records how much was pulled and whether it was cancelled. */
function countingStream(total: number) {
  const state = { pulled: 0, cancelled: false };
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled >= total) return controller.close();
      state.pulled += chunk.byteLength;
      controller.enqueue(chunk.slice());
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

/** The real database, except that the sync functions fail the way `failure` says. */
function failingSyncs(db: Database, failure: (action: string) => Error): Database {
  return {
    query: (text, params) => {
      const action = /salesos\.(sync_collaborators|sync_activities)\(/.exec(text)?.[1];
      return action ? Promise.reject(failure(action)) : db.query(text, params);
    },
    exec: (script) => db.exec(script),
    close: () => db.close(),
  };
}

Deno.test("protocol", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const api = integrationHarness(test.db);
  const live = await createKey(test.db, tenant, { rate_limit_per_hour: 500 });
  const scopeless = await createKey(test.db, tenant, { scopes: ["leads:read"] });
  const limited = await createKey(test.db, tenant, { rate_limit_per_hour: 1 });
  const plaintexts = [live.key, scopeless.key, limited.key];

  // Every answer, with the harness whose log should hold its one line.
  const sent: { harness: IntegrationHarness; res: Answer; label: string }[] = [];
  const send = async (options: CallOptions, harness = api, label = JSON.stringify(options).slice(0, 80)) => {
    const res = await harness.call(options);
    sent.push({ harness, res, label });
    return res;
  };
  const post = (key: string, body: unknown, options: CallOptions = {}) => send({ ...options, key, body });
  const logged = async (res: Answer) => {
    const rows = await test.db.query<{ status: number; key_id: string; action: string | null; environment: string }>(
      "select status, key_id::text, action, environment from salesos.request_log where request_id = $1",
      [res.headers.get("x-request-id")],
    );
    return rows.map((r) => ({ ...r }));
  };

  await t.step(
    "a success has data and meta: a uuid v4 request id equal to X-Request-Id and an ISO UTC ms timestamp",
    async () => {
      const res = await post(live.key, empty);
      assert.equal(res.status, 200);
      assertEnvelope(res);
      assert.deepEqual(Object.keys(res.json).sort(), ["data", "meta"]);
      const other = await post(live.key, empty);
      assert.notEqual(other.json.meta.request_id, res.json.meta.request_id, "a new id per request");
    },
  );

  await t.step("every error has the error envelope and the same request id in meta and X-Request-Id", async () => {
    const cases: [string, CallOptions, number, string][] = [
      ["no credential", { body: empty }, 401, "UNAUTHORIZED"],
      ["bad prefix", { key: "mytoken123456789", body: empty }, 401, "UNAUTHORIZED"],
      ["malformed key", { key: "sk_live_short", body: empty }, 401, "UNAUTHORIZED"],
      ["scope", { key: scopeless.key, body: empty }, 403, "FORBIDDEN"],
      ["unknown path", { path: "/default-integration/nope", key: live.key, body: empty }, 404, "NOT_FOUND"],
      ["method", { method: "GET", key: live.key }, 405, "METHOD_NOT_ALLOWED"],
      [
        "body not JSON",
        { key: live.key, body: "{", headers: { "content-type": "application/json" } },
        400,
        "VALIDATION_ERROR",
      ],
      [
        "media type",
        { key: live.key, body: "action=sync_activities", headers: { "content-type": "text/plain" } },
        415,
        "UNSUPPORTED_MEDIA_TYPE",
      ],
      [
        "too large",
        {
          key: live.key,
          body: "{}",
          headers: { "content-type": "application/json", "content-length": String(6 * mib) },
        },
        413,
        "PAYLOAD_TOO_LARGE",
      ],
      ["first of the limit", { key: limited.key, body: empty }, 200, ""],
      ["rate limited", { key: limited.key, body: empty }, 429, "RATE_LIMITED"],
    ];
    for (const [label, options, status, code] of cases) {
      const res = await send(options, api, label);
      assert.equal(res.status, status, label);
      assertEnvelope(res, label);
      if (code) assert.equal(res.json.error.code, code, label);
    }
  });

  await t.step("an unexpected failure is 500 Internal server error with nothing leaked", async () => {
    const broken = integrationHarness(
      failingSyncs(test.db, () => new Error("boom: relation secret_table, params [x]")),
    );
    const res = await send({ key: live.key, body: empty }, broken, "500");
    assert.equal(res.status, 500);
    assertEnvelope(res, "500");
    assert.deepEqual(res.json.error, {
      code: "SERVER_ERROR",
      message: "Internal server error",
      doc_url: "http://127.0.0.1:54321/docs/errors.md#server_error",
    });
    const [row] = await test.db.query<{ status: number }>(
      "select status from salesos.request_log where request_id = $1",
      [res.json.meta.request_id],
    );
    assert.equal(row?.status, 500, "an admitted request that failed is in the key's request log");
  });

  await t.step("an unreachable database is 503 with Retry-After", async () => {
    const down = integrationHarness(
      failingSyncs(test.db, () => new DatabaseUnavailableError(new Error("connection terminated"))),
    );
    const res = await send({ key: live.key, body: empty }, down, "503");
    assert.equal(res.status, 503);
    assertEnvelope(res, "503");
    assert.equal(res.json.error.code, "SERVICE_UNAVAILABLE");
    assert.ok(Number.isInteger(res.json.error.retry_after) && res.json.error.retry_after > 0);
    assert.equal(res.headers.get("retry-after"), String(res.json.error.retry_after));
  });

  await t.step("GET, PUT, DELETE, PATCH and OPTIONS are 405 with Allow: POST, with or without a key", async () => {
    for (const method of ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
      for (const key of [undefined, live.key]) {
        const body = method === "GET" ? undefined : empty;
        const res = await send({ method, key, body }, api, `${method} ${key ? "with" : "without"} key`);
        assert.equal(res.status, 405, method);
        assert.equal(res.headers.get("allow"), "POST", method);
        assert.equal(res.json.error.code, "METHOD_NOT_ALLOWED", method);
        assertEnvelope(res, method);
      }
    }
  });

  await t.step("HEAD is 405 with Allow: POST and X-Request-Id", async () => {
    const res = await api.call({ method: "HEAD" });
    sent.push({ harness: api, res: { ...res, json: null }, label: "HEAD" });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "POST");
    assert.match(res.headers.get("x-request-id") ?? "", uuidV4);
  });

  await t.step("an unknown sub-path is 404 NOT_FOUND, whatever the method or credential", async () => {
    for (
      const path of ["/default-integration/sync", "/default-integration/v1/collaborators", "/default-integration/x/y/z"]
    ) {
      for (const method of ["POST", "GET"]) {
        const res = await send({ method, path, key: live.key, body: method === "POST" ? empty : undefined });
        assert.equal(res.status, 404, `${method} ${path}`);
        assert.equal(res.json.error.code, "NOT_FOUND");
        assertEnvelope(res, path);
      }
    }
  });

  await t.step("a body that is not JSON under another Content-Type is 415, checked after authentication", async () => {
    const cases: [string, CallOptions][] = [
      ["none", { body: new TextEncoder().encode("action=sync_activities") }],
      ["text/plain", { body: "sync please", headers: { "content-type": "text/plain" } }],
      ["form", { body: "action=sync_activities", headers: { "content-type": "application/x-www-form-urlencoded" } }],
      ["JSON array", { body: "[]", headers: { "content-type": "application/x-www-form-urlencoded" } }],
      ["empty", { body: "", headers: { "content-type": "text/plain" } }],
    ];
    for (const [label, options] of cases) {
      const res = await send({ ...options, key: live.key }, api, `415 ${label}`);
      assert.equal(res.status, 415, label);
      assert.equal(res.json.error.code, "UNSUPPORTED_MEDIA_TYPE", label);
      assert.equal(res.json.error.message, "Request body must be JSON (Content-Type: application/json)", label);
      const anonymous = await send(options, api, `401 before 415 ${label}`);
      assert.equal(anonymous.status, 401, `authentication first: ${label}`);
    }
  });

  await t.step("a JSON object body is read whatever the Content-Type says (curl -d sends a form type)", async () => {
    const json = JSON.stringify(empty);
    const cases: [string, CallOptions][] = [
      ["none", { body: new TextEncoder().encode(json) }],
      ["form", { body: json, headers: { "content-type": "application/x-www-form-urlencoded" } }],
      ["text/plain", { body: json, headers: { "content-type": "text/plain" } }],
      ["json-like", { body: json, headers: { "content-type": "application/jsonl" } }],
      ["vendor json", { body: json, headers: { "content-type": "application/vnd.api+json" } }],
      ["charset", { body: json, headers: { "content-type": "application/json; charset=utf-8" } }],
      ["upper case", { body: json, headers: { "content-type": "Application/JSON" } }],
    ];
    for (const [label, options] of cases) {
      const res = await send({ ...options, key: live.key }, api, `200 ${label}`);
      assert.equal(res.status, 200, `${label}: ${JSON.stringify(res.json)}`);
    }
    const invalid = await send({
      key: live.key,
      body: JSON.stringify({ action: "nope" }),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assert.deepEqual([invalid.status, invalid.json.error.code], [400, "VALIDATION_ERROR"]);
  });

  await t.step("a Content-Length over 5 MiB is 413 without reading the body", async () => {
    const { stream, state } = countingStream(6 * mib);
    const res = await send({
      key: live.key,
      body: stream,
      headers: { "content-type": "application/json", "content-length": String(5 * mib + 1) },
    });
    assert.equal(res.status, 413);
    assert.equal(res.json.error.code, "PAYLOAD_TOO_LARGE");
    assert.ok(state.pulled <= 128 * 1024, `read ${state.pulled} bytes`);
  });

  await t.step("a body of exactly 5 MiB is accepted", async () => {
    const json = JSON.stringify(empty);
    const body = json + " ".repeat(5 * mib - json.length);
    const res = await send({ key: live.key, body, headers: { "content-type": "application/json" } });
    assert.equal(res.status, 200);
  });

  await t.step("a streamed body over 5 MiB without Content-Length is 413 and reading stops", async () => {
    const { stream, state } = countingStream(64 * mib);
    const res = await send({ key: live.key, body: stream, headers: { "content-type": "application/json" } });
    assert.equal(res.status, 413);
    assert.equal(res.json.error.code, "PAYLOAD_TOO_LARGE");
    assertEnvelope(res);
    assert.ok(state.pulled < 6 * mib, `read ${state.pulled} bytes`);
    assert.ok(state.cancelled, "the stream was cancelled");
  });

  await t.step("a body that is not JSON is 400 VALIDATION_ERROR", async () => {
    const bodies: (string | Uint8Array)[] = [
      "",
      "{",
      "{'action': 'sync_activities'}",
      "action=sync",
      "[1,2",
      new Uint8Array([0x7b, 0xff, 0x7d]),
    ];
    for (const body of bodies) {
      const res = await send({ key: live.key, body, headers: { "content-type": "application/json" } });
      assert.equal(res.status, 400, String(body));
      assert.equal(res.json.error.code, "VALIDATION_ERROR");
      assertEnvelope(res);
    }
  });

  await t.step(
    "JSON that is not an object, or has a missing or unknown action, is 400 with the action message",
    async () => {
      const bodies = [
        [],
        [empty],
        "sync_activities",
        42,
        null,
        true,
        {},
        { activities: [] },
        { action: "nope" },
        { action: "SYNC_ACTIVITIES" },
        { action: " sync_activities" },
        { action: 1 },
        { action: null },
        { action: ["sync_activities"] },
      ];
      for (const body of bodies) {
        const res = await send({
          key: live.key,
          body: JSON.stringify(body),
          headers: { "content-type": "application/json" },
        });
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.deepEqual(res.json.error, {
          code: "VALIDATION_ERROR",
          message: actionMessage,
          doc_url: "http://127.0.0.1:54321/docs/errors.md#validation_error",
        }, JSON.stringify(body));
      }
    },
  );

  await t.step(
    "every authenticated response carries the rate-limit headers, also 400, 403, 413, 415 and 429",
    async () => {
      const fresh = await createKey(test.db, tenant, { rate_limit_per_hour: 50 });
      const answers = [
        await post(fresh.key, empty),
        await post(fresh.key, { action: "nope" }),
        await post(fresh.key, { action: "sync_activities", activities: [{ activity_code: "x" }] }),
        await send({ key: fresh.key, body: "action=sync", headers: { "content-type": "text/plain" } }),
        await send({
          key: fresh.key,
          body: "{}",
          headers: { "content-type": "application/json", "content-length": String(6 * mib) },
        }),
        await post(fresh.key, { action: "sync_collaborators", collaborators: [{ email: "broken" }] }),
      ];
      assert.deepEqual(answers.map((a) => a.status), [200, 400, 400, 415, 413, 200]);
      answers.forEach((res, i) => {
        const remaining = 50 - (i + 1);
        const reset = Number(res.headers.get("x-ratelimit-reset"));
        assert.equal(res.headers.get("x-ratelimit-limit"), "50");
        assert.equal(res.headers.get("x-ratelimit-remaining"), String(remaining));
        assert.ok(Number.isInteger(reset) && reset > 0 && reset <= 3600, String(reset));
        assert.equal(res.headers.get("ratelimit-policy"), '"hourly";q=50;w=3600');
        assert.equal(res.headers.get("ratelimit"), `"hourly";r=${remaining};t=${reset}`);
      });

      const forbidden = await post(scopeless.key, empty);
      assert.equal(forbidden.status, 403);
      assert.equal(forbidden.headers.get("x-ratelimit-limit"), "1000");
      assert.equal(forbidden.headers.get("ratelimit-policy"), '"hourly";q=1000;w=3600');
      assert.match(forbidden.headers.get("ratelimit") ?? "", /^"hourly";r=\d+;t=\d+$/);

      const limitedAgain = await post(limited.key, empty);
      assert.equal(limitedAgain.status, 429);
      assert.equal(limitedAgain.headers.get("x-ratelimit-remaining"), "0");
      assert.equal(
        limitedAgain.headers.get("ratelimit"),
        `"hourly";r=0;t=${limitedAgain.headers.get("x-ratelimit-reset")}`,
      );

      const anonymous = await post("sk_live_short", empty);
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.headers.get("x-ratelimit-limit"), null, "no limit headers before a key is known");
    },
  );

  await t.step("a request refused for its body after admission is logged in request_log with its status", async () => {
    const refusals: [string, CallOptions, number, string | null][] = [
      ["not JSON", { body: "{", headers: { "content-type": "application/json" } }, 400, null],
      ["no action", { body: { hello: "world" } }, 400, null],
      ["media type", { body: "action=sync", headers: { "content-type": "text/plain" } }, 415, null],
      [
        "announced size",
        { body: "{}", headers: { "content-type": "application/json", "content-length": String(6 * mib) } },
        413,
        null,
      ],
      [
        "streamed size",
        { body: countingStream(8 * mib).stream, headers: { "content-type": "application/json" } },
        413,
        null,
      ],
      ["invalid activities", { body: { action: "sync_activities", activities: [{}] } }, 400, "sync_activities"],
      [
        "too many collaborators",
        { body: { action: "sync_collaborators", collaborators: Array(501).fill({}) } },
        400,
        "sync_collaborators",
      ],
    ];
    for (const [label, options, status, action] of refusals) {
      const res = await send({ ...options, key: live.key }, api, label);
      assert.equal(res.status, status, label);
      assert.deepEqual(await logged(res), [{ status, key_id: live.id, action, environment: "live" }], label);
    }
  });

  await t.step(
    "admitted successes are logged once each; refusals by scope or limit are counted, not logged; 401s neither",
    async () => {
      const ok = await post(live.key, { action: "sync_collaborators", collaborators: [] });
      assert.deepEqual(await logged(ok), [{
        status: 200,
        key_id: live.id,
        action: "sync_collaborators",
        environment: "live",
      }]);
      const counted = async (keyId: string, status: number) => {
        const [{ n }] = await test.db.query<{ n: number }>(
          "select coalesce(sum(requests), 0)::int as n from salesos.request_counts where key_id = $1 and status = $2",
          [keyId, status],
        );
        return n;
      };
      const [forbiddenBefore, limitedBefore] = [await counted(scopeless.id, 403), await counted(limited.id, 429)];
      const forbidden = await post(scopeless.key, empty);
      assert.equal(forbidden.status, 403);
      assert.deepEqual(await logged(forbidden), []);
      assert.equal(await counted(scopeless.id, 403), forbiddenBefore + 1);
      const limitedOut = await post(limited.key, empty);
      assert.equal(limitedOut.status, 429);
      assert.deepEqual(await logged(limitedOut), []);
      assert.equal(await counted(limited.id, 429), limitedBefore + 1);
      const unauthorized = await post("sk_live_short", empty);
      assert.deepEqual(await logged(unauthorized), []);
    },
  );

  await t.step(
    "every response has exactly one log line, with its status, and no line contains a plaintext key",
    async () => {
      // Wrong secrets for real key ids (well-formed, so that the verifier works on them too), a
      // broken checksum and an unknown id.
      for (const real of plaintexts) {
        assert.equal((await post(withWrongSecret(real), empty)).status, 401);
        assert.equal((await post(real.replace(/.{7}$/, "abcdefg"), empty)).status, 401);
      }
      assert.equal((await post(unknownKey(), empty)).status, 401);
      const harnesses = new Set(sent.map((s) => s.harness));
      for (const { harness, res, label } of sent) {
        const requestId = res.headers.get("x-request-id");
        const mine = harness.logs.filter((line) => line.request_id === requestId);
        assert.equal(mine.length, 1, label);
        assert.equal(mine[0].status, res.status, label);
      }
      let lines = 0;
      for (const harness of harnesses) lines += harness.logs.length;
      assert.equal(lines, sent.length, "one line per response in all");
      const everything = [...harnesses].map((h) => JSON.stringify(h.logs)).join("\n");
      for (const plaintext of plaintexts) {
        assert.ok(!everything.includes(plaintext), "no plaintext key in the logs");
        assert.ok(!everything.includes(plaintext.slice(16)), "no secret part of a key in the logs");
      }
      assert.ok(everything.includes(live.keyPrefix), "the public key prefix is what identifies a key");
    },
  );
});

// P2S-SIGN-V1 signed requests (contract section 6): the service against an independent
// implementation written as a Node integrator would (node:crypto's createHmac chain, here), and
// against the test vectors of docs/authentication.md; every check of 6.3 with its message.
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { deriveK4, signatureFromK4 } from "../../supabase/functions/_shared/signing.ts";
import { signedAuthorization as clientSignature } from "../../clients/typescript/src/signing.ts";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant, type TestKey, testSigningKek, withWrongSecret } from "../support/fixtures.ts";
import { createIntegrationApp } from "../../supabase/functions/default-integration/app.ts";
import { BulkGate } from "../../supabase/functions/default-integration/bulk_gate.ts";
import { createKeyVerifier } from "../../supabase/functions/default-integration/key_verifier.ts";
import { apiKeysHarness, hs256, member } from "../support/api_keys.ts";
import { type IntegrationHarness, integrationHarness } from "../support/integration.ts";

const publicPath = "/functions/v1/default-integration";
const empty = JSON.stringify({ action: "sync_activities", activities: [] });
// A request signed twice in one second with one body is the same request (a replay): every call
// here sends a body of its own unless told otherwise.
let sent = 0;
const fresh = () => JSON.stringify({ action: "sync_activities", activities: [], request: ++sent });

/** What an integrator writes with Node: the contract's chain, nothing imported from the service. */
function nodeSignature(
  o: {
    apiKey: string;
    secret: string;
    timestamp: string;
    method: string;
    path: string;
    body: string | Uint8Array;
  },
) {
  const k1 = createHmac("sha256", o.secret).update(o.apiKey).digest();
  const k2 = createHmac("sha256", k1).update(o.timestamp).digest();
  const k3 = createHmac("sha256", k2).update(o.method).digest();
  const k4 = createHmac("sha256", k3).update(o.path).digest();
  const payload = createHash("sha256").update(o.body).digest("hex");
  return createHmac("sha256", k4).update(payload).digest("hex");
}

const now = () => Math.floor(Date.now() / 1000);

function signedCall(
  api: IntegrationHarness,
  key: { key: string; secret?: string },
  o: {
    body?: string;
    timestamp?: number;
    signedBody?: string;
    method?: string;
    path?: string;
    header?: string;
    headers?: Record<string, string>;
    /** Sent as a stream, without Content-Length. */
    chunked?: boolean;
  } = {},
) {
  // A header made by the caller signs `empty` unless a body is given.
  const body = o.body ?? (o.header ? empty : fresh());
  const timestamp = String(o.timestamp ?? now());
  const signature = nodeSignature({
    apiKey: key.key,
    secret: key.secret ?? "0".repeat(64),
    timestamp,
    method: o.method ?? "POST",
    path: o.path ?? publicPath,
    body: o.signedBody ?? body,
  });
  return api.call({
    headers: {
      authorization: o.header ??
        `P2S-SIGN-V1 ${key.key}:${timestamp}:${signature}`,
      "content-type": "application/json",
      ...o.headers,
    },
    body: o.chunked ? ReadableStream.from([new TextEncoder().encode(body)]) : body,
  });
}

function refused(
  answer: { status: number; json: any },
  message: string,
  status = 401,
) {
  assert.equal(answer.status, status, JSON.stringify(answer.json));
  assert.equal(
    answer.json.error.code,
    status === 401 ? "UNAUTHORIZED" : answer.json.error.code,
  );
  assert.equal(answer.json.error.message, message);
}

Deno.test("P2S-SIGN-V1 test vectors (docs/authentication.md)", () => {
  const vector = {
    apiKey: "sk_test_p2sv1doc0123456789abcdefghyomfch",
    secret: "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff",
    timestamp: "1767225600",
    method: "POST",
    path: publicPath,
    body: '{"action":"sync_activities","activities":[]}',
  };
  const expected = {
    k1: "0b4dfdd43a260c0372a4b0b52be3f4028649d0bc1b017def853031200260534d",
    k2: "9823062093cdd8abd28ba5240ef7446e16bcdd43bcc8c95ba1cb6284a5e14b0f",
    k3: "8ca564589f7176132cff32d342ea03bff00731e4fd7f154048f9ea708908799a",
    k4: "df7651c7fb4aba7751813f797e7c084d521a3cdfa43367b151d2ea90e678dcb0",
    signature: "c1405907a21ab71388bad1a6fae995ad7be701c0c3502160db4093d93d8fee44",
  };
  const payloadSha256 = createHash("sha256").update(vector.body).digest("hex");
  assert.equal(
    payloadSha256,
    "a1bf68d9286377d5a0c17cbb6f776ac797581c64cc5fe08ae8c1f2f60aaa978c",
  );
  // Every step of the chain, as Node computes it, and the service's k4 and signature from k1.
  const k1 = createHmac("sha256", vector.secret).update(vector.apiKey).digest();
  const k2 = createHmac("sha256", k1).update(vector.timestamp).digest();
  const k3 = createHmac("sha256", k2).update(vector.method).digest();
  const k4 = createHmac("sha256", k3).update(vector.path).digest();
  const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  assert.deepEqual(
    { k1: hex(k1), k2: hex(k2), k3: hex(k3), k4: hex(k4), signature: nodeSignature(vector) },
    expected,
  );
  const serviceK4 = deriveK4(new Uint8Array(k1), vector);
  assert.equal(hex(serviceK4), expected.k4);
  assert.equal(signatureFromK4(serviceK4, payloadSha256), expected.signature);
  // The empty body's hash, as the contract quotes it.
  assert.equal(
    createHash("sha256").update("").digest("hex"),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  // The TypeScript client (WebCrypto) signs the same.
  return clientSignature({ ...vector, timestamp: Number(vector.timestamp) }).then((header) => {
    assert.equal(header, `P2S-SIGN-V1 ${vector.apiKey}:${vector.timestamp}:${expected.signature}`);
  });
});

Deno.test("signed requests", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const api = integrationHarness(test.db);
  const signed = await createKey(test.db, tenant, { auth_scheme: "signed" });
  const bearer = await createKey(test.db, tenant);
  /** Another instance on the same database, with the text of every statement it sends. */
  const recordedInstance = () => {
    const statements: string[] = [];
    const recorded: typeof test.db = {
      ...test.db,
      query: (text, params) => (statements.push(text), test.db.query(text, params)),
    };
    return { instance: integrationHarness(recorded), statements };
  };

  await t.step(
    "a signed key has a 64-hex secret; the database keeps neither it nor k1 in plaintext",
    async () => {
      assert.match(signed.secret!, /^[0-9a-f]{64}$/);
      const [row] = await test.db.query<Record<string, unknown>>(
        "select to_jsonb(k)::text as row_text, encode(signing_key, 'hex') as sealed from salesos.api_keys k where id = $1",
        [signed.id],
      );
      const k1 = createHmac("sha256", signed.secret!).update(signed.key).digest(
        "hex",
      );
      assert.ok(!String(row.row_text).includes(signed.secret!));
      assert.ok(!String(row.row_text).includes(k1));
      assert.ok(!String(row.sealed).includes(k1));
      assert.equal(String(row.sealed).length, 120);
    },
  );

  await t.step(
    "accepted: a correct signature, an empty batch and the scheme name in any case",
    async () => {
      const ok = await signedCall(api, signed);
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      assert.equal(ok.json.data.total, 0);
      assert.equal(ok.headers.get("x-ratelimit-limit"), "1000");
      const ts = String(now());
      const sig = nodeSignature({
        apiKey: signed.key,
        secret: signed.secret!,
        timestamp: ts,
        method: "POST",
        path: publicPath,
        body: empty,
      });
      const answer = await signedCall(api, signed, {
        header: `p2s-sign-v1 ${signed.key}:${ts}:${sig}`,
      });
      assert.equal(answer.status, 200);
    },
  );

  await t.step(
    "accepted: an empty body (the signature holds; then 400, not JSON)",
    async () => {
      const answer = await signedCall(api, signed, { body: "" });
      assert.equal(answer.status, 400);
      assert.equal(answer.json.error.code, "VALIDATION_ERROR");
    },
  );

  await t.step("accepted: a 1000-activity body", async () => {
    const activities = Array.from({ length: 1000 }, (_, i) => ({
      activity_code: "001",
      external_id: `signed-${i}`,
      collaborator_email: "nobody@example.com",
      occurred_at: "2026-03-17T09:15:00Z",
    }));
    const answer = await signedCall(api, signed, {
      body: JSON.stringify({ action: "sync_activities", activities }),
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.json).slice(0, 300));
    assert.equal(answer.json.data.total, 1000);
  });

  await t.step(
    "accepted: a timestamp 29 s in the past and 29 s in the future",
    async () => {
      assert.equal(
        (await signedCall(api, signed, { timestamp: now() - 29 })).status,
        200,
      );
      assert.equal(
        (await signedCall(api, signed, { timestamp: now() + 29 })).status,
        200,
      );
    },
  );

  const malformed = "Malformed P2S-SIGN-V1 Authorization header. Expected: P2S-SIGN-V1 API_KEY:TIMESTAMP:SIGNATURE";
  await t.step("refused: a malformed header", async () => {
    const ts = now();
    const sig = "a".repeat(64);
    for (
      const header of [
        "P2S-SIGN-V1",
        "P2S-SIGN-V1 ",
        `P2S-SIGN-V1 ${signed.key}`,
        `P2S-SIGN-V1 ${signed.key}:${ts}`,
        `P2S-SIGN-V1 ${signed.key}:${sig}`,
        `P2S-SIGN-V1 ${signed.key}:12a4:${sig}`,
        `P2S-SIGN-V1 ${signed.key}:-5:${sig}`,
        `P2S-SIGN-V1 ${signed.key}:${ts}:${"A".repeat(64)}`,
        `P2S-SIGN-V1 ${signed.key}:${ts}:${"a".repeat(63)}`,
        `P2S-SIGN-V1 ${signed.key}:${ts}:${sig}:extra`,
        `P2S-SIGN-V1  ${signed.key}:${ts}:${sig}`,
      ]
    ) {
      refused(await signedCall(api, signed, { header }), malformed);
    }
    // Anything else is the Bearer message, unchanged.
    refused(
      await signedCall(api, signed, {
        header: `P2S-SIGN-V2 ${signed.key}:${ts}:${sig}`,
      }),
      "Missing or malformed Authorization header. Expected: Bearer sk_live_xxx",
    );
    refused(
      await signedCall(api, signed, {
        header: `P2S-SIGN-V1 mytoken:${ts}:${sig}`,
      }),
      "Invalid API key prefix. Expected sk_live_ or sk_test_",
    );
  });

  const window = "Request timestamp is outside the 30-second window";
  const invalidSignature = "Invalid request signature";
  await t.step("refused: a timestamp 31 s off", async () => {
    refused(await signedCall(api, signed, { timestamp: now() - 31 }), window);
    refused(await signedCall(api, signed, { timestamp: now() + 31 }), window);
  });

  await t.step("refused: one byte of the body changed", async () => {
    refused(
      await signedCall(api, signed, {
        signedBody: empty,
        body: empty.replace("[]", "[ ]"),
      }),
      invalidSignature,
    );
  });

  await t.step("one key's requests across seconds, each checked against its own timestamp", async () => {
    // An instance keeps a key's k4 for its latest timestamp and method: a new second, a second
    // before it, and another method signed in the same second are each checked on their own, with
    // the key looked up once (a signature that fails against a remembered key looks it up again).
    const { instance, statements } = recordedInstance();
    const t0 = now();
    for (const timestamp of [t0, t0, t0 + 1, t0, t0 - 1, t0 + 1]) {
      assert.equal((await signedCall(instance, signed, { timestamp })).status, 200, `timestamp ${timestamp - t0}`);
    }
    assert.equal(statements.filter((text) => text.includes("find_signed_key")).length, 1);
    refused(await signedCall(instance, signed, { timestamp: t0, method: "PUT" }), invalidSignature);
    assert.equal((await signedCall(instance, signed, { timestamp: t0 })).status, 200);
  });

  await t.step("refused: another path or method signed", async () => {
    refused(
      await signedCall(api, signed, { path: "/default-integration" }),
      invalidSignature,
    );
    refused(
      await signedCall(api, signed, { path: `${publicPath}?x=1` }),
      invalidSignature,
    );
    refused(await signedCall(api, signed, { method: "PUT" }), invalidSignature);
    refused(
      await signedCall(api, signed, { method: "post" }),
      invalidSignature,
    );
  });

  await t.step("refused: the signature of another key", async () => {
    const other = await createKey(test.db, tenant, { auth_scheme: "signed" });
    refused(
      await signedCall(api, { key: signed.key, secret: other.secret }),
      invalidSignature,
    );
    // The other key's own signature, presented with this key string.
    const ts = String(now());
    const sig = nodeSignature({
      apiKey: other.key,
      secret: other.secret!,
      timestamp: ts,
      method: "POST",
      path: publicPath,
      body: empty,
    });
    refused(
      await signedCall(api, signed, {
        header: `P2S-SIGN-V1 ${signed.key}:${ts}:${sig}`,
      }),
      invalidSignature,
    );
  });

  await t.step(
    "refused: a Bearer key in the signed scheme; a signed key as Bearer",
    async () => {
      refused(
        await signedCall(api, bearer),
        "API key is not enabled for signed requests",
      );
      refused(
        await api.post(signed.key, JSON.parse(empty)),
        "This API key requires signed requests (P2S-SIGN-V1)",
      );
    },
  );

  await t.step("refused: a revoked or expired signed key", async () => {
    const revoked = await createKey(test.db, tenant, { auth_scheme: "signed" });
    assert.equal((await signedCall(api, revoked)).status, 200);
    await test.db.query(
      "update salesos.api_keys set revoked_at = now() where id = $1",
      [revoked.id],
    );
    refused(await signedCall(api, revoked), "Invalid or expired API key");
    const expired = await createKey(test.db, tenant, { auth_scheme: "signed" });
    await test.db.query(
      "update salesos.api_keys set expires_at = now() where id = $1",
      [expired.id],
    );
    refused(await signedCall(api, expired), "Invalid or expired API key");
  });

  await t.step("a key the instance remembers is still checked in the contract's order", async () => {
    const key = await createKey(test.db, tenant, { auth_scheme: "signed" });
    const wrongSecret = { ...key, secret: "1".repeat(64) };
    assert.equal((await signedCall(api, key)).status, 200, "now remembered by this instance");
    refused(await signedCall(api, wrongSecret), "Invalid request signature");
    refused(await signedCall(api, { ...key, key: withWrongSecret(key.key) }), "Invalid or expired API key");
    assert.equal((await signedCall(api, key)).status, 200);
    // Expired since it was remembered: its status comes before its signature, right or wrong.
    await test.db.query("update salesos.api_keys set expires_at = now() where id = $1", [key.id]);
    refused(await signedCall(api, wrongSecret), "Invalid or expired API key");
    refused(await signedCall(api, key), "Invalid or expired API key");
  });

  await t.step("refused: the same signed request twice", async () => {
    const ts = String(now());
    const body = fresh();
    const sig = nodeSignature({
      apiKey: signed.key,
      secret: signed.secret!,
      timestamp: ts,
      method: "POST",
      path: publicPath,
      body,
    });
    const header = `P2S-SIGN-V1 ${signed.key}:${ts}:${sig}`;
    assert.equal((await signedCall(api, signed, { header, body })).status, 200);
    refused(
      await signedCall(api, signed, { header, body }),
      "Request signature already used",
    );
  });

  await t.step(
    "the same signed request to two instances on two pools at once: exactly one 200",
    async () => {
      const second = integrationHarness(test.connect());
      for (let round = 0; round < 5; round++) {
        const ts = String(now());
        const body = JSON.stringify({
          action: "sync_activities",
          activities: [],
          round,
        });
        const sig = nodeSignature({
          apiKey: signed.key,
          secret: signed.secret!,
          timestamp: ts,
          method: "POST",
          path: publicPath,
          body,
        });
        const header = `P2S-SIGN-V1 ${signed.key}:${ts}:${sig}`;
        const answers = await Promise.all(
          [api, second, api, second].map((instance) => signedCall(instance, signed, { header, body })),
        );
        assert.deepEqual(answers.map((a) => a.status).sort(), [
          200,
          401,
          401,
          401,
        ]);
        for (const a of answers.filter((a) => a.status === 401)) {
          assert.equal(a.json.error.message, "Request signature already used");
        }
      }
    },
  );

  await t.step(
    "refusals before the rate limit do not count against it",
    async () => {
      const limited = await createKey(test.db, tenant, {
        auth_scheme: "signed",
        rate_limit_per_hour: 2,
      });
      refused(
        await signedCall(api, { key: limited.key, secret: "f".repeat(64) }),
        invalidSignature,
      );
      refused(
        await signedCall(api, limited, { timestamp: now() - 60 }),
        window,
      );
      const ok = await signedCall(api, limited);
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get("x-ratelimit-remaining"), "1");
      assert.equal((await signedCall(api, limited)).status, 200);
      refused(await signedCall(api, limited), "Rate limit exceeded", 429);
    },
  );

  await t.step("then IP allowlist and scope, as for Bearer keys", async () => {
    const fenced = await createKey(test.db, tenant, {
      auth_scheme: "signed",
      ip_allowlist: ["203.0.113.7"],
    });
    refused(
      await signedCall(api, fenced),
      "Request IP is not allowed for this API key",
      403,
    );
    const reader = await createKey(test.db, tenant, {
      auth_scheme: "signed",
      scopes: ["leads:read"],
    });
    refused(
      await signedCall(api, reader),
      "API key missing required scopes: default:sync",
      403,
    );
  });

  await t.step("admitted and applied in one call to Postgres", async () => {
    const { instance, statements } = recordedInstance();
    assert.equal((await signedCall(instance, signed)).status, 200); // the key is looked up, then remembered
    const called = () => statements.splice(0).map((text) => /salesos\.(\w+)/.exec(text)?.[1]);
    called();
    assert.equal((await signedCall(instance, signed)).status, 200);
    assert.deepEqual(called(), ["admit_and_sync"]);
    // A small body sent without Content-Length (chunked) too, once it is read.
    const chunked = await signedCall(instance, signed, { chunked: true });
    assert.equal(chunked.status, 200, JSON.stringify(chunked.json));
    assert.deepEqual(called(), ["admit_and_sync"]);
  });

  await t.step("the admission commits without waiting for a disk flush; the batch waits for one", async () => {
    // The session's synchronous_commit as each of the two transactions commits (deferred triggers).
    await test.db.exec(`
      create table public.commit_modes (written text, mode text);
      create function public.record_commit_mode() returns trigger language plpgsql set search_path = '' as $$
      begin
        insert into public.commit_modes
        values (case when tg_table_name like 'request_log%' then 'request_log' else tg_table_name end,
                pg_catalog.current_setting('synchronous_commit'));
        return null;
      end $$;
      create constraint trigger record_commit_mode after insert on salesos.request_signatures
        deferrable initially deferred for each row execute function public.record_commit_mode();
      create constraint trigger record_commit_mode after insert on salesos.request_log
        deferrable initially deferred for each row execute function public.record_commit_mode();`);
    try {
      assert.equal((await signedCall(api, signed)).status, 200);
      assert.deepEqual([...await test.db.query("select written, mode from public.commit_modes order by written")], [
        { written: "request_log", mode: "on" },
        { written: "request_signatures", mode: "off" },
      ]);
    } finally {
      await test.db.exec(`
        drop trigger record_commit_mode on salesos.request_signatures;
        drop trigger record_commit_mode on salesos.request_log;
        drop function public.record_commit_mode();
        drop table public.commit_modes;`);
    }
  });

  await t.step("a batch that fails after its admission is answered with it: rate-limit headers, logged", async () => {
    const [{ definition }] = await test.db.query<{ definition: string }>(
      "select pg_get_functiondef('salesos.sync_activities(uuid, text, uuid, uuid, inet, integer, jsonb, text, bytea)'::regprocedure) as definition",
    );
    await test.db.exec(`
      create or replace function salesos.sync_activities(
        p_tenant_id uuid, p_environment text, p_key_id uuid, p_request_id uuid, p_ip inet, p_elapsed_ms integer,
        p_activities jsonb, p_idempotency_key text default null, p_request_hash bytea default null)
      returns table (outcome text, data json) language plpgsql set search_path = '' as $$
      begin
        raise exception 'a bug in the batch' using errcode = 'XX000';
      end $$;`);
    try {
      const counter = await createKey(test.db, tenant, { auth_scheme: "signed" });
      const failed = await signedCall(api, counter);
      assert.equal(failed.status, 500, JSON.stringify(failed.json));
      assert.equal(failed.headers.get("x-ratelimit-remaining"), "999");
      const [row] = await test.db.query<{ status: number }>(
        "select status from salesos.request_log where key_id = $1",
        [counter.id],
      );
      assert.equal(row?.status, 500);
    } finally {
      await test.db.exec(definition);
    }
    assert.equal((await signedCall(api, signed)).status, 200);
  });

  await t.step("collaborators, with their item errors, and an Idempotency-Key", async () => {
    const collaborators = JSON.stringify({
      action: "sync_collaborators",
      collaborators: [
        { external_id: "signed-c1", name: "Ana", email: "ana@signed.test" },
        { external_id: "signed-c2", name: "Bo", email: "not-an-email" },
      ],
    });
    const first = await signedCall(api, signed, {
      body: collaborators,
      headers: { "idempotency-key": "signed-batch-1" },
    });
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.deepEqual({ ...first.json.data, errors: first.json.data.errors.length }, {
      created: 1,
      existing: 0,
      errors: 1,
      total: 2,
    });
    // A retry is signed again, with a new timestamp; the same Idempotency-Key and body get the stored answer.
    const again = await signedCall(api, signed, {
      body: collaborators,
      timestamp: now() + 1,
      headers: { "idempotency-key": "signed-batch-1" },
    });
    assert.equal(again.status, 200, JSON.stringify(again.json));
    assert.equal(again.headers.get("idempotent-replayed"), "true");
    assert.deepEqual(again.json.data, first.json.data);
    const other = await signedCall(api, signed, { headers: { "idempotency-key": "signed-batch-1" } });
    refused(other, "Idempotency-Key reused with a different request body", 422);
    const activity = JSON.stringify({
      action: "sync_activities",
      activities: [{ activity_code: "001", external_id: "signed-a1", collaborator_email: "ana@signed.test" }],
    });
    const stored = await signedCall(api, signed, { body: activity });
    assert.equal(stored.json.data.processed, 1, JSON.stringify(stored.json));
  });

  await t.step(
    "a refused body is answered after the admission, which counts it; a large one is not parsed",
    async () => {
      const limited = await createKey(test.db, tenant, { auth_scheme: "signed", rate_limit_per_hour: 2 });
      const notJson = await signedCall(api, limited, { body: "{" }); // each body of its own: not a replay
      refused(notJson, "Request body must be a JSON object", 400);
      assert.equal(notJson.headers.get("x-ratelimit-remaining"), "1");
      assert.equal((await signedCall(api, limited)).status, 200);
      const activity = JSON.stringify({
        action: "sync_activities",
        activities: [{ activity_code: "001", external_id: "signed-over-limit", collaborator_email: "ana@signed.test" }],
      });
      refused(await signedCall(api, limited, { body: "{ " }), "Rate limit exceeded", 429);
      refused(await signedCall(api, limited, { body: activity }), "Rate limit exceeded", 429);
      const [row] = await test.db.query<{ n: number }>(
        "select count(*)::integer as n from salesos.activities where external_id = 'signed-over-limit'",
      );
      assert.equal(row.n, 0);
      // A small body is parsed before its admission (its log line names the action); a large one
      // (over 64 KiB) is admitted first, so a refused one is not parsed.
      const lineOf = (answer: { json: any }) =>
        api.logs.find((line) => line.request_id === answer.json.meta.request_id);
      const small = await signedCall(api, limited, { body: activity.replace("over-limit", "over-limit-2") });
      assert.equal(lineOf(small)?.action, "sync_activities");
      const large = await signedCall(api, limited, {
        body: JSON.stringify({ action: "sync_activities", activities: [], padding: "x".repeat(70_000) }),
      });
      refused(large, "Rate limit exceeded", 429);
      assert.ok(lineOf(large), "the refusal's log line");
      assert.equal(lineOf(large)?.action, undefined);
      const fenced = await createKey(test.db, tenant, { auth_scheme: "signed", ip_allowlist: ["203.0.113.7"] });
      refused(await signedCall(api, fenced, { body: "{" }), "Request IP is not allowed for this API key", 403);
    },
  );

  await t.step("the secret never reaches a log line", () => {
    const text = JSON.stringify(api.logs);
    assert.ok(!text.includes(signed.secret!));
    assert.ok(!text.includes(signed.key));
  });
});

Deno.test("signed keys through api-keys: create, list, rotate", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const owner = await member(test.db, tenant, "owner");
  const keysApi = apiKeysHarness(test.db);
  const api = integrationHarness(test.db);
  const post = (path: string, body: unknown) => keysApi.call({ method: "POST", path, token: owner.token, body });

  let created: TestKey & { id: string } = {
    id: "",
    key: "",
    keyPrefix: "",
    tenantId: tenant,
  };
  await t.step(
    "POST /api-keys with auth_scheme signed: 201 with key and secret",
    async () => {
      const answer = await post("", {
        name: "signed",
        scopes: ["default:sync"],
        auth_scheme: "signed",
      });
      assert.equal(answer.status, 201, JSON.stringify(answer.json));
      assert.equal(answer.json.data.auth_scheme, "signed");
      assert.match(answer.json.data.secret, /^[0-9a-f]{64}$/);
      created = {
        id: answer.json.data.id,
        key: answer.json.data.key,
        secret: answer.json.data.secret,
        keyPrefix: "",
        tenantId: tenant,
      };
      assert.equal((await signedCall(api, created)).status, 200);
      const bearer = await post("", { name: "bearer" });
      assert.equal(bearer.json.data.auth_scheme, "bearer");
      assert.equal(bearer.json.data.secret, undefined);
    },
  );

  await t.step(
    "the key object and the list show auth_scheme; the list filters by it",
    async () => {
      const one = await keysApi.call({
        path: `/${created.id}`,
        token: owner.token,
      });
      assert.equal(one.json.data.auth_scheme, "signed");
      assert.equal(one.json.data.secret, undefined);
      const list = await keysApi.call({
        path: "?auth_scheme=signed",
        token: owner.token,
      });
      assert.equal(list.status, 200);
      assert.deepEqual(list.json.data.map((k: { id: string }) => k.id), [
        created.id,
      ]);
      const bearers = await keysApi.call({
        path: "?auth_scheme=bearer",
        token: owner.token,
      });
      assert.equal(bearers.json.data.length, 1);
      const bad = await keysApi.call({
        path: "?auth_scheme=hmac",
        token: owner.token,
      });
      assert.equal(bad.status, 400);
    },
  );

  await t.step(
    "a rotation keeps the scheme with a new secret; after the grace period the old key is refused",
    async () => {
      const answer = await post(`/${created.id}/rotate`, {
        grace_period_seconds: 60,
      });
      assert.equal(answer.status, 201, JSON.stringify(answer.json));
      assert.equal(answer.json.data.auth_scheme, "signed");
      assert.match(answer.json.data.secret, /^[0-9a-f]{64}$/);
      assert.notEqual(answer.json.data.secret, created.secret);
      const next = {
        key: answer.json.data.key,
        secret: answer.json.data.secret,
      };
      assert.equal((await signedCall(api, next)).status, 200);
      // The new key string's SHA-256 is kept: a forged one of its prefix is refused before its signature.
      refused(await signedCall(api, { ...next, key: withWrongSecret(next.key) }), "Invalid or expired API key");
      assert.equal((await signedCall(api, created)).status, 200); // within the grace period
      await test.db.query(
        "update salesos.api_keys set expires_at = now() where id = $1",
        [created.id],
      );
      refused(await signedCall(api, created), "Invalid or expired API key");
      assert.equal((await signedCall(api, next)).status, 200);
    },
  );

  await t.step(
    "a deployment without SIGNING_KEK refuses to create signed keys, with a clear message",
    async () => {
      const without = apiKeysHarness(test.db, { signingKek: null });
      const answer = await without.call({
        method: "POST",
        token: await hs256({ ...JSON.parse(atob(owner.token.split(".")[1])) }),
        body: { name: "signed", auth_scheme: "signed" },
      });
      assert.equal(answer.status, 400);
      assert.equal(
        answer.json.error.message,
        "Signed keys are not enabled on this deployment (SIGNING_KEK is not set)",
      );
      const bearer = await without.call({
        method: "POST",
        token: owner.token,
        body: { name: "bearer" },
      });
      assert.equal(bearer.status, 201);
    },
  );

  await t.step("no log line holds a secret", () => {
    const text = JSON.stringify([...keysApi.logs, ...api.logs]);
    assert.ok(!text.includes(created.secret!));
  });
});

Deno.test("a forged key string with a signed key's prefix and a valid checksum holds none of its bulk slots", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const victim = await createKey(test.db, tenant, { auth_scheme: "signed", rate_limit_per_hour: 100_000 });
  const forged = withWrongSecret(victim.key);
  // Every body over 1000 bytes is bulk here, and the key has one bulk slot.
  const app = createIntegrationApp({
    db: test.db,
    keys: createKeyVerifier(test.db),
    config: { trustedProxyHops: 0, signingKek: testSigningKek, signingKekId: "test" },
    gate: new BulkGate({ maxBulkPerKey: 1, bulkThresholdBytes: 1000, pacedThresholdBytes: 1000 }),
    log: () => {},
  });
  const request = (authorization: string, body: BodyInit, length: number) =>
    new Request("http://localhost/default-integration", {
      method: "POST",
      headers: { authorization, "content-type": "application/json", "content-length": String(length) },
      body,
      // deno-lint-ignore no-explicit-any
      ...({ duplex: "half" } as any),
    });
  const bulkBody = () =>
    JSON.stringify({
      action: "sync_activities",
      activities: Array.from({ length: 20 }, (_, i) => ({
        activity_code: "001",
        external_id: `bulk-${++sent}-${i}`,
        collaborator_email: "nobody@example.com",
        occurred_at: "2026-03-17T09:15:00Z",
      })),
    });

  /** The attacker's request: the forged key, a signature it cannot make right, a body that never ends. */
  async function attack(key: string) {
    let pulls = 0;
    let stop = false;
    const endless = new ReadableStream<Uint8Array>({
      pull: async (c) => {
        pulls++;
        await new Promise((r) => setTimeout(r, 20));
        if (stop) c.close();
        else c.enqueue(new Uint8Array(1024).fill(32));
      },
    }, { highWaterMark: 0 });
    const answer = Promise.resolve(
      app.fetch(request(`P2S-SIGN-V1 ${key}:${now()}:${"0".repeat(64)}`, endless, 2 * 1024 * 1024)),
    );
    let settled = false;
    answer.finally(() => (settled = true)).catch(() => {});
    // Answered, or its body is being read (it holds a slot): either way the victim goes next.
    while (pulls === 0 && !settled) await new Promise((r) => setTimeout(r, 10));
    return { answer, pulls: () => pulls, stop: () => (stop = true) };
  }

  async function victimGetsThrough(key: { key: string; secret?: string }) {
    const body = bulkBody();
    const timestamp = String(now());
    const signature = nodeSignature({
      apiKey: key.key,
      secret: key.secret!,
      timestamp,
      method: "POST",
      path: publicPath,
      body,
    });
    const res = await app.fetch(request(`P2S-SIGN-V1 ${key.key}:${timestamp}:${signature}`, body, body.length));
    const json = await res.json();
    assert.equal(res.status, 200, JSON.stringify(json));
    assert.equal(json.data.total, 20);
  }

  await t.step(
    "refused with the contract's message before its body is read; the victim's bulk request gets through",
    async () => {
      const [row] = await test.db.query<{ stored: boolean }>(
        "select key_sha256 = sha256(convert_to($2, 'UTF8')) as stored from salesos.api_keys where id = $1",
        [victim.id, victim.key],
      );
      assert.equal(row.stored, true, "the SHA-256 of the key string is kept at creation");
      const attacker = await attack(forged);
      try {
        await victimGetsThrough(victim);
        const res = await attacker.answer;
        const json = await res.json();
        assert.equal(res.status, 401);
        assert.equal(json.error.code, "UNAUTHORIZED");
        assert.equal(json.error.message, "Invalid or expired API key");
        assert.equal(attacker.pulls(), 0, "the forged request's body was not read");
      } finally {
        attacker.stop();
      }
    },
  );

  await t.step("a signed key created before key_sha256 existed is proven by its bcrypt hash", async () => {
    await test.db.query("update salesos.api_keys set key_sha256 = null where id = $1", [victim.id]);
    const attacker = await attack(forged);
    try {
      await victimGetsThrough(victim);
      const res = await attacker.answer;
      assert.equal(res.status, 401);
      assert.equal((await res.json()).error.message, "Invalid or expired API key");
      assert.equal(attacker.pulls(), 0);
    } finally {
      attacker.stop();
    }
  });
});

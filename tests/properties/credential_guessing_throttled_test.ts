// Credential abuse. Guessing secrets for a real key id (its public
// key_prefix) is throttled per source address and key id: after 10 wrong secrets in 10 minutes no
// further bcrypt work is spent, and a wrong secret seen before is refused from memory; an unknown
// key id never reaches bcrypt; a source with 100 failures within a minute gets no database or bcrypt
// work at all for keys it has not proven; and the answer is the same bytes in every case (only request_id,
// timestamp and Date differ), so it never tells which happened. In process, where the verifier's
// bcrypt counter is read directly, and over HTTP against `deno task start` (its local /metrics).
import assert from "node:assert/strict";
import { checksum } from "../../supabase/functions/_shared/api_key.ts";
import { freshDatabase } from "../support/database.ts";
import { createTenant } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { createKey, http, postJson, propertyTest, sleep } from "../support/properties.ts";

const empty = { action: "sync_activities", activities: [] };
const maxFailures = 10;

const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
function randomChars(n: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => alphabet[b % 36]).join("");
}
/** A well-formed key (checksum right) with this public prefix and a random secret. */
function forged(keyPrefix: string): string {
  const body = keyPrefix + randomChars(18);
  return body + checksum(body);
}
const unknownId = (environment = "live") => forged(`sk_${environment}_${randomChars(8)}`);

/** An answer with what differs on every request blanked out: request id, timestamp, Date. */
function normalized(status: number, headers: Headers, text: string): string {
  const kept = [...headers].filter(([name]) => !["x-request-id", "date"].includes(name)).sort();
  const body = text
    .replace(/"request_id":"[0-9a-f-]{36}"/, '"request_id":"…"')
    .replace(/"timestamp":"[^"]+"/, '"timestamp":"…"');
  return JSON.stringify({ status, headers: kept, body });
}

propertyTest("9", "credential abuse", import.meta.url, async ({ step, figures }) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const key = await createKey(test.db, tenant);
  const other = await createKey(test.db, tenant);
  const attacker = "203.0.113.66";
  const bystander = "198.51.100.7";

  await step("1000 unknown key ids from many sources: all 401, not one bcrypt compare", async () => {
    const api = integrationHarness(test.db);
    const statuses = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const res = await api.post(unknownId(i % 2 ? "live" : "test"), empty, { ip: `10.0.${i % 250}.${i % 7}` });
      statuses.add(res.status);
    }
    assert.deepEqual([...statuses], [401]);
    assert.equal(api.keys.bcryptCompares, 0);
    figures.unknown_ids = { requests: 1000, bcrypt_compares: 0 };
  });

  await step("500 wrong secrets for a real key id from one source: bcrypt only for the first 10", async () => {
    const api = integrationHarness(test.db);
    for (let i = 0; i < 500; i++) {
      const res = await api.post(forged(key.keyPrefix), empty, { ip: attacker });
      assert.equal(res.status, 401);
    }
    assert.equal(api.keys.bcryptCompares, maxFailures);

    // Per source and key: another key id from the same source, and the same key id from another source, still get their compare.
    assert.equal((await api.post(forged(other.keyPrefix), empty, { ip: attacker })).status, 401);
    assert.equal(api.keys.bcryptCompares, maxFailures + 1);
    assert.equal((await api.post(forged(key.keyPrefix), empty, { ip: bystander })).status, 401);
    assert.equal(api.keys.bcryptCompares, maxFailures + 2);

    // The real key from another source is admitted (one compare); once verified it is cached there.
    assert.equal((await api.post(key.key, empty, { ip: bystander })).status, 200);
    assert.equal(
      (await api.post(key.key, empty, { ip: attacker })).status,
      200,
      "a verified key is not locked out by the throttle",
    );
    assert.equal(api.keys.bcryptCompares, maxFailures + 3);
    figures.wrong_secrets = {
      requests: 500,
      bcrypt_compares: maxFailures,
      throttled_without_bcrypt: 500 - maxFailures,
      other_key_same_source_compares: 1,
      same_key_other_source_compares: 1,
    };
  });

  await step(
    "a source with 100 failures (unknown ids) gets no bcrypt work even for a real key id; a proven key still works",
    async () => {
      const api = integrationHarness(test.db);
      const source = "203.0.113.99";
      assert.equal((await api.post(key.key, empty, { ip: source })).status, 200); // proven before the flood
      const compares = api.keys.bcryptCompares;
      for (let i = 0; i < 100; i++) assert.equal((await api.post(unknownId(), empty, { ip: source })).status, 401);
      for (let i = 0; i < 20; i++) {
        assert.equal((await api.post(forged(other.keyPrefix), empty, { ip: source })).status, 401);
      }
      assert.equal(api.keys.bcryptCompares, compares, "a throttled source got bcrypt work");
      assert.equal((await api.post(key.key, empty, { ip: source })).status, 200, "a key proven before stays usable");
      assert.equal((await api.post(forged(other.keyPrefix), empty, { ip: "203.0.113.100" })).status, 401);
      assert.equal(api.keys.bcryptCompares, compares + 1, "other sources are not affected");
      figures.source_throttle = { unknown_ids: 100, then_wrong_secrets: 20, bcrypt_compares: 0 };
    },
  );

  await step("a wrong secret seen before is refused from memory, from any source", async () => {
    const api = integrationHarness(test.db);
    const guess = forged(key.keyPrefix);
    assert.equal((await api.post(guess, empty, { ip: "192.0.2.1" })).status, 401);
    for (let i = 0; i < 50; i++) assert.equal((await api.post(guess, empty, { ip: `192.0.2.${i + 2}` })).status, 401);
    assert.equal(api.keys.bcryptCompares, 1);
  });

  await step("the throttle holds across the window and frees the source afterwards (failureWindowMs)", async () => {
    const { createKeyVerifier } = await import("../../supabase/functions/default-integration/key_verifier.ts");
    const verifier = createKeyVerifier(test.db, { failureWindowMs: 300 });
    for (let i = 0; i < 15; i++) {
      assert.equal(await verifier.verify(forged(key.keyPrefix), key.keyPrefix, attacker), null);
    }
    assert.equal(verifier.bcryptCompares, maxFailures);
    await sleep(350);
    assert.equal(await verifier.verify(key.key, key.keyPrefix, attacker), key.id);
    assert.equal(verifier.bcryptCompares, maxFailures + 1);
  });

  await step(
    "a source over its failure budget is held back for the source window only (sourceFailureWindowMs)",
    async () => {
      const { createKeyVerifier } = await import("../../supabase/functions/default-integration/key_verifier.ts");
      const verifier = createKeyVerifier(test.db, { sourceFailureWindowMs: 300 });
      const source = "203.0.113.250";
      for (let i = 0; i < 100; i++) {
        const unknown = `sk_live_${crypto.randomUUID().replaceAll("-", "").slice(0, 26)}`;
        await verifier.verify(unknown + checksum(unknown), unknown.slice(0, 16), source);
      }
      assert.equal(await verifier.verify(key.key, key.keyPrefix, source), null, "a key not yet proven is held back");
      await sleep(350);
      assert.equal(await verifier.verify(key.key, key.keyPrefix, source), key.id, "and works once the window is over");
    },
  );

  await step(
    "every refusal is the same answer: unknown id, wrong secret, throttled (key, source), remembered, revoked, expired, bad checksum",
    async () => {
      const revoked = await createKey(test.db, tenant);
      await test.db.query("update salesos.api_keys set revoked_at = now() where id = $1", [revoked.id]);
      const expired = await createKey(test.db, tenant);
      await test.db.query("update salesos.api_keys set expires_at = now() where id = $1", [expired.id]);
      const api = integrationHarness(test.db);
      const cases: Record<string, () => Promise<{ status: number; headers: Headers; text: string }>> = {};
      const raw = async (token: string, ip: string) => {
        const res = await api.call({
          key: token,
          body: JSON.stringify(empty),
          headers: { "content-type": "application/json" },
          ip,
        });
        return { status: res.status, headers: res.headers, text: JSON.stringify(res.json) };
      };
      const remembered = forged(key.keyPrefix);
      cases["unknown key id"] = () => raw(unknownId(), "192.0.2.200");
      cases["wrong secret (bcrypt)"] = () => raw(forged(key.keyPrefix), "192.0.2.201");
      cases["wrong secret (throttled)"] = async () => {
        for (let i = 0; i < maxFailures; i++) await raw(forged(key.keyPrefix), "192.0.2.202");
        return raw(forged(key.keyPrefix), "192.0.2.202");
      };
      cases["wrong secret (remembered)"] = async () => {
        await raw(remembered, "192.0.2.203");
        return raw(remembered, "192.0.2.204");
      };
      cases["source throttled (100 failures)"] = async () => {
        for (let i = 0; i < 100; i++) await raw(unknownId(), "192.0.2.208");
        return raw(forged(other.keyPrefix), "192.0.2.208");
      };
      cases["revoked key"] = () => raw(revoked.key, "192.0.2.205");
      cases["expired key"] = () => raw(expired.key, "192.0.2.206");
      cases["bad checksum"] = () =>
        raw(key.key.slice(0, -6) + (key.key.endsWith("000000") ? "000001" : "000000"), "192.0.2.207");
      const answers: Record<string, string> = {};
      for (const [name, run] of Object.entries(cases)) {
        const a = await run();
        answers[name] = normalized(a.status, a.headers, a.text);
      }
      const distinct = new Set(Object.values(answers));
      assert.equal(distinct.size, 1, JSON.stringify(answers, null, 2));
      assert.match([...distinct][0], /"status":401/);
      assert.match([...distinct][0], /Invalid or expired API key/);
      figures.identical_refusals_in_process = Object.keys(cases);
    },
  );

  await step("over HTTP against deno task start: the same bytes, and the process's bcrypt counter agrees", async () => {
    await using server = await startServer(serverEnv(test.url));
    const compares = async () => {
      const res = await http(`${server.baseUrl}/metrics`);
      assert.equal(res.status, 200, "deno task start serves /metrics locally");
      return res.json.bcrypt_compares as number;
    };
    const send = async (token: string) => {
      const res = await postJson(server.baseUrl, "default-integration", token, empty);
      return normalized(res.status, res.headers, res.text);
    };
    const answers = new Set<string>();
    for (let i = 0; i < 50; i++) answers.add(await send(unknownId()));
    assert.equal(await compares(), 0, "unknown ids reached bcrypt");
    for (let i = 0; i < 50; i++) answers.add(await send(forged(key.keyPrefix)));
    assert.equal(await compares(), maxFailures, "wrong secrets from one source past the throttle reached bcrypt");
    assert.equal(answers.size, 1, [...answers].join("\n"));
    figures.over_http = {
      unknown_ids: 50,
      wrong_secrets: 50,
      bcrypt_compares: maxFailures,
      distinct_answers: answers.size,
    };
  });
});

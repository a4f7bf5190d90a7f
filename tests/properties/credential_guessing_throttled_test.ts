// Credential abuse. bcrypt work is bounded per instance and shared fairly, and a correct key is never denied: an unknown
// key id never reaches bcrypt; a wrong secret is compared once and then refused from memory by its
// hash, from any source; other compares wait in a fair queue (round-robin over key ids, then over
// source prefixes: an IPv4 address, an IPv6 /64) drained at a global budget (compares at cost 10 per
// second) by a worker pool off the request thread. So floods of wrong secrets or made-up keys, from
// one address or from a whole /64, can delay a correct key that the instance has not proven yet but
// never turn it into a 401, and a proven key keeps its throughput. The answer to every refusal is
// the same bytes (only request_id, timestamp and Date differ). In process, where the verifier's
// bcrypt counter is read directly, and over HTTP against `deno task start` (its local /metrics).
import assert from "node:assert/strict";
import { checksum } from "../../supabase/functions/_shared/api_key.ts";
import { createApiKey } from "../../supabase/functions/api-keys/key_settings.ts";
import { verifierDefaults } from "../../supabase/functions/default-integration/key_verifier.ts";
import { freshDatabase } from "../support/database.ts";
import { createTenant } from "../support/fixtures.ts";
import { integrationHarness } from "../support/integration.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { createKey, http, postJson, propertyTest, rememberSecrets, sleep } from "../support/properties.ts";
import type { Database } from "../../supabase/functions/_shared/database.ts";

const empty = { action: "sync_activities", activities: [] };

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

/** A key hashed at bcrypt cost 10 (the production default), so its compares cost what they do there. */
async function productionKey(db: Database, tenantId: string) {
  const created = await createApiKey<{ id: string; key_prefix: string }>(
    db,
    { tenantId, actorId: null, actorType: "cli", ip: null },
    { name: "cost 10", environment: "live", scopes: [], rate_limit_per_hour: 100_000 },
    { bcryptCost: 10, maxActiveKeys: 1000 },
  );
  rememberSecrets(created!.key);
  return { id: created!.id, key: created!.key, keyPrefix: created!.key_prefix };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

propertyTest("9", "credential abuse", import.meta.url, async ({ step, figures }) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const key = await createKey(test.db, tenant);
  const other = await createKey(test.db, tenant);
  const { comparesPerSecond, compareBurst } = verifierDefaults;

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

  await step("wrong secrets are each compared once, then refused from memory from any source", async () => {
    const api = integrationHarness(test.db);
    const guesses = Array.from({ length: 20 }, () => forged(key.keyPrefix));
    for (const guess of guesses) assert.equal((await api.post(guess, empty, { ip: "203.0.113.66" })).status, 401);
    assert.equal(api.keys.bcryptCompares, 20);
    for (let i = 0; i < 200; i++) {
      const res = await api.post(guesses[i % guesses.length], empty, { ip: `192.0.2.${i % 250}` });
      assert.equal(res.status, 401);
    }
    assert.equal(api.keys.bcryptCompares, 20, "a remembered wrong secret cost a compare");
    // No lockout: the real key, not yet proven, from the guessing source itself.
    assert.equal((await api.post(key.key, empty, { ip: "203.0.113.66" })).status, 200);
    figures.remembered_wrong_secrets = { distinct: 20, replays: 200, bcrypt_compares: 20 };
  });

  await step(
    "101 made-up keys and 11 wrong secrets from one source never lock out a correct key",
    async () => {
      // One source for everyone: TRUSTED_PROXY_HOPS=0 behind a gateway.
      const gateway = "198.51.100.1";
      const api = integrationHarness(test.db);
      const victimTenant = await createTenant(test.db);
      const victim = await productionKey(test.db, victimTenant);
      const bystander = await productionKey(test.db, victimTenant);
      for (let i = 0; i < 101; i++) assert.equal((await api.post(unknownId(), empty, { ip: gateway })).status, 401);
      assert.equal(api.keys.bcryptCompares, 0);
      let started = performance.now();
      assert.equal((await api.post(bystander.key, empty, { ip: gateway })).status, 200, "locked out by made-up keys");
      const afterUnknownMs = performance.now() - started;
      for (let i = 0; i < 11; i++) {
        assert.equal((await api.post(forged(victim.keyPrefix), empty, { ip: gateway })).status, 401);
      }
      started = performance.now();
      assert.equal((await api.post(victim.key, empty, { ip: gateway })).status, 200, "locked out by wrong secrets");
      const afterWrongMs = performance.now() - started;
      // Generous bounds: a loaded 2-core machine; the figures record what was measured.
      assert.ok(afterUnknownMs < 5_000 && afterWrongMs < 5_000, `${afterUnknownMs} ${afterWrongMs}`);
      figures.lockout_floods = {
        made_up_keys: 101,
        wrong_secrets_for_victim_id: 11,
        correct_key_after_made_up_keys_ms: Math.round(afterUnknownMs),
        correct_key_after_wrong_secrets_ms: Math.round(afterWrongMs),
      };
    },
  );

  await step(
    "wrong secrets from a new address of one /64 every 5 requests: bcrypt stays within its budget, " +
      "a correct unproven key is admitted, a proven key keeps its throughput",
    async () => {
      const api = integrationHarness(test.db, { trustedProxyHops: 1 });
      const floodTenant = await createTenant(test.db);
      const target = await productionKey(test.db, floodTenant);
      const newcomer = await productionKey(test.db, floodTenant);
      const proven = await createKey(test.db, floodTenant, { rate_limit_per_hour: 100_000 });
      const peer = "10.9.9.9"; // the trusted proxy
      const send = (token: string, client: string) =>
        api.post(token, empty, { ip: peer, headers: { "x-forwarded-for": client } });
      assert.equal((await send(proven.key, "198.51.100.50")).status, 200);

      /** Requests of the proven key answered in `ms`, 4 at a time, and their median latency. */
      const throughput = async (ms: number) => {
        const latencies: number[] = [];
        const until = performance.now() + ms;
        await Promise.all(Array.from({ length: 4 }, async () => {
          while (performance.now() < until) {
            const t0 = performance.now();
            assert.equal((await send(proven.key, "198.51.100.50")).status, 200);
            latencies.push(performance.now() - t0);
          }
        }));
        return { perSecond: latencies.length / (ms / 1000), medianMs: median(latencies) };
      };
      const windowMs = 4_000;
      const quiet = await throughput(windowMs);

      // The flood: ~14 wrong secrets a second, a new address of 2001:db8:66:1::/64 every 5 requests.
      let flooding = true;
      const floodStatuses: Record<number, number> = {};
      let sent = 0;
      const flood = (async () => {
        const inFlight: Promise<void>[] = [];
        while (flooding) {
          const client = `2001:db8:66:1:${(Math.floor(sent / 5) % 65536).toString(16)}::${sent % 5 + 1}`;
          sent++;
          inFlight.push(
            send(forged(target.keyPrefix), client).then((res) => {
              floodStatuses[res.status] = (floodStatuses[res.status] ?? 0) + 1;
            }),
          );
          await sleep(70);
        }
        await Promise.all(inFlight);
      })();
      await sleep(1_000); // the burst is spent, the queue is full
      const comparesBefore = api.keys.bcryptCompares;
      const floodStart = performance.now();
      const flooded = await throughput(windowMs);

      // A correct key not yet proven on this instance: another key of the tenant, and the flood's own target.
      let t0 = performance.now();
      assert.equal((await send(newcomer.key, "198.51.100.77")).status, 200);
      const newcomerMs = performance.now() - t0;
      t0 = performance.now();
      assert.equal((await send(target.key, "198.51.100.78")).status, 200);
      const targetMs = performance.now() - t0;
      const floodSeconds = (performance.now() - floodStart) / 1000;
      const compares = api.keys.bcryptCompares - comparesBefore;
      flooding = false;
      await flood;

      const ratio = flooded.perSecond / quiet.perSecond;
      figures.flood_one_slash_64 = {
        flood_requests: sent,
        flood_answers: floodStatuses,
        bcrypt_compares_during_measure: compares,
        measure_seconds: Number(floodSeconds.toFixed(1)),
        budget_per_second: comparesPerSecond,
        proven_key_per_second_quiet: Math.round(quiet.perSecond),
        proven_key_per_second_flood: Math.round(flooded.perSecond),
        proven_key_ratio: Number(ratio.toFixed(2)),
        proven_key_median_ms_quiet: Number(quiet.medianMs.toFixed(1)),
        proven_key_median_ms_flood: Number(flooded.medianMs.toFixed(1)),
        unproven_correct_key_admitted_ms: Math.round(newcomerMs),
        unproven_target_key_admitted_ms: Math.round(targetMs),
      };
      // Bounded by the budget (plus what was already running), whatever the number of addresses.
      assert.ok(compares <= comparesPerSecond * floodSeconds + compareBurst + 2, `${compares} compares`);
      assert.ok(Object.keys(floodStatuses).every((s) => s === "401" || s === "503"), JSON.stringify(floodStatuses));
      // Target 0.8 and 2 s (the figures above); asserted with margins a loaded 2-core machine cannot miss.
      assert.ok(ratio >= 0.5, `proven key throughput fell to ${ratio.toFixed(2)} of quiet`);
      assert.ok(newcomerMs < 5_000 && targetMs < 5_000, `admitted after ${newcomerMs} / ${targetMs} ms`);
    },
  );

  await step(
    "every refusal is the same answer: unknown id, wrong secret, remembered, revoked, expired, bad checksum",
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
      cases["wrong secret after many from the source"] = async () => {
        for (let i = 0; i < 20; i++) await raw(forged(key.keyPrefix), "192.0.2.202");
        return raw(forged(other.keyPrefix), "192.0.2.202");
      };
      cases["wrong secret (remembered)"] = async () => {
        await raw(remembered, "192.0.2.203");
        return raw(remembered, "192.0.2.204");
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
      return Number(/^salesos_bcrypt_compares_total (\d+)$/m.exec(res.text)?.[1]);
    };
    const send = async (token: string) => {
      const res = await postJson(server.baseUrl, "default-integration", token, empty);
      return normalized(res.status, res.headers, res.text);
    };
    const answers = new Set<string>();
    for (let i = 0; i < 50; i++) answers.add(await send(unknownId()));
    assert.equal(await compares(), 0, "unknown ids reached bcrypt");
    const guess = forged(key.keyPrefix);
    for (let i = 0; i < 25; i++) answers.add(await send(forged(key.keyPrefix)));
    for (let i = 0; i < 25; i++) answers.add(await send(guess));
    assert.equal(await compares(), 26, "each distinct wrong secret is compared once");
    assert.equal(answers.size, 1, [...answers].join("\n"));
    figures.over_http = {
      unknown_ids: 50,
      wrong_secrets: 50,
      distinct_wrong_secrets: 26,
      bcrypt_compares: 26,
      distinct_answers: answers.size,
    };
  });
});

// A full verifier queue makes room by evicting a job of its most over-represented group, so a flood
// from a few sources delays a correct key, not yet proven, but never answers it VerifierBusy.
// In process, with small caps and a slow budget so that the queue stays full while we look.
import assert from "node:assert/strict";
import { checksum } from "../../supabase/functions/_shared/api_key.ts";
import type { Database } from "../../supabase/functions/_shared/database.ts";
import { createApiKey } from "../../supabase/functions/api-keys/key_settings.ts";
import {
  createKeyVerifier,
  type KeyVerifier,
  VerifierBusy,
} from "../../supabase/functions/default-integration/key_verifier.ts";
import { freshDatabase } from "../support/database.ts";
import { createTenant } from "../support/fixtures.ts";

const caps = { maxQueuedPerSource: 4, maxQueuedPerKey: 8, maxQueued: 16 };
const settings = { ...caps, comparesPerSecond: 8, compareBurst: 1, maxWaitMs: 30_000 };

/** A key hashed at bcrypt cost 10, so that each compare costs one unit of the budget. */
async function costTenKey(db: Database, tenantId: string) {
  const created = await createApiKey<{ id: string; key_prefix: string }>(
    db,
    { tenantId, actorId: null, actorType: "cli", ip: null },
    { name: "cost 10", environment: "live", scopes: [], rate_limit_per_hour: 1000 },
    { bcryptCost: 10, maxActiveKeys: 1000 },
  );
  return { id: created!.id, key: created!.key, keyPrefix: created!.key_prefix };
}

/** A well-formed key with this public prefix and a random (wrong) secret. */
function wrongSecret(keyPrefix: string): string {
  const body = keyPrefix + crypto.randomUUID().replaceAll("-", "").slice(0, 18);
  return body + checksum(body);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Floods `verifier` with wrong secrets, one per flooder every 10 ms, until the queue refuses some
 * (it is full); then, the flood going on, presents `correct` from `source`. Returns its answer.
 */
async function verifyDuringFlood(
  verifier: KeyVerifier,
  flooders: { keyPrefix: string; source: string }[],
  correct: { key: string; keyPrefix: string },
  source: string,
) {
  let busy = 0;
  const flood: Promise<void>[] = [];
  const send = () => {
    for (const { keyPrefix, source } of flooders) {
      flood.push(
        verifier.verify(wrongSecret(keyPrefix), keyPrefix, source).then(
          (result) => assert.equal(result, null),
          (error) => {
            assert.ok(error instanceof VerifierBusy, String(error));
            busy++;
          },
        ),
      );
    }
  };
  const deadline = performance.now() + 5_000;
  while (busy === 0) {
    assert.ok(performance.now() < deadline, "the flood did not fill the queue");
    send();
    await sleep(10);
  }
  let flooding = true;
  const pressure = (async () => {
    while (flooding) {
      send();
      await sleep(10);
    }
  })();
  try {
    return await verifier.verify(correct.key, correct.keyPrefix, source);
  } finally {
    flooding = false;
    await pressure;
    await Promise.all(flood);
  }
}

Deno.test("a full verifier queue never denies a correct key from a less represented source", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);

  await t.step("wrong secrets for the victim's key id from 5 sources, beyond the per-key cap", async () => {
    const victim = await costTenKey(test.db, tenant);
    const verifier = createKeyVerifier(test.db, settings);
    const flooders = Array.from(
      { length: 5 },
      (_, i) => ({ keyPrefix: victim.keyPrefix, source: `203.0.113.${i + 1}` }),
    );
    const verified = await verifyDuringFlood(verifier, flooders, victim, "198.51.100.6");
    assert.deepEqual(verified, { id: victim.id, signed: false });
  });

  await t.step("the global cap filled by other key ids from one source", async () => {
    const others = await Promise.all(Array.from({ length: 5 }, () => costTenKey(test.db, tenant)));
    const victim = await costTenKey(test.db, tenant);
    const verifier = createKeyVerifier(test.db, settings);
    const flooders = others.map((other) => ({ keyPrefix: other.keyPrefix, source: "192.0.2.1" }));
    const verified = await verifyDuringFlood(verifier, flooders, victim, "198.51.100.7");
    assert.deepEqual(verified, { id: victim.id, signed: false });
  });
});

// Fairness and memory under bulk load, against `deno task start`. One tenant flooding the instance
// with maximum-size batches (8 at once, each ~4.6 MB, retrying after retry_after on a 429): the
// other tenant's small requests all succeed and keep at least 0.5 of their throughput alone (0.72–0.90
// measured; 0.19–0.27 before large bodies were paced one at a time, database calls included); 300 concurrent
// uploads of just under 5 MiB from 60 keys keep the process's RSS within 400 MB, and it comes back
// down to ≤ 150 MB within 20 s afterwards.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createTenant } from "../support/fixtures.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { createKey, postJson, propertyTest, sleep, tally } from "../support/properties.ts";

const encoder = new TextEncoder();

/** A valid sync_activities batch of 1000 items, `bytes` long or a little less (unknown emails: skipped). */
function bulkBatch(tag: string, bytes: number): Uint8Array {
  const pad = "x".repeat(Math.floor(bytes / 1000) - 170);
  const activities = Array.from({ length: 1000 }, (_, i) => ({
    activity_code: "001",
    external_id: `${tag}-${i}`,
    collaborator_email: `nobody${i}@example.com`,
    data: { pad, i },
  }));
  const body = encoder.encode(JSON.stringify({ action: "sync_activities", activities }));
  assert.ok(body.byteLength <= bytes && body.byteLength > bytes - 200_000, String(body.byteLength));
  return body;
}

function rssMb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024);
}

/** One POST over its own TCP connection (no client-side copy of the body): the status, or an error. */
async function rawPost(baseUrl: string, key: string, body: Uint8Array): Promise<number | string> {
  const { hostname, port } = new URL(baseUrl);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    const head = `POST /functions/v1/default-integration HTTP/1.1\r\nHost: ${hostname}\r\n` +
      `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.byteLength}\r\n` +
      `Connection: close\r\n\r\n`;
    const writing = (async () => {
      await conn.write(encoder.encode(head));
      let offset = 0;
      while (offset < body.byteLength) offset += await conn.write(body.subarray(offset, offset + 256 * 1024));
    })().catch(() => {}); // the server may answer (429, 503) without reading it all
    const buffer = new Uint8Array(4096);
    const n = await conn.read(buffer);
    await writing;
    if (n === null) return "closed";
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(new TextDecoder().decode(buffer.subarray(0, n)))?.[1] ?? 0);
  } catch (error) {
    return (error as Error).name;
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

propertyTest("10", "fairness and memory under bulk load", import.meta.url, async ({ step, figures }) => {
  await using test = await freshDatabase();
  await using server = await startServer(serverEnv(test.url));
  assert.ok(server.pid, "the server reports its pid");
  const flooder = await createTenant(test.db, "flooder");
  const other = await createTenant(test.db, "other");
  const floodKey = await createKey(test.db, flooder, { rate_limit_per_hour: 100_000 });
  const smallKey = await createKey(test.db, other, { rate_limit_per_hour: 100_000 });
  const small = { action: "sync_activities", activities: [] };
  const rssIdle = rssMb(server.pid!);

  /** The other tenant's small requests per second over `seconds`, 16 at a time. */
  async function smallRps(seconds: number) {
    const until = performance.now() + seconds * 1000;
    const statuses: number[] = [];
    const latencies: number[] = [];
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (performance.now() < until) {
        const started = performance.now();
        const res = await postJson(server.baseUrl, "default-integration", smallKey.key, small);
        latencies.push(performance.now() - started);
        statuses.push(res.status);
      }
    }));
    latencies.sort((a, b) => a - b);
    return {
      rps: Math.round(statuses.filter((s) => s === 200).length / seconds),
      statuses: tally(statuses),
      p99_ms: Math.round(latencies[Math.floor(latencies.length * 0.99)] ?? 0),
    };
  }

  await step(
    "a tenant's maximum-size flood leaves another tenant's small requests ≥ 0.5 of their throughput",
    async () => {
      await smallRps(1); // warm-up
      const alone = await smallRps(4);
      const batch = bulkBatch("flood", 4_600_000);
      let stop = false;
      const flood: (number | string)[] = [];
      const flooding = Promise.all(Array.from({ length: 8 }, async () => {
        while (!stop) {
          const res = await fetch(`${server.baseUrl}/functions/v1/default-integration`, {
            method: "POST",
            headers: { authorization: `Bearer ${floodKey.key}`, "content-type": "application/json" },
            body: batch as BodyInit,
          }).catch((error) => error as Error);
          if (res instanceof Error) {
            flood.push(res.name);
            await sleep(100);
            continue;
          }
          flood.push(res.status);
          await res.body?.cancel();
          if (res.status === 429 || res.status === 503) await sleep(Number(res.headers.get("retry-after")) * 1000);
        }
      }));
      await sleep(1000); // the flood is under way
      const during = await smallRps(6);
      stop = true;
      await flooding;
      const fraction = Math.round((during.rps / alone.rps) * 100) / 100;
      figures.flood = {
        small_rps_alone: alone.rps,
        small_p99_ms_alone: alone.p99_ms,
        small_rps_during_flood: during.rps,
        small_p99_ms_during_flood: during.p99_ms,
        fraction_kept: fraction,
        small_statuses_during_flood: during.statuses,
        flood_batch_bytes: batch.byteLength,
        flood_statuses: tally(flood.map(String)),
      };
      assert.deepEqual(Object.keys(during.statuses), ["200"], "small requests all succeed");
      assert.ok(flood.filter((s) => s === 200).length > 0, "the flood's batches are served too");
      assert.ok(fraction >= 0.5, `small requests kept ${fraction} of their throughput (≥ 0.5)`);
    },
  );

  await step("300 concurrent uploads of just under 5 MiB: RSS ≤ 400 MB, and back down after", async () => {
    const tenants = await Promise.all(Array.from({ length: 30 }, (_, i) => createTenant(test.db, `mem-${i}`)));
    const keys: string[] = [];
    for (const tenant of tenants) {
      for (let k = 0; k < 2; k++) keys.push((await createKey(test.db, tenant, { rate_limit_per_hour: 100_000 })).key);
    }
    const body = bulkBatch("mem", 5 * 1024 * 1024 - 1024);
    let peak = rssMb(server.pid!);
    let polling = true;
    const poller = (async () => {
      while (polling) {
        peak = Math.max(peak, rssMb(server.pid!));
        await sleep(50);
      }
    })();
    const started = performance.now();
    const statuses = await Promise.all(
      Array.from({ length: 300 }, (_, i) => rawPost(server.baseUrl, keys[i % keys.length], body)),
    );
    const wallMs = Math.round(performance.now() - started);
    polling = false;
    await poller;
    const afterDeadline = performance.now() + 20_000;
    let after = rssMb(server.pid!);
    while (after > 150 && performance.now() < afterDeadline) {
      await sleep(500);
      after = rssMb(server.pid!);
    }
    figures.memory = {
      uploads: 300,
      upload_bytes: body.byteLength,
      keys: keys.length,
      tenants: tenants.length,
      statuses: tally(statuses.map(String)),
      wall_ms: wallMs,
      rss_idle_mb: rssIdle,
      rss_peak_mb: peak,
      rss_after_mb: after,
      after_wait_ms: Math.round(performance.now() - (afterDeadline - 20_000)),
    };
    const unexpected = statuses.filter((s) => ![200, 429, 503].includes(s as number));
    assert.deepEqual(unexpected, [], "every upload is answered 200, 429 (concurrency) or 503 (budget full)");
    assert.ok(statuses.filter((s) => s === 200).length >= 10, "uploads are served");
    assert.ok(peak <= 400, `peak RSS ${peak} MB (≤ 400)`);
    // The memory comes back (99–121 MB here, first seen 8.5–9.5 s after the uploads).
    assert.ok(after <= 150, `RSS after ${after} MB (≤ 150)`);
  });
}, { sanitizeResources: false, sanitizeOps: false });

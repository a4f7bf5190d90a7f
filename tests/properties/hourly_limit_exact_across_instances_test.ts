// The hourly limit is exact across instances. Two real server processes on
// one database, 64 concurrent clients on one key with a limit of 100: exactly 100 admitted, every
// other request 429 with the right retry_after; and the same again once the window has ended.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createTenant } from "../support/fixtures.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { assertEnvelope, createKey, type HttpAnswer, postJson, propertyTest, tally } from "../support/properties.ts";

const empty = { action: "sync_activities", activities: [] };
const clients = 64;
const requestsPerClient = 4;
const limit = 100;

interface Timed extends HttpAnswer {
  sentAt: number;
  receivedAt: number;
  server: number;
}

propertyTest("1", "exact limits across instances", import.meta.url, async ({ step, figures }) => {
  await using test = await freshDatabase();
  const env = serverEnv(test.url);
  await using a = await startServer(env);
  await using b = await startServer(env);
  const servers = [a, b];
  const tenant = await createTenant(test.db);
  const key = await createKey(test.db, tenant, { rate_limit_per_hour: limit });

  /** 64 clients at once, each sending its requests one after another, alternating the two processes. */
  async function burst(): Promise<Timed[]> {
    const perClient = await Promise.all(Array.from({ length: clients }, async (_, client) => {
      const answers: Timed[] = [];
      for (let i = 0; i < requestsPerClient; i++) {
        const server = (client + i) % 2;
        const sentAt = Date.now();
        const answer = await postJson(servers[server].baseUrl, "default-integration", key.key, empty);
        answers.push({ ...answer, sentAt, receivedAt: Date.now(), server });
      }
      return answers;
    }));
    return perClient.flat();
  }

  async function windowStart(): Promise<number> {
    const [row] = await test.db.query<{ started: Date }>(
      "select window_started_at as started from salesos.api_keys where id = $1",
      [key.id],
    );
    return new Date(row.started).getTime();
  }

  function checkBurst(answers: Timed[], started: number, round: string) {
    const statuses = tally(answers.map((x) => x.status));
    assert.deepEqual(statuses, { 200: limit, 429: clients * requestsPerClient - limit }, round);
    for (const x of answers) assertEnvelope(x, round);

    const admitted = answers.filter((x) => x.status === 200);
    const remaining = admitted.map((x) => Number(x.headers.get("x-ratelimit-remaining"))).sort((p, q) => p - q);
    assert.deepEqual(remaining, Array.from({ length: limit }, (_, i) => i), "each admitted request saw its own count");
    for (const server of [0, 1]) {
      assert.ok(admitted.some((x) => x.server === server), `process ${server} admitted none: not a cross-process test`);
    }

    // retry_after = whole seconds from the moment of the answer until the window ends.
    const windowEnd = started + 3600_000;
    let worst = 0;
    for (const x of answers.filter((x) => x.status === 429)) {
      const retryAfter = x.json.error.retry_after;
      assert.equal(x.json.error.message, "Rate limit exceeded");
      assert.equal(x.headers.get("retry-after"), String(retryAfter));
      assert.equal(x.headers.get("x-ratelimit-remaining"), "0");
      assert.equal(x.headers.get("x-ratelimit-limit"), String(limit));
      assert.equal(x.headers.get("x-ratelimit-reset"), String(retryAfter));
      const earliest = Math.ceil((windowEnd - x.receivedAt) / 1000);
      const latest = Math.ceil((windowEnd - x.sentAt) / 1000);
      assert.ok(
        retryAfter >= earliest - 1 && retryAfter <= latest + 1,
        `retry_after ${retryAfter} not in ${earliest}..${latest}`,
      );
      worst = Math.max(worst, Math.abs(retryAfter - (windowEnd - x.receivedAt) / 1000));
    }
    return { statuses, worstRetryAfterErrorS: Math.round(worst * 1000) / 1000 };
  }

  const rounds: Record<string, unknown>[] = [];

  await step("64 concurrent clients on two processes, limit 100: exactly 100 admitted, the rest 429", async () => {
    const started = performance.now();
    const answers = await burst();
    const { statuses, worstRetryAfterErrorS } = checkBurst(answers, await windowStart(), "first window");
    rounds.push({
      round: "first window",
      requests: answers.length,
      statuses,
      admitted_per_process: [0, 1].map((s) => answers.filter((x) => x.status === 200 && x.server === s).length),
      retry_after_max_error_s: worstRetryAfterErrorS,
      wall_ms: Math.round(performance.now() - started),
    });
  });

  await step(
    "the database counted exactly what was admitted, and counted every refusal without logging it",
    async () => {
      const [row] = await test.db.query<
        { window: number; lifetime: string; refused: string; logged: string; rows: string }
      >(
        `select (select window_request_count from salesos.api_keys where id = $1) as window,
              (select request_count from salesos.api_keys where id = $1) as lifetime,
              (select coalesce(sum(requests), 0) from salesos.request_counts where key_id = $1 and status = 429) as refused,
              (select count(*) from salesos.request_log where key_id = $1 and status = 429) as logged,
              (select count(*) from salesos.request_counts where key_id = $1 and status = 429) as rows`,
        [key.id],
      );
      assert.deepEqual([row.window, Number(row.lifetime), Number(row.refused), Number(row.logged)], [
        limit,
        limit,
        clients * requestsPerClient - limit,
        0,
      ]);
      // One counter row per hour and shard (at most 8), however many refusals.
      assert.ok(Number(row.rows) <= 16, `${row.rows} counter rows`);
    },
  );

  await step("after the window ends, the next burst is again admitted exactly 100 times", async () => {
    await test.db.query(
      "update salesos.api_keys set window_started_at = now() - interval '1 hour' where id = $1",
      [key.id],
    );
    const started = performance.now();
    const answers = await burst();
    const { statuses, worstRetryAfterErrorS } = checkBurst(answers, await windowStart(), "second window");
    rounds.push({
      round: "second window",
      requests: answers.length,
      statuses,
      retry_after_max_error_s: worstRetryAfterErrorS,
      wall_ms: Math.round(performance.now() - started),
    });
  });

  Object.assign(figures, {
    server_processes: servers.length,
    concurrent_clients: clients,
    limit_per_hour: limit,
    rounds,
  });
});

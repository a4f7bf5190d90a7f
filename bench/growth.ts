// `deno task bench --growth`: the growth curve. The same small and bulk loads, each paired with its
// pgbench baseline, on one database preloaded (set-based SQL, generate_series) to more and more rows:
// request_log 0 → 100 k → 1 M → 10 M rows, activities 0 → 1 M → 5 M, 100 k collaborators in the bench
// tenant; at each step also usage (90 days of hourly buckets) and a page of a key's request log. A
// fifth of the log is one key's, deleted through the API at the end (2 M rows at 10 M).
import { readConfig } from "../supabase/functions/_shared/config.ts";
import type { Database } from "../supabase/functions/_shared/database.ts";
import { connectPostgres } from "../supabase/functions/_shared/postgres.ts";
import { createKey } from "../tests/support/fixtures.ts";
import {
  bulkPairs,
  checkpoint,
  config,
  createDatabase,
  median,
  pairedRatios,
  psql,
  round,
  run,
  smallLoad,
  smallPairs,
  startService,
  wrk,
} from "./harness.ts";
import { markdownTable, writeResults } from "./results.ts";

const { runs, seconds } = config;

interface Level {
  logRows: number;
  activities: number;
  collaborators: number;
  /** Whether throughput is measured here (the 100 k step is for usage only). */
  loads: boolean;
}

const levels: Level[] = [
  { logRows: 0, activities: 0, collaborators: 0, loads: true },
  { logRows: 100_000, activities: 0, collaborators: 0, loads: false },
  { logRows: 1_000_000, activities: 1_000_000, collaborators: 100_000, loads: true },
  { logRows: 10_000_000, activities: 5_000_000, collaborators: 100_000, loads: true },
];
const chunk = 1_000_000;

/** Tops the tables up to the level (the small load adds log rows too: only what is missing is inserted). */
async function preload(url: string, tenantId: string, heavyKeyId: string, level: Level, counts: Counts) {
  const started = performance.now();
  if (level.collaborators > counts.collaborators) {
    await psql(
      url,
      `insert into salesos.collaborators (tenant_id, environment, external_id, name, email)
       select '${tenantId}', 'live', 'g' || i, 'Seller ' || i, 'g' || i || '@bench.test'
         from generate_series(${counts.collaborators}, ${level.collaborators - 1}) i`,
    );
  }
  for (let from = counts.activities; from < level.activities; from += chunk) {
    const to = Math.min(level.activities, from + chunk);
    await psql(
      url,
      `insert into salesos.activities (tenant_id, environment, external_id, activity_code, collaborator_id, data,
                                       occurred_at, request_id)
       select '${tenantId}', 'live', 'g-' || i, lpad((i % 999 + 1)::text, 3, '0'), c.ids[1 + i % 1000],
              jsonb_build_object('client', 'Acme Corp ' || (i % 97), 'duration_min', i % 60, 'channel', 'phone',
                                 'notes', 'Follow-up call about the renewal of the annual plan', 'value', i * 13 + 0.5),
              now() - (i % 7776000) * interval '1 second', gen_random_uuid()
         from (select array_agg(c.id order by c.external_id) as ids from salesos.collaborators c
                where c.tenant_id = '${tenantId}' and c.email like 'c%@bench.test') c,
              generate_series(${from}, ${to - 1}) i`,
    );
  }
  // Every fifth row is the heavy key's, the others spread over the many tenants' 1000 keys; times
  // spread over the last 89 days (the day partitions exist; the retention is 90).
  for (let from = counts.logRows; from < level.logRows; from += chunk) {
    const to = Math.min(level.logRows, from + chunk);
    await psql(
      url,
      `insert into salesos.request_log (request_id, tenant_id, key_id, environment, action, status, ip, latency_ms,
                                        item_counts, created_at)
       select gen_random_uuid(),
              case when i % 5 = 0 then '${tenantId}'::uuid else k.tenants[1 + (i / 5) % k.n] end,
              case when i % 5 = 0 then '${heavyKeyId}'::uuid else k.ids[1 + (i / 5) % k.n] end,
              'live', 'sync_activities', case when i % 50 = 1 then 400 else 200 end, '127.0.0.1', 12,
              '{"activities": 1}', now() - random() * interval '89 days'
         from (select array_agg(k.id order by k.id) as ids, array_agg(k.tenant_id order by k.id) as tenants,
                      count(*)::int as n
                 from salesos.api_keys k where k.name like 'many-%') k,
              generate_series(${from}, ${to - 1}) i`,
    );
  }
  await psql(
    url,
    "vacuum (analyze) salesos.request_log, salesos.request_counts, salesos.activities, salesos.collaborators",
  );
  await checkpoint(url);
  return round((performance.now() - started) / 1000);
}

interface Counts {
  logRows: number;
  activities: number;
  collaborators: number;
  heavyKeyLogRows: number;
}

async function countRows(db: Database, tenantId: string, heavyKeyId: string): Promise<Counts> {
  const [counts] = await db.query<Counts>(
    `select (select count(*) from salesos.request_log)::int as "logRows",
            (select count(*) from salesos.activities)::int as activities,
            (select count(*) from salesos.collaborators where tenant_id = $1)::int as collaborators,
            (select count(*) from salesos.request_log where key_id = $2)::int as "heavyKeyLogRows"`,
    [tenantId, heavyKeyId],
  );
  return counts;
}

/** Median milliseconds of `times` calls of a statement, after one unmeasured call. */
async function timed(db: Database, sql: string, params: unknown[], times = 15) {
  await db.query(sql, params);
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await db.query(sql, params);
    ms.push(performance.now() - started);
  }
  return round(median(ms), 2);
}

export async function growthCurve() {
  const cores = navigator.hardwareConcurrency;
  console.error(`bench --growth: ${cores} cores, ${runs} runs of ${seconds} s per load and step`);
  const { setup, drop } = await createDatabase();
  const db = connectPostgres(setup.url, readConfig({ DB_STATEMENT_TIMEOUT_MS: "600000" }));
  try {
    const heavy = await createKey(db, setup.tenantId, { name: "heavy", rate_limit_per_hour: 100_000 });
    // The day partitions of the last 90 days (maintain_request_log creates today's and the coming ones).
    await psql(
      setup.url,
      `select salesos.create_request_log_partition((now() at time zone 'UTC')::date - d) from generate_series(1, 90) d`,
    );
    const service = await startService({ DATABASE_URL: setup.url });
    const hot = await smallLoad(setup.smallKeys, 1000, false);
    await wrk("small.lua", 32, service.baseUrl, { ...hot.env, BENCH_ID_PREFIX: "warmup" }, 2);

    const steps = [];
    for (const [index, level] of levels.entries()) {
      const before = await countRows(db, setup.tenantId, heavy.id);
      const preloadSeconds = await preload(setup.url, setup.tenantId, heavy.id, level, before);
      const counts = await countRows(db, setup.tenantId, heavy.id);
      console.error(`step ${index}: ${JSON.stringify(counts)} (preloaded in ${preloadSeconds} s)`);
      const to = new Date();
      const from = new Date(to.getTime() - 90 * 24 * 3600 * 1000);
      const usageMs = await timed(db, "select salesos.api_key_usage($1, $2, $3, $4, 'hour') as usage", [
        setup.tenantId,
        heavy.id,
        from,
        to,
      ]);
      const requestsPageMs = await timed(db, "select salesos.api_key_requests($1, $2, 50, null, null) as page", [
        setup.tenantId,
        heavy.id,
      ]);
      const step: Record<string, unknown> = {
        log_rows: counts.logRows,
        activities: counts.activities,
        collaborators: counts.collaborators,
        heavy_key_log_rows: counts.heavyKeyLogRows,
        preload_s: preloadSeconds,
        usage_90d_hourly_ms: usageMs,
        requests_page_ms: requestsPageMs,
      };
      if (level.loads) {
        const small = await smallPairs(`step ${index} small`, service, setup.url, hot, runs);
        const bulk = await bulkPairs(`step ${index} bulk`, `g${index}b`, service, setup, runs);
        Object.assign(step, {
          small_rps: round(median(small.service)),
          small_baseline_tps: round(median(small.baseline)),
          small_ratio: pairedRatios(small.service, small.baseline).median,
          small_p99_ms: round(median(small.p99), 2),
          small_baseline_p99_ms: round(median(small.baselineP99), 2),
          activities_per_s: round(median(bulk.activities)),
          activities_baseline_per_s: round(median(bulk.activitiesBase)),
          activities_ratio: pairedRatios(bulk.activities, bulk.activitiesBase).median,
          collaborators_per_s: round(median(bulk.collaborators)),
          collaborators_baseline_per_s: round(median(bulk.collaboratorsBase)),
          collaborators_ratio: pairedRatios(bulk.collaborators, bulk.collaboratorsBase).median,
          failed_requests: small.non2xx + bulk.non2xx,
        });
      }
      steps.push(step);
      // The loads' own rows go (the preloaded ones stay), so that each step measures its level.
      await psql(
        setup.url,
        `delete from salesos.activities where tenant_id = '${setup.tenantId}' and external_id !~ '^g-[0-9]+$';
         delete from salesos.collaborators where tenant_id = '${setup.tenantId}' and external_id !~ '^[cg][0-9]+$'`,
      );
    }

    // Deleting the heavy key, through the API as a Dashboard user does.
    const { heavyKeyLogRows } = await countRows(db, setup.tenantId, heavy.id);
    const token = (await run("deno", ["task", "--quiet", "token", "--tenant", "bench", "--output", "token"], {
      DATABASE_URL: setup.url,
    })).trim();
    const keysUrl = `${service.baseUrl}/functions/v1/api-keys`;
    const headers = { authorization: `Bearer ${token}` };
    const list = await fetch(keysUrl, { headers });
    await list.body?.cancel();
    const deleteStarted = performance.now();
    const deleted = await fetch(`${keysUrl}/${heavy.id}`, { method: "DELETE", headers });
    await deleted.body?.cancel();
    const deleteMs = round(performance.now() - deleteStarted);
    await service.stop();

    const loaded = steps.filter((s) => "small_rps" in s) as Record<string, number>[];
    const first = loaded[0];
    const last = loaded.at(-1)!;
    // Usage at the last step over usage at the 100 k step (the first with that many log rows).
    const usageBase = (steps as Record<string, number>[]).find((s) => s.log_rows >= levels[1].logRows)!;
    const results = {
      date: new Date().toISOString(),
      cores,
      runs,
      seconds,
      steps,
      throughput_ratio_last_over_empty: {
        small: round(last.small_rps / first.small_rps, 2),
        small_baseline: round(last.small_baseline_tps / first.small_baseline_tps, 2),
        activities: round(last.activities_per_s / first.activities_per_s, 2),
        activities_baseline: round(last.activities_baseline_per_s / first.activities_baseline_per_s, 2),
        collaborators: round(last.collaborators_per_s / first.collaborators_per_s, 2),
        collaborators_baseline: round(last.collaborators_baseline_per_s / first.collaborators_baseline_per_s, 2),
      },
      usage_ratio_last_over_100k: round(last.usage_90d_hourly_ms / usageBase.usage_90d_hourly_ms, 2),
      delete_key: { log_rows: heavyKeyLogRows, ms: deleteMs, status: deleted.status },
    };
    const table = growthTable(results);
    console.log(table);
    console.log(JSON.stringify(results));
    writeResults("growth", table, results);
  } finally {
    await db.close();
    await drop();
  }
}

// deno-lint-ignore no-explicit-any
function growthTable(r: any): string {
  const fmt = (n: number | undefined) => (n === undefined ? "" : n.toLocaleString("en-US"));
  // deno-lint-ignore no-explicit-any
  const rows = r.steps.map((s: any) => [
    fmt(s.log_rows),
    fmt(s.activities),
    fmt(s.collaborators),
    s.small_rps === undefined ? "—" : `${fmt(s.small_rps)} (${fmt(s.small_baseline_tps)}), ratio ${s.small_ratio}`,
    s.small_rps === undefined ? "—" : `${s.small_p99_ms} (${s.small_baseline_p99_ms})`,
    s.small_rps === undefined
      ? "—"
      : `${fmt(s.activities_per_s)} (${fmt(s.activities_baseline_per_s)}), ratio ${s.activities_ratio}`,
    s.small_rps === undefined
      ? "—"
      : `${fmt(s.collaborators_per_s)} (${fmt(s.collaborators_baseline_per_s)}), ratio ${s.collaborators_ratio}`,
    `${s.usage_90d_hourly_ms}`,
    `${s.requests_page_ms}`,
  ]);
  return markdownTable(
    [
      "request_log rows",
      "activities",
      "collaborators (bench tenant)",
      "small req/s (pgbench tps)",
      "small p99 ms (pgbench)",
      "bulk activities/s (pgbench)",
      "bulk collaborators/s (pgbench)",
      "usage, 90 days hourly, ms",
      "request log page, ms",
    ],
    rows,
  );
}

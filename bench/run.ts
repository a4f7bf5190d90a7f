// `deno task bench`: the service against Postgres's own limit, side by side in one run.
// Starts the service on a fresh database of the local Postgres, drives it with wrk, drives the
// same SQL work straight at Postgres with pgbench, and prints a table, one JSON line and
// bench/RESULTS.md. Figures are medians over BENCH_RUNS runs of BENCH_SECONDS each (bench/config.ts).
// `deno task bench --growth`: the growth curve instead (bench/growth.ts).
import { startPgBouncer } from "../tests/support/pgbouncer.ts";
import { growthCurve } from "./growth.ts";
import { signedVersusBearer } from "./signed.ts";
import {
  bcryptCompares,
  bulkPairs,
  checkpoint,
  coldStart,
  collaboratorsPerManyTenant,
  config,
  createDatabase,
  freePort,
  manyTenants,
  measuredPair,
  median,
  pairedRatios,
  pgbench,
  psql,
  round,
  run,
  type Service,
  type Setup,
  type SmallLoad,
  smallLoad,
  smallPairs,
  startService,
  warmKeys,
  wrk,
} from "./harness.ts";
import { markdownTable, writeResults } from "./results.ts";

const { runs, seconds } = config;

/**
 * The small hot-key load through a PgBouncer in transaction mode (prepared statements off, as on
 * Supabase's port 6543) over the same load straight to Postgres, paired run by run.
 */
async function pooledRatio(setup: Setup, direct: Service, load: SmallLoad) {
  await using pooler = await startPgBouncer(setup.url, { poolSize: 10 });
  const service = await startService({ DATABASE_URL: pooler.url, DB_PREPARE: "false", DB_TRANSACTION_POOLER: "true" });
  try {
    await wrk("small.lua", 32, service.baseUrl, { ...load.env, BENCH_ID_PREFIX: "pooledwarmup" }, 2);
    const pooled: number[] = [];
    const directRps: number[] = [];
    let failed = 0;
    for (let i = 0; i < runs; i++) {
      const [p, d] = await measuredPair(
        i,
        setup.url,
        () => wrk("small.lua", 32, service.baseUrl, { ...load.env, BENCH_ID_PREFIX: `pooled${i}` }),
        () => wrk("small.lua", 32, direct.baseUrl, { ...load.env, BENCH_ID_PREFIX: `direct${i}` }),
      );
      pooled.push(p.perSecond);
      directRps.push(d.perSecond);
      failed += p.non_2xx + p.socket_errors + d.non_2xx + d.socket_errors;
      console.error(`pooled run ${i + 1}: ${round(p.perSecond)} req/s, direct ${round(d.perSecond)} req/s`);
    }
    const ratios = pairedRatios(pooled, directRps);
    // Postgres's own cost of the hop, for comparison: pgbench through the pooler without prepared
    // statements over pgbench direct with them (one pair).
    const [pgbenchPooled, pgbenchDirect] = await measuredPair(
      0,
      setup.url,
      () => pgbench("small.sql", 32, pooler.url, load.vars, 0, "extended"),
      () => pgbench("small.sql", 32, setup.url, load.vars),
    );
    return {
      pgbench_pooled_tps: round(pgbenchPooled.tps),
      pgbench_direct_tps: round(pgbenchDirect.tps),
      pgbench_ratio: round(pgbenchPooled.tps / pgbenchDirect.tps, 2),
      service_rps: round(median(pooled)),
      direct_rps: round(median(directRps)),
      ratio: ratios.median,
      ratio_range: ratios.range,
      failed_requests: failed,
    };
  } finally {
    await service.stop();
  }
}

async function main() {
  const cores = navigator.hardwareConcurrency;
  console.error(`bench: ${cores} cores, ${runs} runs of ${seconds} s each`);
  const { setup, drop } = await createDatabase();
  const serviceEnv = { DATABASE_URL: setup.url };
  const hot = await smallLoad(setup.smallKeys, 1000, false);
  const many = await smallLoad(setup.manyKeys, collaboratorsPerManyTenant, true);

  try {
    const service = await startService(serviceEnv);
    // Steady state is measured: the cold start has its own figures below. The warm-up compiles the
    // hot path and opens the pool's connections.
    await wrk("small.lua", 32, service.baseUrl, { ...hot.env, BENCH_ID_PREFIX: "warmup" }, 2);
    const small = await smallPairs("small", service, setup.url, hot, runs);
    const smallRss = service.peakRssMb();
    const comparesAfterSmall = await bcryptCompares(service);

    // Below saturation: each connection pauses after each answer, so that about half the load the
    // service just carried is offered (a website backend sending one activity at a time).
    const pauseMs = Math.round((2 * 32 * 1000) / median(small.service));
    const paced = await smallPairs("paced", service, setup.url, hot, runs, pauseMs);

    // The bulk key proves itself before the flood, as a key in daily use would have: a source that
    // keeps failing gets no work for keys it has not proven yet (README, Authentication).
    await warmKeys(service.baseUrl, [setup.bulkKey]);

    // Invalid-key flood beside the small load: 8 connections of well-formed wrong keys.
    await checkpoint(setup.url);
    const floodRun = await Promise.all([
      wrk("small.lua", 32, service.baseUrl, { ...hot.env, BENCH_ID_PREFIX: "flooded" }),
      wrk("flood.lua", 8, service.baseUrl, { BENCH_REAL_PREFIX: setup.floodTarget.keyPrefix }),
    ]);
    const comparesAfterFlood = await bcryptCompares(service);
    if (floodRun[1].non_2xx !== floodRun[1].requests) throw new Error("a flood request was not refused");

    service.resetPeak();
    const bulk = await bulkPairs("bulk", "bulk", service, setup, runs);
    const bulkRss = service.peakRssMb();

    // Many tenants: 1000 keys of 100 tenants, each request on one at random, every key far below its limit.
    await warmKeys(service.baseUrl, setup.manyKeys);
    await wrk("small.lua", 32, service.baseUrl, { ...many.env, BENCH_ID_PREFIX: "manywarmup" }, 2);
    const manySmall = await smallPairs("many tenants", service, setup.url, many, runs);

    // Through a pooler: the same service configured as for Supabase's port 6543, paired with the direct one.
    const pooled = await pooledRatio(setup, service, hot);
    await service.stop();

    // On a quiet database: autovacuum would otherwise still be working through the loads' rows.
    await psql(setup.url, "vacuum (analyze)");
    await checkpoint(setup.url);
    const cold = await coldStart(setup, serviceEnv);
    const embedded = await embeddedFigures();
    await Deno.remove(many.env.BENCH_KEY_FILE);

    const smallAlone = median(small.service);
    const smallRatios = pairedRatios(small.service, small.baseline);
    const activitiesRatios = pairedRatios(bulk.activities, bulk.activitiesBase);
    const collaboratorsRatios = pairedRatios(bulk.collaborators, bulk.collaboratorsBase);
    const manyRatios = pairedRatios(manySmall.service, manySmall.baseline);
    const results = {
      date: new Date().toISOString(),
      cores,
      runs,
      seconds,
      small: {
        service_rps: round(smallAlone),
        baseline_tps: round(median(small.baseline)),
        ratio: smallRatios.median,
        ratio_range: smallRatios.range,
        p50_ms: round(median(small.p50), 2),
        p99_ms: round(median(small.p99), 2),
        baseline_p50_ms: round(median(small.baselineP50), 2),
        baseline_p99_ms: round(median(small.baselineP99), 2),
        cpu_ms_per_request: round(median(small.cpuMsPerRequest), 2),
        failed_requests: small.non2xx,
      },
      small_paced: {
        pause_ms: pauseMs,
        service_rps: round(median(paced.service)),
        p50_ms: round(median(paced.p50), 2),
        p99_ms: round(median(paced.p99), 2),
        baseline_p50_ms: round(median(paced.baselineP50), 2),
        baseline_tps: round(median(paced.baseline)),
        baseline_p99_ms: round(median(paced.baselineP99), 2),
        failed_requests: paced.non2xx,
      },
      many_tenants: {
        tenants: manyTenants,
        keys: setup.manyKeys.length,
        service_rps: round(median(manySmall.service)),
        baseline_tps: round(median(manySmall.baseline)),
        ratio: manyRatios.median,
        ratio_range: manyRatios.range,
        p99_ms: round(median(manySmall.p99), 2),
        cpu_ms_per_request: round(median(manySmall.cpuMsPerRequest), 2),
        baseline_p99_ms: round(median(manySmall.baselineP99), 2),
        failed_requests: manySmall.non2xx,
      },
      pooled,
      bulk: {
        activities_per_s: round(median(bulk.activities)),
        activities_baseline_per_s: round(median(bulk.activitiesBase)),
        activities_ratio: activitiesRatios.median,
        activities_ratio_range: activitiesRatios.range,
        collaborators_per_s: round(median(bulk.collaborators)),
        collaborators_baseline_per_s: round(median(bulk.collaboratorsBase)),
        collaborators_ratio: collaboratorsRatios.median,
        collaborators_ratio_range: collaboratorsRatios.range,
        activities_cpu_ms_per_request: round(median(bulk.activitiesCpu), 1),
        collaborators_cpu_ms_per_request: round(median(bulk.collaboratorsCpu), 1),
        failed_requests: bulk.non2xx,
      },
      cold_start: {
        first_answer_ms: cold.firstAnswerMs,
        first_authenticated_200_ms: cold.firstAuthorizedMs,
        empty_deno_server_ms: cold.emptyServerMs,
        bcrypt_compare_ms: cold.bcryptCompareMs,
        ratio: cold.ratio.median,
        ratio_range: cold.ratio.range,
      },
      memory: { peak_rss_small_mb: round(smallRss), peak_rss_bulk_mb: round(bulkRss) },
      bcrypt: { compares_during_small: comparesAfterSmall, distinct_keys: setup.smallKeys.length },
      flood: {
        legit_rps_alone: round(smallAlone),
        legit_rps_with_flood: round(floodRun[0].perSecond),
        fraction_kept: round(floodRun[0].perSecond / smallAlone, 2),
        flood_rps: round(floodRun[1].perSecond),
        bcrypt_compares_during_flood: comparesAfterFlood - comparesAfterSmall,
        legit_failed_requests: floodRun[0].non_2xx + floodRun[0].socket_errors,
      },
      embedded,
    };
    report(results);
  } finally {
    await drop();
  }
}

/**
 * The same small and bulk loads on the embedded Postgres of `deno task start` without a database URL,
 * for information (one run each).
 */
async function embeddedFigures() {
  const folder = await Deno.makeTempDir({ prefix: "salesos-bench-embedded-" });
  await Deno.chmod(folder, 0o755); // the `postgres` user runs the cluster when this is root
  const env = { EMBEDDED_POSTGRES_DIR: `${folder}/data`, EMBEDDED_POSTGRES_PORT: String(freePort()) };
  const service = await startService(env);
  try {
    const created = JSON.parse(
      await run("deno", "task --quiet keys create --tenant bench --name embedded --rate-limit 100000".split(" "), env),
    );
    const post = (body: unknown) =>
      fetch(`${service.baseUrl}/functions/v1/default-integration`, {
        method: "POST",
        headers: { authorization: `Bearer ${created.key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      }).then((r) => r.json());
    for (let start = 0; start < 1000; start += 500) {
      await post({
        action: "sync_collaborators",
        collaborators: Array.from(
          { length: 500 },
          (_, i) => ({ external_id: `c${start + i}`, name: "Seller", email: `c${start + i}@bench.test` }),
        ),
      });
    }
    const duration = Math.max(3, Math.round(seconds / 2));
    const small = await wrk("small.lua", 32, service.baseUrl, { BENCH_KEYS: created.key }, duration);
    const bulk = await wrk(
      "bulk.lua",
      4,
      service.baseUrl,
      { BENCH_KEYS: created.key, BENCH_ACTION: "sync_activities" },
      duration,
    );
    return {
      small_rps: round(small.perSecond),
      small_p99_ms: round(small.p99_us / 1000, 2),
      bulk_activities_per_s: round(bulk.perSecond * 1000),
      failed_requests: small.non_2xx + small.socket_errors + bulk.non_2xx + bulk.socket_errors,
    };
  } finally {
    await service.stop();
    await Deno.remove(folder, { recursive: true });
  }
}

// deno-lint-ignore no-explicit-any
function report(r: any) {
  const rows: [string, string, string, string][] = [
    [
      "small, hot keys: requests/s (32 conn, 1 activity, 4 keys of one tenant)",
      `${r.small.service_rps}`,
      `${r.small.baseline_tps} (pgbench)`,
      `ratio ${r.small.ratio}, runs ${r.small.ratio_range.join("–")}`,
    ],
    [
      "small: latency p50 / p99",
      `${r.small.p50_ms} / ${r.small.p99_ms} ms`,
      `${r.small.baseline_p50_ms} / ${r.small.baseline_p99_ms} ms (pgbench)`,
      "",
    ],
    [
      `small, many tenants: requests/s (${r.many_tenants.keys} keys of ${r.many_tenants.tenants} tenants, each request on one at random)`,
      `${r.many_tenants.service_rps}, p99 ${r.many_tenants.p99_ms} ms`,
      `${r.many_tenants.baseline_tps}, p99 ${r.many_tenants.baseline_p99_ms} ms (pgbench)`,
      `ratio ${r.many_tenants.ratio}, runs ${r.many_tenants.ratio_range.join("–")}`,
    ],
    [
      `small, ${r.small_paced.pause_ms} ms pause per connection: p50 / p99`,
      `${r.small_paced.p50_ms} / ${r.small_paced.p99_ms} ms at ${r.small_paced.service_rps} req/s`,
      `${r.small_paced.baseline_p50_ms} / ${r.small_paced.baseline_p99_ms} ms at ${r.small_paced.baseline_tps} tps (pgbench)`,
      "information: below saturation",
    ],
    [
      "small through PgBouncer (transaction mode, DB_PREPARE=false): requests/s",
      `${r.pooled.service_rps}`,
      `${r.pooled.direct_rps} (the service, direct)`,
      `ratio ${r.pooled.ratio}, runs ${
        r.pooled.ratio_range.join("–")
      }; pgbench the same way: ${r.pooled.pgbench_pooled_tps} / ${r.pooled.pgbench_direct_tps} = ${r.pooled.pgbench_ratio}`,
    ],
    [
      "bulk: activities/s (4 conn, 1000/request)",
      `${r.bulk.activities_per_s}`,
      `${r.bulk.activities_baseline_per_s} (pgbench)`,
      `ratio ${r.bulk.activities_ratio}, runs ${r.bulk.activities_ratio_range.join("–")}`,
    ],
    [
      "bulk: collaborators/s (4 conn, 500/request)",
      `${r.bulk.collaborators_per_s}`,
      `${r.bulk.collaborators_baseline_per_s} (pgbench)`,
      `ratio ${r.bulk.collaborators_ratio}, runs ${r.bulk.collaborators_ratio_range.join("–")}`,
    ],
    [
      "cold start (`deno task start`): first answer (a 401, no database needed) / first authenticated 200",
      `${r.cold_start.first_answer_ms} / ${r.cold_start.first_authenticated_200_ms} ms`,
      `${r.cold_start.empty_deno_server_ms} ms (an empty Deno.serve, through \`deno task\` as the service); one bcrypt compare at cost 10: ${r.cold_start.bcrypt_compare_ms} ms`,
      `ratio ${r.cold_start.ratio}, runs ${r.cold_start.ratio_range.join("–")}`,
    ],
    [
      "service CPU per request: small hot / many tenants / bulk activities / bulk collaborators",
      `${r.small.cpu_ms_per_request} / ${r.many_tenants.cpu_ms_per_request} / ${r.bulk.activities_cpu_ms_per_request} / ${r.bulk.collaborators_cpu_ms_per_request} ms`,
      `${r.cores} cores`,
      "the process's user + system time over its requests (/proc)",
    ],
    [
      "peak RSS: small / bulk",
      `${r.memory.peak_rss_small_mb} / ${r.memory.peak_rss_bulk_mb} MB`,
      "",
      "",
    ],
    [
      "bcrypt compares during small",
      `${r.bcrypt.compares_during_small}`,
      `${r.bcrypt.distinct_keys} distinct keys`,
      "",
    ],
    [
      "flood: legit requests/s kept",
      `${r.flood.legit_rps_with_flood} of ${r.flood.legit_rps_alone}`,
      `flood ${r.flood.flood_rps} req/s`,
      `fraction ${r.flood.fraction_kept}`,
    ],
    [
      "flood: bcrypt compares",
      `${r.flood.bcrypt_compares_during_flood}`,
      "",
      "wrong secrets: bcrypt within its budget",
    ],
    [
      "embedded Postgres: small requests/s, p99",
      `${r.embedded.small_rps}, ${r.embedded.small_p99_ms} ms`,
      "",
      "information",
    ],
    ["embedded Postgres: bulk activities/s", `${r.embedded.bulk_activities_per_s}`, "", "information"],
  ];
  const table = markdownTable(["measure", "service", "baseline", "result"], rows);
  console.log(table);
  console.log(JSON.stringify(r));
  writeResults(
    "run",
    `${table}

Failed requests (non-2xx or socket errors) in the measured loads: small ${r.small.failed_requests}, small paced ${r.small_paced.failed_requests},
many tenants ${r.many_tenants.failed_requests}, pooled ${r.pooled.failed_requests}, flood's legitimate load ${r.flood.legit_failed_requests},
bulk ${r.bulk.failed_requests}, embedded Postgres ${r.embedded.failed_requests}.`,
    r,
  );
}

if (config.growth) {
  await growthCurve();
} else if (config.signed) {
  await signedVersusBearer(config);
} else {
  await main();
}

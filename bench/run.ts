// `deno task bench`: the service against Postgres's own limit, side by side in one run.
// Starts the service on a fresh database of the local Postgres, drives it with wrk, drives the
// same SQL work straight at Postgres with pgbench, and prints a table, one JSON line and
// bench/RESULTS.md. Figures are medians over BENCH_RUNS runs of BENCH_SECONDS each.
import { readConfig } from "../supabase/functions/_shared/config.ts";
import { createApiKey } from "../supabase/functions/api-keys/key_settings.ts";
import { createScratchDatabase } from "../tools/database.ts";

const serverUrl = Deno.env.get("BENCH_DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/postgres";
const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 10);
const runs = Number(Deno.env.get("BENCH_RUNS") ?? 3);
const root = new URL("../", import.meta.url).pathname;
const benchDir = `${root}bench/`;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
/**
 * The median of each run's service/baseline, the two measured back to back (the speed of this shared
 * machine drifts between runs, seen: ±25% within minutes, and a pair shares its moment's speed), and
 * the lowest and highest of them.
 */
function pairedRatios(service: number[], baseline: number[]) {
  const ratios = service.map((s, i) => s / baseline[i]);
  return { median: round(median(ratios), 2), range: [round(Math.min(...ratios), 2), round(Math.max(...ratios), 2)] };
}
const round = (value: number, digits = 0) => Number(value.toFixed(digits));

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function run(command: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(command, { args, env, cwd: root, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${command} ${args.join(" ")} failed:\n${text}\n${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// The database: fresh, migrated, with keys and 1000 collaborators (c0..c999@bench.test).

interface Setup {
  url: string;
  tenantId: string;
  smallKeys: { id: string; key: string }[];
  bulkKey: { id: string; key: string };
  floodTarget: { id: string; key: string; keyPrefix: string };
}

async function createDatabase(): Promise<{ setup: Setup; drop: () => Promise<void> }> {
  const { url, db, drop } = await createScratchDatabase(serverUrl, "salesos_bench", readConfig({}));
  const [{ id: tenantId }] = await db.query<{ id: string }>("select salesos.ensure_tenant('bench') as id");
  const createKey = async (name: string) => {
    const created = await createApiKey(
      db,
      { tenantId, actorId: null, actorType: "cli", ip: null },
      { name, environment: "live", scopes: ["default:sync"], rate_limit_per_hour: 100_000 },
      { bcryptCost: 10, maxActiveKeys: 100 },
    );
    if (!created) throw new Error("bench tenant at its key cap");
    return { id: created.id, key: created.key, keyPrefix: created.key_prefix };
  };
  const smallKeys = [];
  for (let i = 0; i < 4; i++) smallKeys.push(await createKey(`small-${i}`));
  const bulkKey = await createKey("bulk");
  const floodTarget = await createKey("flood-target");
  await db.query(
    `insert into salesos.collaborators (tenant_id, environment, external_id, name, email)
     select $1::uuid, 'live', 'c' || i, 'Seller ' || i, 'c' || i || '@bench.test' from generate_series(0, 999) i`,
    [tenantId],
  );
  await db.close();
  return { setup: { url, tenantId, smallKeys, bulkKey, floodTarget }, drop };
}

// ---------------------------------------------------------------------------------------------
// The service: a real process, its peak RSS sampled from /proc.

interface Service {
  baseUrl: string;
  pid: number;
  peakRssMb(): number;
  resetPeak(): void;
  stop(): Promise<void>;
}

/** `deno task start`, as a user runs it; its first log line gives the URL and the server's pid. */
function spawnService(env: Record<string, string>, logRequests: boolean) {
  const child = new Deno.Command("deno", {
    args: ["task", "--quiet", "start"],
    cwd: root,
    env: { PORT: "0", LOG_REQUESTS: String(logRequests), ...env },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const started = (async () => {
    let text = "";
    while (true) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`service exited before listening:\n${text}`);
      text += value;
      const match = /at (http:\/\/127\.0\.0\.1:\d+)\/functions.*"pid":(\d+)/.exec(text);
      if (match) {
        // Keep draining its log lines so the pipe never fills.
        (async () => {
          while (!(await lines.read()).done);
        })().catch(() => {});
        return { baseUrl: match[1], pid: Number(match[2]) };
      }
    }
  })();
  return { child, started };
}

async function startService(env: Record<string, string>): Promise<Service> {
  const { child, started } = spawnService(env, true);
  const { baseUrl, pid } = await started;
  let peak = 0;
  const rssMb = () => {
    try {
      const status = Deno.readTextFileSync(`/proc/${pid}/status`);
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    } catch {
      return 0;
    }
  };
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb())), 50);
  return {
    baseUrl,
    pid,
    peakRssMb: () => peak,
    resetPeak: () => (peak = 0),
    async stop() {
      clearInterval(sampler);
      Deno.kill(pid, "SIGTERM");
      await child.status;
    },
  };
}

async function bcryptCompares(service: Service): Promise<number> {
  const text = await (await fetch(`${service.baseUrl}/metrics`)).text();
  return Number(/^salesos_bcrypt_compares_total (\d+)$/m.exec(text)?.[1]);
}

// ---------------------------------------------------------------------------------------------
// Load generators.

interface WrkResult {
  requests: number;
  duration_us: number;
  non_2xx: number;
  socket_errors: number;
  p50_us: number;
  p99_us: number;
}

async function wrk(script: string, connections: number, url: string, env: Record<string, string>, duration = seconds) {
  const threads = Math.min(2, connections);
  const options = [`-t${threads}`, `-c${connections}`, `-d${duration}s`, "--timeout", "10s"];
  const out = await run(
    "wrk",
    [...options, "-s", `${benchDir}${script}`, `${url}/functions/v1/default-integration`],
    env,
  );
  const result = JSON.parse(out.trim().split("\n").at(-1)!) as WrkResult;
  return { ...result, perSecond: result.requests / (result.duration_us / 1e6) };
}

/** The p-th percentile (0-100) of `values`, nearest rank. */
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

/**
 * Flushes what earlier runs wrote (CHECKPOINT) before a measured run, so that a run does not pay for
 * a checkpoint its predecessor's writes made due: service and baseline start from the same state.
 */
async function checkpoint(url: string) {
  await psql(url, "checkpoint");
}

async function psql(url: string, command: string) {
  await run("psql", ["-X", "-q", "-c", command, url]);
}

/**
 * The `index`-th pair of a service run and its baseline, back to back, each after a CHECKPOINT.
 * Every other pair runs the baseline first, so that neither side always works on the tables and
 * autovacuum debt the other just left.
 */
async function measuredPair<S, B>(
  index: number,
  url: string,
  service: () => Promise<S>,
  baseline: () => Promise<B>,
): Promise<[S, B]> {
  const measured = async <T>(load: () => Promise<T>) => {
    await checkpoint(url);
    return await load();
  };
  if (index % 2 === 0) {
    const s = await measured(service);
    return [s, await measured(baseline)];
  }
  const b = await measured(baseline);
  return [await measured(service), b];
}

/** The figures of a series of small-load pairs: the service's by wrk, the baseline's by pgbench. */
function smallSeries() {
  const series = {
    service: [] as number[],
    p50: [] as number[],
    p99: [] as number[],
    baseline: [] as number[],
    baselineP50: [] as number[],
    baselineP99: [] as number[],
    non2xx: 0,
    add(s: Awaited<ReturnType<typeof wrk>>, baseline: Awaited<ReturnType<typeof pgbench>>) {
      series.service.push(s.perSecond);
      series.p50.push(s.p50_us / 1000);
      series.p99.push(s.p99_us / 1000);
      series.non2xx += s.non_2xx + s.socket_errors;
      series.baseline.push(baseline.tps);
      series.baselineP50.push(baseline.p50Ms);
      series.baselineP99.push(baseline.p99Ms);
    },
  };
  return series;
}

/**
 * Runs a bench/*.sql script whose {{name}} placeholders are replaced by SQL literals. Throughput and
 * latency come from its per-transaction log, counted once every client has finished its first
 * transaction: a new backend's first one compiles the PL/pgSQL functions and plans the statements
 * (seen: ~0.5 s each with 32 clients starting together), where the service is measured on a warm
 * pool. With `pauseMs` each client also runs a script of a sleep that long, as often as the work
 * (chosen at random, weights 1:1), as wrk's BENCH_PAUSE_MS; only the work's transactions count.
 */
async function pgbench(script: string, clients: number, url: string, vars: Record<string, string>, pauseMs = 0) {
  let sql = await Deno.readTextFile(`${benchDir}${script}`);
  for (const [name, value] of Object.entries(vars)) sql = sql.replaceAll(`{{${name}}}`, value);
  const dir = await Deno.makeTempDir({ prefix: "salesos-pgbench-" });
  try {
    await Deno.writeTextFile(`${dir}/script.sql`, sql);
    const scripts = ["-f", `${dir}/script.sql@1`];
    if (pauseMs > 0) {
      // A transaction of its own, so the sleep (and its overshoot) is never part of the work's latency.
      await Deno.writeTextFile(`${dir}/pause.sql`, `\\sleep ${pauseMs} ms\n`);
      scripts.push("-f", `${dir}/pause.sql@1`);
    }
    const args = ["-n", "-M", "prepared", `-c${clients}`, `-j${Math.min(2, clients)}`, `-T${seconds}`];
    const out = await run("pgbench", [...args, ...scripts, "-l", `--log-prefix=${dir}/log`, url]);
    const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0);
    if (failed > 0) throw new Error(`pgbench ${script}: ${out}`);
    // Each log line: client, transaction number, latency in µs, script (0: the work), then when it
    // ended (s, µs).
    const transactions: { client: number; latencyMs: number; endMs: number }[] = [];
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.name.startsWith("log")) continue;
      for (const line of (await Deno.readTextFile(`${dir}/${entry.name}`)).split("\n")) {
        if (!line) continue;
        const [client, , latencyUs, scriptNo, endS, endUs] = line.split(" ").map(Number);
        if (scriptNo === 0) {
          transactions.push({ client, latencyMs: latencyUs / 1000, endMs: endS * 1000 + endUs / 1000 });
        }
      }
    }
    const firstEnds = new Map<number, number>();
    for (const t of transactions) firstEnds.set(t.client, Math.min(firstEnds.get(t.client) ?? Infinity, t.endMs));
    const warm = Math.max(...firstEnds.values());
    const steady = transactions.filter((t) => t.endMs > warm);
    const lastEnd = steady.reduce((last, t) => Math.max(last, t.endMs), 0);
    if (firstEnds.size !== clients || steady.length === 0) throw new Error(`pgbench ${script}: ${out}`);
    const latenciesMs = steady.map((t) => t.latencyMs);
    return {
      tps: steady.length / ((lastEnd - warm) / 1000),
      p50Ms: percentile(latenciesMs, 50),
      p99Ms: percentile(latenciesMs, 99),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------------------------------------

/** Milliseconds from `started` until `url` answers a POST at all. */
async function firstAnswer(url: string, started: number, child: Deno.ChildProcess): Promise<number> {
  let exited: Deno.CommandStatus | undefined;
  child.status.then((status) => (exited = status));
  while (true) {
    if (exited) throw new Error(`cold start: the process exited (code ${exited.code}) before answering`);
    try {
      const res = await fetch(url, { method: "POST" });
      await res.body?.cancel();
      return performance.now() - started;
    } catch {
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}

/**
 * Five cold starts of `deno task start`, each followed by one of an empty Deno server (the floor
 * this machine puts under any Deno service, measured at the same moment).
 */
async function coldStart(setup: Setup, env: Record<string, string>) {
  const toFirstAnswer: number[] = [];
  const toFirstAuthorized: number[] = [];
  const emptyServer: number[] = [];
  const body = JSON.stringify({ action: "sync_activities", activities: [] });
  for (let i = 0; i < 5; i++) {
    const port = freePort();
    const url = `http://127.0.0.1:${port}/functions/v1/default-integration`;
    const started = performance.now();
    const { child } = spawnService({ ...env, PORT: String(port) }, false);
    toFirstAnswer.push(await firstAnswer(url, started, child));
    const res = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${setup.smallKeys[0].key}`, "content-type": "application/json" },
      body,
    });
    await res.body?.cancel();
    if (res.status !== 200) throw new Error(`cold start: authenticated request answered ${res.status}`);
    toFirstAuthorized.push(performance.now() - started);
    child.kill("SIGTERM");
    await child.status;

    const emptyPort = freePort();
    const emptyStarted = performance.now();
    const empty = new Deno.Command("deno", {
      args: ["run", "--allow-net", `${benchDir}empty_server.ts`, String(emptyPort)],
      stdout: "null",
    }).spawn();
    emptyServer.push(await firstAnswer(`http://127.0.0.1:${emptyPort}/`, emptyStarted, empty));
    empty.kill("SIGTERM");
    await empty.status;
  }
  return {
    firstAnswerMs: round(median(toFirstAnswer)),
    firstAuthorizedMs: round(median(toFirstAuthorized)),
    emptyServerMs: round(median(emptyServer)),
  };
}

async function main() {
  const cores = navigator.hardwareConcurrency;
  console.error(`bench: ${cores} cores, ${runs} runs of ${seconds} s each`);
  const { setup, drop } = await createDatabase();
  const serviceEnv = { DATABASE_URL: setup.url };
  const smallEnv = { BENCH_KEYS: setup.smallKeys.map((k) => k.key).join(",") };
  const literal = (text: string) => `'${text}'`;
  const tenantVars = { tenant_id: literal(setup.tenantId) };
  const smallVars = { ...tenantVars, key_ids: literal(`{${setup.smallKeys.map((k) => k.id).join(",")}}`) };

  try {
    const service = await startService(serviceEnv);
    const small = smallSeries();
    // Steady state is measured: the cold start has its own figures below. The warm-up compiles the
    // hot path and opens the pool's connections.
    await wrk("small.lua", 32, service.baseUrl, { ...smallEnv, BENCH_ID_PREFIX: "warmup" }, 2);
    for (let i = 0; i < runs; i++) {
      const [s, baseline] = await measuredPair(
        i,
        setup.url,
        () => wrk("small.lua", 32, service.baseUrl, { ...smallEnv, BENCH_ID_PREFIX: `small${i}` }),
        () => pgbench("small.sql", 32, setup.url, smallVars),
      );
      small.add(s, baseline);
      console.error(`small run ${i + 1}: service ${round(s.perSecond)} req/s, baseline ${round(baseline.tps)} tps`);
    }
    const smallRss = service.peakRssMb();
    const comparesAfterSmall = await bcryptCompares(service);

    // Below saturation: each connection pauses after each answer, so that about half the load the
    // service just carried is offered (a website backend sending one activity at a time).
    const pauseMs = Math.round((2 * 32 * 1000) / median(small.service));
    const paced = smallSeries();
    for (let i = 0; i < runs; i++) {
      const pacedEnv = { ...smallEnv, BENCH_ID_PREFIX: `paced${i}`, BENCH_PAUSE_MS: String(pauseMs) };
      const [s, baseline] = await measuredPair(
        i,
        setup.url,
        () => wrk("small.lua", 32, service.baseUrl, pacedEnv),
        () => pgbench("small.sql", 32, setup.url, smallVars, pauseMs),
      );
      paced.add(s, baseline);
      console.error(
        `paced run ${i + 1}: service ${round(s.perSecond)} req/s, p99 ${round(s.p99_us / 1000, 2)} ms; ` +
          `baseline ${round(baseline.tps)} tps, p99 ${round(baseline.p99Ms, 2)} ms`,
      );
    }

    // The bulk key proves itself before the flood, as a key in daily use would have: a source that
    // keeps failing gets no work for keys it has not proven yet (README, Authentication).
    const warm = await fetch(`${service.baseUrl}/functions/v1/default-integration`, {
      method: "POST",
      headers: { authorization: `Bearer ${setup.bulkKey.key}`, "content-type": "application/json" },
      body: JSON.stringify({ action: "sync_activities", activities: [] }),
    });
    await warm.body?.cancel();

    // Invalid-key flood beside the small load: 8 connections of well-formed wrong keys.
    await checkpoint(setup.url);
    const floodRun = await Promise.all([
      wrk("small.lua", 32, service.baseUrl, { ...smallEnv, BENCH_ID_PREFIX: "flooded" }),
      wrk("flood.lua", 8, service.baseUrl, { BENCH_REAL_PREFIX: setup.floodTarget.keyPrefix }),
    ]);
    const comparesAfterFlood = await bcryptCompares(service);
    if (floodRun[1].non_2xx !== floodRun[1].requests) throw new Error("a flood request was not refused");

    service.resetPeak();
    const bulkEnv = { BENCH_KEYS: setup.bulkKey.key };
    const bulk = {
      activities: [] as number[],
      activitiesBase: [] as number[],
      collaborators: [] as number[],
      collaboratorsBase: [] as number[],
      non2xx: 0,
    };
    for (let i = 0; i < runs; i++) {
      const bulkRun = (action: string) => () =>
        wrk("bulk.lua", 4, service.baseUrl, { ...bulkEnv, BENCH_ACTION: action, BENCH_ID_PREFIX: `bulk${i}` });
      const [a, activitiesBase] = await measuredPair(
        i,
        setup.url,
        bulkRun("sync_activities"),
        () => pgbench("bulk_activities.sql", 4, setup.url, tenantVars),
      );
      bulk.activities.push(a.perSecond * 1000);
      bulk.activitiesBase.push(activitiesBase.tps * 1000);
      const [c, collaboratorsBase] = await measuredPair(
        i,
        setup.url,
        bulkRun("sync_collaborators"),
        () => pgbench("bulk_collaborators.sql", 4, setup.url, tenantVars),
      );
      bulk.collaborators.push(c.perSecond * 500);
      bulk.collaboratorsBase.push(collaboratorsBase.tps * 500);
      bulk.non2xx += a.non_2xx + a.socket_errors + c.non_2xx + c.socket_errors;
      const last = (figures: number[]) => round(figures.at(-1)!);
      console.error(
        `bulk run ${i + 1}: ${last(bulk.activities)} activities/s (baseline ${last(bulk.activitiesBase)}), ` +
          `${last(bulk.collaborators)} collaborators/s (baseline ${last(bulk.collaboratorsBase)})`,
      );
    }
    const bulkRss = service.peakRssMb();
    await service.stop();

    // On a quiet database: autovacuum would otherwise still be working through the loads' rows.
    await psql(setup.url, "vacuum (analyze)");
    await checkpoint(setup.url);
    const cold = await coldStart(setup, serviceEnv);
    const embedded = await embeddedFigures();

    const smallAlone = median(small.service);
    const smallRatios = pairedRatios(small.service, small.baseline);
    const activitiesRatios = pairedRatios(bulk.activities, bulk.activitiesBase);
    const collaboratorsRatios = pairedRatios(bulk.collaborators, bulk.collaboratorsBase);
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
      bulk: {
        activities_per_s: round(median(bulk.activities)),
        activities_baseline_per_s: round(median(bulk.activitiesBase)),
        activities_ratio: activitiesRatios.median,
        activities_ratio_range: activitiesRatios.range,
        collaborators_per_s: round(median(bulk.collaborators)),
        collaborators_baseline_per_s: round(median(bulk.collaboratorsBase)),
        collaborators_ratio: collaboratorsRatios.median,
        collaborators_ratio_range: collaboratorsRatios.range,
        failed_requests: bulk.non2xx,
      },
      cold_start: {
        first_answer_ms: cold.firstAnswerMs,
        first_authenticated_200_ms: cold.firstAuthorizedMs,
        empty_deno_server_ms: cold.emptyServerMs,
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
      "small: requests/s (32 conn, 1 activity)",
      `${r.small.service_rps}`,
      `${r.small.baseline_tps} (pgbench)`,
      `ratio ${r.small.ratio}, runs ${r.small.ratio_range.join("–")} (target ≥ 0.6)`,
    ],
    [
      "small: latency p50 / p99",
      `${r.small.p50_ms} / ${r.small.p99_ms} ms`,
      `${r.small.baseline_p50_ms} / ${r.small.baseline_p99_ms} ms (pgbench)`,
      "p99 target ≤ 25 ms",
    ],
    [
      `small, ${r.small_paced.pause_ms} ms pause per connection: p50 / p99`,
      `${r.small_paced.p50_ms} / ${r.small_paced.p99_ms} ms at ${r.small_paced.service_rps} req/s`,
      `${r.small_paced.baseline_p50_ms} / ${r.small_paced.baseline_p99_ms} ms at ${r.small_paced.baseline_tps} tps (pgbench)`,
      "information: below saturation",
    ],
    [
      "bulk: activities/s (4 conn, 1000/request)",
      `${r.bulk.activities_per_s}`,
      `${r.bulk.activities_baseline_per_s} (pgbench)`,
      `ratio ${r.bulk.activities_ratio}, runs ${r.bulk.activities_ratio_range.join("–")} (target ≥ 0.6)`,
    ],
    [
      "bulk: collaborators/s (4 conn, 500/request)",
      `${r.bulk.collaborators_per_s}`,
      `${r.bulk.collaborators_baseline_per_s} (pgbench)`,
      `ratio ${r.bulk.collaborators_ratio}, runs ${r.bulk.collaborators_ratio_range.join("–")} (target ≥ 0.6)`,
    ],
    [
      "cold start (`deno task start`): first answer (a 401, no database needed) / first authenticated 200",
      `${r.cold_start.first_answer_ms} / ${r.cold_start.first_authenticated_200_ms} ms`,
      `${r.cold_start.empty_deno_server_ms} ms (an empty Deno.serve, \`deno run\`)`,
      "targets ≤ 300 / ≤ 400 ms",
    ],
    [
      "peak RSS: small / bulk",
      `${r.memory.peak_rss_small_mb} / ${r.memory.peak_rss_bulk_mb} MB`,
      "",
      "target ≤ 150 MB",
    ],
    [
      "bcrypt compares during small",
      `${r.bcrypt.compares_during_small}`,
      `${r.bcrypt.distinct_keys} distinct keys`,
      "target: equal",
    ],
    [
      "flood: legit requests/s kept",
      `${r.flood.legit_rps_with_flood} of ${r.flood.legit_rps_alone}`,
      `flood ${r.flood.flood_rps} req/s`,
      `fraction ${r.flood.fraction_kept} (target ≥ 0.5)`,
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
  const table = [
    "| measure | service | baseline | result |",
    "|---|---|---|---|",
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");
  console.log(table);
  console.log(JSON.stringify(r));
  Deno.writeTextFileSync(
    `${benchDir}RESULTS.md`,
    `# Benchmark results

Command: \`deno task bench\` (BENCH_RUNS=${r.runs}, BENCH_SECONDS=${r.seconds}). Machine: ${r.cores} cores, shared by
the service, Postgres 15 and the load generators (wrk, pgbench). Date: ${r.date}.
Figures are medians over ${r.runs} runs, after a 2 s warm-up of the service; baselines are measured in the same run,
each beside the service's run (first after it, then before it, in turn), and a ratio is the median of the runs'
service/baseline. Every measured run
starts after a CHECKPOINT. pgbench's figures count from when each of its clients has finished its first transaction
(a new backend's first one compiles the SQL functions; the service runs on a warm pool). In the paced load, after
each answer a connection pauses 0, 1, 2… times the pause, with probability 1/2, 1/4, 1/8…, as pgbench does when it
picks between its work and a pause at random (1:1). This machine's speed drifts widely over a day (the baselines show
it): the ratios are paired for that reason, yet move too; absolute figures (latency, cold start) move most. Earlier
runs are in this file's history.

${table}

Failed requests (non-2xx or socket errors) in the measured loads: small ${r.small.failed_requests}, small paced ${r.small_paced.failed_requests},
flood's legitimate load ${r.flood.legit_failed_requests}, bulk ${r.bulk.failed_requests}, embedded Postgres ${r.embedded.failed_requests}.

\`\`\`json
${JSON.stringify(r)}
\`\`\`
`,
  );
}

await main();

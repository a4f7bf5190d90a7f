// What the bench's runs share: the database and its keys, the service process, the load generators
// (wrk, pgbench) and how their runs are paired.
import bcrypt from "bcryptjs";
import { readConfig } from "../supabase/functions/_shared/config.ts";
import { createApiKey } from "../supabase/functions/api-keys/key_settings.ts";
import { createScratchDatabase } from "../tools/database.ts";
import { readBenchConfig } from "./config.ts";

export const config = readBenchConfig();
const { serverUrl, seconds } = config;
export const root = new URL("../", import.meta.url).pathname;
export const benchDir = `${root}bench/`;

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
/**
 * The median of each run's service/baseline, the two measured back to back (the speed of this shared
 * machine drifts between runs, seen: ±25% within minutes, and a pair shares its moment's speed), and
 * the lowest and highest of them.
 */
export function pairedRatios(service: number[], baseline: number[]) {
  const ratios = service.map((s, i) => s / baseline[i]);
  return { median: round(median(ratios), 2), range: [round(Math.min(...ratios), 2), round(Math.max(...ratios), 2)] };
}
export const round = (value: number, digits = 0) => Number(value.toFixed(digits));

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

export async function run(command: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(command, { args, env, cwd: root, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${command} ${args.join(" ")} failed:\n${text}\n${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// The database: fresh, migrated, with the bench tenant's keys and 1000 collaborators
// (c0..c999@bench.test), and the many tenants: 100 more, each with 10 keys and 100 collaborators
// (c0..c99@bench.test).

export interface BenchKey {
  id: string;
  tenantId: string;
  key: string;
  keyPrefix: string;
}

export interface Setup {
  url: string;
  tenantId: string;
  smallKeys: BenchKey[];
  bulkKey: BenchKey;
  floodTarget: BenchKey;
  manyKeys: BenchKey[];
}

export const manyTenants = 100;
export const keysPerTenant = 10;
export const collaboratorsPerManyTenant = 100;

export async function createDatabase(): Promise<{ setup: Setup; drop: () => Promise<void> }> {
  const { url, db, drop } = await createScratchDatabase(serverUrl, "salesos_bench", readConfig({}));
  const [{ id: tenantId }] = await db.query<{ id: string }>("select salesos.ensure_tenant('bench') as id");
  // bcryptCost: the service checks each key's hash once, then keeps it; cost 4 keeps 1000 keys'
  // creation and first checks to seconds. The bench tenant's keys have the default cost.
  const createKey = async (tenantId: string, name: string, bcryptCost = 10): Promise<BenchKey> => {
    const created = await createApiKey(
      db,
      { tenantId, actorId: null, actorType: "cli", ip: null },
      { name, environment: "live", scopes: ["default:sync"], rate_limit_per_hour: 100_000 },
      { bcryptCost, maxActiveKeys: 100 },
    );
    if (!created) throw new Error("bench tenant at its key cap");
    return { id: created.id, tenantId, key: created.key, keyPrefix: created.key_prefix };
  };
  const smallKeys = [];
  for (let i = 0; i < 4; i++) smallKeys.push(await createKey(tenantId, `small-${i}`));
  const bulkKey = await createKey(tenantId, "bulk");
  const floodTarget = await createKey(tenantId, "flood-target");
  await db.query(
    `insert into salesos.collaborators (tenant_id, environment, external_id, name, email)
     select $1::uuid, 'live', 'c' || i, 'Seller ' || i, 'c' || i || '@bench.test' from generate_series(0, 999) i`,
    [tenantId],
  );
  const manyKeys: BenchKey[] = [];
  for (let t = 0; t < manyTenants; t++) {
    const [{ id }] = await db.query<{ id: string }>("select salesos.ensure_tenant($1) as id", [`tenant-${t}`]);
    const keys = await Promise.all(
      Array.from({ length: keysPerTenant }, (_, k) => createKey(id, `many-${t}-${k}`, 4)),
    );
    manyKeys.push(...keys);
  }
  await db.query(
    `insert into salesos.collaborators (tenant_id, environment, external_id, name, email)
     select t.id, 'live', 'c' || i, 'Seller ' || i, 'c' || i || '@bench.test'
       from salesos.tenants t, generate_series(0, $1::int - 1) i where t.slug like 'tenant-%'`,
    [collaboratorsPerManyTenant],
  );
  await db.close();
  return { setup: { url, tenantId, smallKeys, bulkKey, floodTarget, manyKeys }, drop };
}

// ---------------------------------------------------------------------------------------------
// The service: a real process, its peak RSS sampled from /proc.

export interface Service {
  baseUrl: string;
  pid: number;
  peakRssMb(): number;
  resetPeak(): void;
  /** CPU time (user + system) the process has used so far, in ms. */
  cpuMs(): number;
  stop(): Promise<void>;
}

/** `deno task start`, as a user runs it; its first log line gives the URL and the server's pid. */
export function spawnService(env: Record<string, string>, logRequests: boolean) {
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

export async function startService(env: Record<string, string>): Promise<Service> {
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
    cpuMs: () => {
      // Fields 14 and 15 of /proc/<pid>/stat, after the command's closing parenthesis: clock ticks (100 a second).
      const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
      return (Number(fields[11]) + Number(fields[12])) * 10;
    },
    async stop() {
      clearInterval(sampler);
      Deno.kill(pid, "SIGTERM");
      await child.status;
    },
  };
}

export async function bcryptCompares(service: Service): Promise<number> {
  const text = await (await fetch(`${service.baseUrl}/metrics`)).text();
  return Number(/^salesos_bcrypt_compares_total (\d+)$/m.exec(text)?.[1]);
}

// ---------------------------------------------------------------------------------------------
// Load generators.

export interface WrkResult {
  requests: number;
  duration_us: number;
  non_2xx: number;
  socket_errors: number;
  p50_us: number;
  p99_us: number;
}

export type WrkFigures = Awaited<ReturnType<typeof wrk>>;

/** A wrk run and the service's CPU time per request during it. */
export async function withCpu(service: Service, load: () => Promise<WrkFigures>) {
  const before = service.cpuMs();
  const result = await load();
  return { ...result, cpuMsPerRequest: (service.cpuMs() - before) / Math.max(1, result.requests) };
}

export async function wrk(
  script: string,
  connections: number,
  url: string,
  env: Record<string, string>,
  duration = seconds,
) {
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
export const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

/**
 * Flushes what earlier runs wrote (CHECKPOINT) before a measured run, so that a run does not pay for
 * a checkpoint its predecessor's writes made due: service and baseline start from the same state.
 */
export async function checkpoint(url: string) {
  await psql(url, "checkpoint");
}

export async function psql(url: string, command: string) {
  await run("psql", ["-X", "-q", "-c", command, url]);
}

/**
 * The `index`-th pair of a service run and its baseline, back to back, each after a CHECKPOINT.
 * Every other pair runs the baseline first, so that neither side always works on the tables and
 * autovacuum debt the other just left.
 */
export async function measuredPair<S, B>(
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
export function smallSeries() {
  const series = {
    service: [] as number[],
    p50: [] as number[],
    p99: [] as number[],
    baseline: [] as number[],
    baselineP50: [] as number[],
    baselineP99: [] as number[],
    /** The service's CPU ms per request, when measured. */
    cpuMsPerRequest: [] as number[],
    non2xx: 0,
    add(s: WrkFigures & { cpuMsPerRequest?: number }, baseline: Awaited<ReturnType<typeof pgbench>>) {
      if (s.cpuMsPerRequest !== undefined) series.cpuMsPerRequest.push(s.cpuMsPerRequest);
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
export async function pgbench(
  script: string,
  clients: number,
  url: string,
  vars: Record<string, string>,
  pauseMs = 0,
  protocol: "prepared" | "extended" = "prepared",
) {
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
    const args = ["-n", "-M", protocol, `-c${clients}`, `-j${Math.min(2, clients)}`, `-T${seconds}`];
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
export async function firstAnswer(url: string, started: number, child: Deno.ChildProcess): Promise<number> {
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
 * Five cold starts of `deno task start`, each just after one of an empty Deno server (the floor
 * this machine puts under any Deno service, measured at the same moment). The empty server is
 * started the same way, through `deno task`: the task runner is a Deno process of its own before
 * the server's (~10 ms), a cost of how the service is started, not of the service. It starts first:
 * started just after the service stopped, it was measured ~10 ms slower than on its own (the
 * service's process and database connections still being torn down).
 */
export async function coldStart(setup: Setup, env: Record<string, string>) {
  const toFirstAnswer: number[] = [];
  const toFirstAuthorized: number[] = [];
  const emptyServer: number[] = [];
  const bcryptCompare: number[] = [];
  const body = JSON.stringify({ action: "sync_activities", activities: [] });
  // The first authenticated answer includes one bcrypt compare of the key (cost 10): its time alone, here.
  const hash = bcrypt.hashSync(setup.smallKeys[0].key, 10);
  for (let i = 0; i < 5; i++) {
    const emptyPort = freePort();
    const emptyStarted = performance.now();
    const empty = new Deno.Command("deno", {
      args: ["task", "--quiet", "--eval", `deno run --allow-net ${benchDir}empty_server.ts ${emptyPort}`],
      cwd: root,
      stdout: "null",
    }).spawn();
    emptyServer.push(await firstAnswer(`http://127.0.0.1:${emptyPort}/`, emptyStarted, empty));
    empty.kill("SIGTERM");
    await empty.status;

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

    const compareStarted = performance.now();
    bcrypt.compareSync(setup.smallKeys[0].key, hash);
    bcryptCompare.push(performance.now() - compareStarted);
  }
  return {
    firstAnswerMs: round(median(toFirstAnswer)),
    firstAuthorizedMs: round(median(toFirstAuthorized)),
    emptyServerMs: round(median(emptyServer)),
    bcryptCompareMs: round(median(bcryptCompare)),
    /** Each start's first authenticated 200 over the empty server's start just before it. */
    ratio: pairedRatios(toFirstAuthorized, emptyServer),
  };
}

// ---------------------------------------------------------------------------------------------
// The small load on a set of keys: wrk's environment, pgbench's variables of the same keys.

export interface SmallLoad {
  keys: BenchKey[];
  env: Record<string, string>;
  vars: Record<string, string>;
}

const literal = (text: string) => `'${text}'`;

/**
 * Requests on `keys` in turn, or, `random`, each on a key picked at random (wrk reads them from a
 * file: 1000 keys are too long for one environment variable); collaborators c0..c(collaborators-1).
 */
export async function smallLoad(keys: BenchKey[], collaborators: number, random: boolean): Promise<SmallLoad> {
  let env: Record<string, string> = {
    BENCH_KEYS: keys.map((k) => k.key).join(","),
    BENCH_COLLABORATORS: `${collaborators}`,
  };
  if (random) {
    const file = await Deno.makeTempFile({ prefix: "salesos-bench-keys-" });
    await Deno.writeTextFile(file, keys.map((k) => k.key).join("\n") + "\n");
    env = { BENCH_KEY_FILE: file, BENCH_COLLABORATORS: `${collaborators}` };
  }
  const vars = {
    key_ids: literal(`{${keys.map((k) => k.id).join(",")}}`),
    tenant_ids: literal(`{${keys.map((k) => k.tenantId).join(",")}}`),
    key_count: `${keys.length}`,
    collaborators: `${collaborators}`,
  };
  return { keys, env, vars };
}

/** One empty request on each key, 16 at a time: the service checks each key's hash once, then keeps it. */
export async function warmKeys(baseUrl: string, keys: BenchKey[]) {
  const body = JSON.stringify({ action: "sync_activities", activities: [] });
  for (let start = 0; start < keys.length; start += 16) {
    await Promise.all(
      keys.slice(start, start + 16).map(async ({ key }) => {
        const res = await fetch(`${baseUrl}/functions/v1/default-integration`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body,
        });
        await res.body?.cancel();
        if (res.status !== 200) throw new Error(`warming a key: answered ${res.status}`);
      }),
    );
  }
}

/**
 * `count` pairs of the small load at 32 connections: the service by wrk, its baseline by pgbench; with
 * `pauseMs`, each connection pauses after each answer (wrk's BENCH_PAUSE_MS, pgbench's pause script).
 */
export async function smallPairs(
  label: string,
  service: Service,
  url: string,
  load: SmallLoad,
  count: number,
  pauseMs = 0,
) {
  const series = smallSeries();
  for (let i = 0; i < count; i++) {
    const env = { ...load.env, BENCH_ID_PREFIX: `${label}${i}`, BENCH_PAUSE_MS: String(pauseMs) };
    const [s, baseline] = await measuredPair(
      i,
      url,
      () => withCpu(service, () => wrk("small.lua", 32, service.baseUrl, env)),
      () => pgbench("small.sql", 32, url, load.vars, pauseMs),
    );
    series.add(s, baseline);
    console.error(
      `${label} run ${i + 1}: service ${round(s.perSecond)} req/s, p99 ${round(s.p99_us / 1000, 2)} ms; ` +
        `baseline ${round(baseline.tps)} tps, p99 ${round(baseline.p99Ms, 2)} ms`,
    );
  }
  return series;
}

/**
 * `count` pairs of each bulk load on the bulk key at 4 connections (activities, 1000 a request, then
 * collaborators, 500 a request), each beside its set-based pgbench baseline; figures are rows a second.
 * Each run's ids start with `${idPrefix}${i}`.
 */
export async function bulkPairs(label: string, idPrefix: string, service: Service, setup: Setup, count: number) {
  const tenantVars = { tenant_id: `'${setup.tenantId}'` };
  const bulk = {
    activities: [] as number[],
    activitiesBase: [] as number[],
    collaborators: [] as number[],
    collaboratorsBase: [] as number[],
    activitiesCpu: [] as number[],
    collaboratorsCpu: [] as number[],
    non2xx: 0,
  };
  for (let i = 0; i < count; i++) {
    /** One pair: `action` (`rows` a request) beside its baseline `sql`, in rows a second. */
    const pair = async (action: string, sql: string, rows: number) => {
      const [s, baseline] = await measuredPair(
        i,
        setup.url,
        () =>
          withCpu(service, () =>
            wrk("bulk.lua", 4, service.baseUrl, {
              BENCH_KEYS: setup.bulkKey.key,
              BENCH_ACTION: action,
              BENCH_ID_PREFIX: `${idPrefix}${i}`,
            })),
        () => pgbench(sql, 4, setup.url, tenantVars),
      );
      bulk.non2xx += s.non_2xx + s.socket_errors;
      return { service: s.perSecond * rows, cpu: s.cpuMsPerRequest, baseline: baseline.tps * rows };
    };
    const a = await pair("sync_activities", "bulk_activities.sql", 1000);
    bulk.activities.push(a.service);
    bulk.activitiesCpu.push(a.cpu);
    bulk.activitiesBase.push(a.baseline);
    const c = await pair("sync_collaborators", "bulk_collaborators.sql", 500);
    bulk.collaborators.push(c.service);
    bulk.collaboratorsCpu.push(c.cpu);
    bulk.collaboratorsBase.push(c.baseline);
    const last = (figures: number[]) => round(figures.at(-1)!);
    console.error(
      `${label} run ${i + 1}: ${last(bulk.activities)} activities/s (baseline ${last(bulk.activitiesBase)}), ` +
        `${last(bulk.collaborators)} collaborators/s (baseline ${last(bulk.collaboratorsBase)})`,
    );
  }
  return bulk;
}

// bench/RESULTS.md: the issue's targets, met or not, over the last default run and the last growth
// curve. Each kind of run rewrites its own section and keeps the other's (its JSON line is read back).
import { benchDir } from "./harness.ts";

type Kind = "run" | "growth";
const file = `${benchDir}RESULTS.md`;

export function markdownTable(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ]
    .join("\n");
}

const marker = (kind: Kind, end = false) => `<!-- ${end ? "/" : ""}${kind} -->`;

/** The section of `kind` in the file, and its JSON line. */
function recorded(text: string, kind: Kind): { section: string; json?: any } | undefined {
  const start = text.indexOf(marker(kind));
  const end = text.indexOf(marker(kind, true));
  if (start < 0 || end < 0) return undefined;
  const section = text.slice(start, end + marker(kind, true).length);
  const json = /```json\n(.+)\n```/.exec(section)?.[1];
  return { section, json: json ? JSON.parse(json) : undefined };
}

const met = (ok: boolean | undefined) => (ok === undefined ? "not measured" : ok ? "yes" : "no");

/** The issue's targets (medians of paired runs), each with its measured value. */
// deno-lint-ignore no-explicit-any
function targetRows(run: any, growth: any): string[][] {
  const g = growth?.throughput_ratio_last_over_empty;
  const last = growth?.steps?.at(-1);
  const usageBase = growth?.steps?.find((s: any) => s.log_rows >= 100_000);
  return [
    [
      "small, hot keys: service / pgbench of the same statements",
      run ? `${run.small.ratio} (${run.small.service_rps} / ${run.small.baseline_tps})` : "",
      "≥ 0.9",
      met(run && run.small.ratio >= 0.9),
    ],
    [
      "small, many tenants (1,000 keys of 100 tenants): service / its pgbench",
      run ? `${run.many_tenants.ratio} (${run.many_tenants.service_rps} / ${run.many_tenants.baseline_tps})` : "",
      "≥ 0.9",
      met(run && run.many_tenants.ratio >= 0.9),
    ],
    [
      "small p99 at 32 connections",
      run ? `${run.small.p99_ms} ms vs pgbench ${run.small.baseline_p99_ms} ms` : "",
      "≤ pgbench's p99 in the same run",
      met(run && run.small.p99_ms <= run.small.baseline_p99_ms),
    ],
    [
      "bulk activities / set-based insert",
      run ? `${run.bulk.activities_ratio} (${run.bulk.activities_per_s} / ${run.bulk.activities_baseline_per_s})` : "",
      "≥ 0.9",
      met(run && run.bulk.activities_ratio >= 0.9),
    ],
    [
      "bulk collaborators / set-based insert",
      run
        ? `${run.bulk.collaborators_ratio} (${run.bulk.collaborators_per_s} / ${run.bulk.collaborators_baseline_per_s})`
        : "",
      "≥ 0.8",
      met(run && run.bulk.collaborators_ratio >= 0.8),
    ],
    [
      `throughput at ${last ? last.log_rows.toLocaleString("en-US") : "10 M"} log rows + ${
        last ? last.activities.toLocaleString("en-US") : "5 M"
      } activities / on an empty database (\`--growth\`)`,
      g
        ? `small ${g.small} (pgbench ${g.small_baseline}), bulk activities ${g.activities} (pgbench ${g.activities_baseline}), bulk collaborators ${g.collaborators} (pgbench ${g.collaborators_baseline})`
        : "",
      "≥ 0.85, small and bulk",
      met(g && Math.min(g.small, g.activities, g.collaborators) >= 0.85),
    ],
    [
      "usage over 90 days of hourly buckets, at 10 M log rows / at 100 k (`--growth`)",
      usageBase
        ? `${growth.usage_ratio_last_over_100k}× (${last.usage_90d_hourly_ms} / ${usageBase.usage_90d_hourly_ms} ms)`
        : "",
      "≤ 1.5×",
      met(growth && growth.usage_ratio_last_over_100k <= 1.5),
    ],
    [
      "deleting a key with 2 M log rows (`--growth`, DELETE /api-keys/:id)",
      growth ? `${growth.delete_key.ms} ms (${growth.delete_key.log_rows} rows; ${growth.delete_key.status})` : "",
      "≤ 2 s",
      met(growth && growth.delete_key.status === 200 && growth.delete_key.ms <= 2000),
    ],
    [
      "cold start, first authenticated 200 / empty `Deno.serve` in the same run",
      run
        ? `${run.cold_start.ratio}× (${run.cold_start.first_authenticated_200_ms} / ${run.cold_start.empty_deno_server_ms} ms)`
        : "",
      "≤ 3×",
      met(run && run.cold_start.ratio <= 3),
    ],
    [
      "small ratio through pgbouncer (transaction mode) / direct",
      run
        ? `${run.pooled.ratio} (${run.pooled.service_rps} / ${run.pooled.direct_rps}); pgbench through it / direct: ${run.pooled.pgbench_ratio}`
        : "",
      "≥ 0.8",
      met(run && run.pooled.ratio >= 0.8),
    ],
  ];
}

const intro: Record<Kind, (r: any) => string> = {
  run: (r) =>
    `## Default run (\`deno task bench\`)

BENCH_RUNS=${r.runs}, BENCH_SECONDS=${r.seconds}. Date: ${r.date}. Figures are medians over ${r.runs} runs, after a 2 s
warm-up of the service; baselines are measured in the same run, each beside the service's run (first after it, then
before it, in turn), and a ratio is the median of the runs' service/baseline. Every measured run starts after a
CHECKPOINT. pgbench's figures count from when each of its clients has finished its first transaction (a new backend's
first one compiles the SQL functions; the service runs on a warm pool). In the paced load, after each answer a
connection pauses 0, 1, 2… times the pause, with probability 1/2, 1/4, 1/8…, as pgbench does when it picks between its
work and a pause at random (1:1). Many tenants: every key is used once before the measure (its hash is checked once
per instance, then kept); wrk and pgbench pick a key at random for each request. Pooled: the same service started a
second time on a PgBouncer in transaction mode (DB_PREPARE=false, as on Supabase's port 6543), its runs paired with
the direct service's.`,
  growth: (r) =>
    `## Growth curve (\`deno task bench --growth\`)

BENCH_RUNS=${r.runs}, BENCH_SECONDS=${r.seconds}. Date: ${r.date}. One database, topped up between steps by set-based
inserts (generate_series), then VACUUM (ANALYZE) and a CHECKPOINT; the counts are exact, taken at each step (the loads
add rows too). request_log rows: a fifth are one key's ("heavy"), the rest spread over the 1,000 keys of the many
tenants, over the last 89 days (one partition a day). Each load is paired with its pgbench baseline as in the default
run (in brackets). Usage: \`salesos.api_key_usage\` over the last 90 days in hour buckets (2,160 buckets: more than the
API's 1,000-bucket page, so the SQL function itself) for the heavy key; request log page: \`salesos.api_key_requests\`,
the first 50 of the heavy key; medians of 15 calls. At the end the heavy key is deleted through \`DELETE /api-keys/:id\`.`,
};

/** Rewrites RESULTS.md with `kind`'s section replaced by this run's and the targets recomputed. */
// deno-lint-ignore no-explicit-any
export function writeResults(kind: Kind, body: string, results: any) {
  let text = "";
  try {
    text = Deno.readTextFileSync(file);
  } catch { /* first run */ }
  const sections: Record<Kind, { section: string; json?: any } | undefined> = {
    run: recorded(text, "run"),
    growth: recorded(text, "growth"),
  };
  sections[kind] = {
    section: `${marker(kind)}\n${intro[kind](results)}\n\n${body}\n\n\`\`\`json\n${JSON.stringify(results)}\n\`\`\`\n${
      marker(kind, true)
    }`,
    json: results,
  };
  const targets = markdownTable(
    ["measure", "value", "target", "met?"],
    targetRows(sections.run?.json, sections.growth?.json),
  );
  console.log(`\n${targets}`);
  Deno.writeTextFileSync(
    file,
    `# Benchmark results

Written by \`deno task bench\` (its section) and \`deno task bench --growth\` (its section); each keeps the other's.
Machine: ${results.cores} cores, shared by the service, Postgres 15 and the load generators (wrk, pgbench). Its speed
drifts widely over a day: the ratios are paired for that reason, yet move too; absolute figures (latency, cold start)
move most. Earlier runs are in this file's history. How to run it: [docs/performance.md](../docs/performance.md).

## Targets

${targets}

${sections.run?.section ?? `${marker("run")}\n(no default run recorded)\n${marker("run", true)}`}

${sections.growth?.section ?? `${marker("growth")}\n(no growth curve recorded)\n${marker("growth", true)}`}
`,
  );
}

// The one module of the bench that reads the environment and its arguments.
import { z } from "zod";
import { intInRange, parseConfig } from "../supabase/functions/_shared/config.ts";

const benchConfigSchema = z.object({
  /** The Postgres server the bench creates its database on, and pgbench's target. */
  serverUrl: z.string().min(1).default("postgres://postgres@127.0.0.1:5432/postgres"),
  /** Runs per measure; figures are medians over them. */
  runs: intInRange(1, 100, 3),
  /** Length of each run. */
  seconds: intInRange(1, 3600, 10),
  /** `--growth`: the growth curve instead of the default run. */
  growth: z.boolean(),
  /** `--signed`: a signed small request's cost beside a cached Bearer one instead. */
  signed: z.boolean(),
});

export type BenchConfig = z.infer<typeof benchConfigSchema>;

export function readBenchConfig(): BenchConfig {
  const env = Deno.env.toObject();
  const args = Deno.args;
  const unknown = args.filter((arg) => arg !== "--growth" && arg !== "--signed");
  if (unknown.length > 0) {
    throw new Error(`usage: deno task bench [--growth | --signed] (unknown: ${unknown.join(" ")})`);
  }
  const nonEmpty = (name: string) => (env[name] === "" ? undefined : env[name]);
  return parseConfig(benchConfigSchema, {
    serverUrl: nonEmpty("BENCH_DATABASE_URL"),
    runs: nonEmpty("BENCH_RUNS"),
    seconds: nonEmpty("BENCH_SECONDS"),
    growth: args.includes("--growth"),
    signed: args.includes("--signed"),
  });
}

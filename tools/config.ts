// The one module of the local tools that reads the environment: the functions' settings
// (supabase/functions/_shared/config.ts) plus those that exist only on a developer's machine.
import { z } from "zod";
import {
  booleanFlag,
  configInput,
  configSchema,
  intInRange,
  parseConfig,
  postgresUrl,
} from "../supabase/functions/_shared/config.ts";

const localConfigSchema = configSchema.extend({
  /** Port of `deno task start` (0: any free port). */
  port: intInRange(0, 65535, 54321),
  /** `deno task start` applies pending migrations as it starts. */
  migrateOnStart: booleanFlag.default(true),
  /** Data folder of the embedded Postgres, the database when no URL is set. */
  embeddedPostgresDir: z.string().min(1).default(".data/postgres"),
  /** Where the embedded Postgres listens, on 127.0.0.1 (Supabase's local db port). */
  embeddedPostgresPort: intInRange(1, 65535, 54322),
  /** Days of request log the local server's maintenance keeps (where pg_cron does not run it). */
  requestLogRetentionDays: intInRange(1, 36_500, 90),
  /** Days of hourly usage counts it keeps. */
  requestCountsRetentionDays: intInRange(1, 36_500, 400),
  /** `deno task start`'s connection limits (tools/connection_front.ts, docs/reliability.md#connections). */
  idleTimeoutMs: intInRange(1_000, 600_000, 10_000),
  requestTimeoutMs: intInRange(1_000, 3_600_000, 60_000),
  /** Unset: the open-file limit less room for everything else (tools/serve.ts). */
  maxConnections: z.string().regex(/^\d{1,7}$/, "must be a whole number").transform(Number).pipe(z.int().min(16))
    .optional(),
}).superRefine((config, context) => {
  // The development KEK is public: k1 sealed under it, in a database others reach, is as good as plaintext.
  if (config.signingKek === developmentSigningKek && !isLocalDatabase(config.databaseUrl)) {
    context.addIssue({
      code: "custom",
      path: ["signingKek"],
      message: "the public development key is accepted only with a local database (the embedded one, or a " +
        "DATABASE_URL on localhost or a Unix socket): set SIGNING_KEK to a key of its own (openssl rand -base64 32)",
    });
  }
});

export type LocalConfig = z.infer<typeof localConfigSchema>;

export function readLocalConfig(env: Record<string, string | undefined> = Deno.env.toObject()): LocalConfig {
  const nonEmpty = (name: string) => (env[name] === "" ? undefined : env[name]);
  const input = configInput(env);
  return parseConfig(localConfigSchema, {
    ...input,
    port: nonEmpty("PORT"),
    migrateOnStart: nonEmpty("MIGRATE_ON_START"),
    // On a local database signed keys work out of the box: SIGNING_KEK, else the development default.
    // On any other, SIGNING_KEK or nothing (signed keys are then refused, as by a deployment without it).
    signingKek: nonEmpty("SIGNING_KEK") ?? (isLocalDatabase(input.databaseUrl) ? developmentSigningKek : undefined),
    embeddedPostgresDir: nonEmpty("EMBEDDED_POSTGRES_DIR"),
    embeddedPostgresPort: nonEmpty("EMBEDDED_POSTGRES_PORT"),
    requestLogRetentionDays: nonEmpty("SALESOS_REQUEST_LOG_RETENTION_DAYS"),
    requestCountsRetentionDays: nonEmpty("SALESOS_REQUEST_COUNTS_RETENTION_DAYS"),
    idleTimeoutMs: nonEmpty("HTTP_IDLE_TIMEOUT_MS"),
    requestTimeoutMs: nonEmpty("HTTP_REQUEST_TIMEOUT_MS"),
    maxConnections: nonEmpty("MAX_CONNECTIONS"),
  });
}

/**
 * The HS256 secret of local development when SUPABASE_JWT_SECRET is unset: the one `supabase start`
 * uses, so tokens of a local Supabase stack verify here too. Only the local tools (`deno task start`,
 * `deno task token`) fall back to it; the deployed api-keys function never does.
 */
export const developmentJwtSecret = "super-secret-jwt-token-with-at-least-32-characters-long";

/**
 * The key-encryption key of signed keys' k1 in local development when SIGNING_KEK is unset (32
 * bytes, base64; public, like the JWT default). Only the local tools fall back to it, and only on a
 * local database (isLocalDatabase); deployed functions without SIGNING_KEK refuse to create signed keys.
 */
export const developmentSigningKek = "c2FsZXNvcy1sb2NhbC1kZXZlbG9wbWVudC1rZWstMDE=";

/**
 * Whether the tools' database is on this machine: the embedded one (no URL), or a URL whose host
 * (or `host` parameter) is a loopback address, `localhost` or a Unix socket directory.
 */
export function isLocalDatabase(databaseUrl: string | undefined): boolean {
  if (!databaseUrl) return true;
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    return false; // refused by the configuration's own check, which never repeats the URL
  }
  const host = url.searchParams.get("host") ?? decodeURIComponent(url.hostname);
  return host === "" || host.startsWith("/") || host === "localhost" || /^127(\.\d{1,3}){3}$/.test(host) ||
    host === "[::1]" || host === "::1";
}

/** The HS256 secret for local tools: SUPABASE_JWT_SECRET, else the development default. */
export function localJwtSecret(config: Pick<LocalConfig, "jwtSecret">): string {
  return config.jwtSecret ?? developmentJwtSecret;
}

/** `deno task sync`: its API key comes from the environment only, since an argument would show in `ps`. */
export interface SyncCliConfig {
  apiKey: string;
  /** A signed key's secret (SALESOS_API_SECRET): requests are signed (P2S-SIGN-V1). */
  secret?: string;
}

const syncCliConfigSchema = z.object({
  apiKey: z.string({ error: "SALESOS_API_KEY is not set" })
    .trim()
    .regex(/^sk_(live|test)_[a-z0-9]{32}$/, "SALESOS_API_KEY is not an API key (sk_live_… or sk_test_…)"),
  secret: z.string().trim().regex(/^[0-9a-f]{64}$/, "SALESOS_API_SECRET is not a secret (64 lowercase hex characters)")
    .optional(),
});

/**
 * Reads only SALESOS_API_KEY and SALESOS_API_SECRET (so the CLI can run with `--allow-env=SALESOS_API_KEY,SALESOS_API_SECRET`). The value
 * is never part of an error message.
 */
export function readSyncCliConfig(
  env: Record<string, string | undefined> = {
    SALESOS_API_KEY: Deno.env.get("SALESOS_API_KEY"),
    SALESOS_API_SECRET: Deno.env.get("SALESOS_API_SECRET"),
  },
): SyncCliConfig {
  const parsed = syncCliConfigSchema.safeParse({
    apiKey: env.SALESOS_API_KEY || undefined,
    secret: env.SALESOS_API_SECRET || undefined,
  });
  if (!parsed.success) {
    throw new Error(`Invalid configuration: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
  }
  return parsed.data;
}

/** The test and schema tools' settings: which Postgres server they make scratch databases on. */
export interface DeveloperToolsConfig {
  /** TEST_DATABASE_URL, else DATABASE_URL; unset: the tool starts a throwaway embedded Postgres. */
  testServerUrl?: string;
  /** DATABASE_URL, else TEST_DATABASE_URL: the server `deno task db:diff` makes scratch databases on. */
  scratchServerUrl?: string;
  /** SALESOS_TEST_LOG_FILE: where the test servers' output is appended for the secrets scan. */
  testLogFile?: string;
}

export function readDeveloperToolsConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): DeveloperToolsConfig {
  const nonEmpty = (name: string) => (env[name] === "" ? undefined : env[name]);
  return parseConfig(
    z.object({
      testServerUrl: postgresUrl.optional(),
      scratchServerUrl: postgresUrl.optional(),
      testLogFile: z.string().optional(),
    }),
    {
      testServerUrl: nonEmpty("TEST_DATABASE_URL") ?? nonEmpty("DATABASE_URL"),
      scratchServerUrl: nonEmpty("DATABASE_URL") ?? nonEmpty("TEST_DATABASE_URL"),
      testLogFile: nonEmpty("SALESOS_TEST_LOG_FILE"),
    },
  );
}

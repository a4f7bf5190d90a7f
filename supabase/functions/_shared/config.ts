// The one module of the functions that reads the environment. Everything else receives a Config.
// The local tools' settings extend it in tools/config.ts.
import { z } from "zod";
import { isKek, kekIdPattern, parsePreviousKeks } from "./signing.ts";

// Digits only: Number() would also take " 0x10 " or "1e1".
export const intInRange = (min: number, max: number, fallback: number) =>
  z.string().regex(/^\d{1,9}$/, "must be a whole number").transform(Number).pipe(z.int().min(min).max(max))
    .default(fallback);

/** A Postgres URL; the message never repeats the value, which holds the password. */
export const postgresUrl = z.string().refine((value) => {
  try {
    return ["postgres:", "postgresql:"].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, "must be a postgres:// URL (percent-encode special characters of the password)");

const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

/** `https://console.example.com`: a scheme, a host and an optional port, nothing more (what a browser sends as Origin). */
const isOrigin = (value: string) => {
  try {
    const url = new URL(value);
    return (url.protocol === "https:" || url.protocol === "http:") && url.origin === value;
  } catch {
    return false;
  }
};

/** A comma-separated list of origins; empty: none. */
const originList = z.string().transform((value) => value.split(",").map((origin) => origin.trim()).filter(Boolean))
  .pipe(z.array(z.string().refine(isOrigin, "must be origins such as https://console.example.com, comma-separated")));

export const booleanFlag = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");

/** The documentation of `deno task start` (tools/docs.ts). */
export const defaultDocsUrl = "http://127.0.0.1:54321/docs";

export const configSchema = z.object({
  /** Postgres connection string; SUPABASE_DB_URL is what hosted Supabase provides. */
  databaseUrl: postgresUrl.optional(),
  dbPoolSize: intInRange(1, 100, 8),
  /** Server-side statement timeout; a slower statement is cancelled and answered with 503. */
  dbStatementTimeoutMs: intInRange(100, 600_000, 10_000),
  /** Prepared statements; off by default on Supabase's transaction pooler (port 6543). */
  dbPrepare: booleanFlag.optional(),
  /**
   * The URL is a transaction pooler (Supavisor, PgBouncer): no session state, the statement timeout
   * applied by the client's cancel. Default: port 6543, or once the server refuses the startup parameter.
   */
  dbTransactionPooler: booleanFlag.optional(),
  bcryptCost: intInRange(4, 15, 10),
  /** Proxies in front of the service whose X-Forwarded-For entries are trusted (0: socket peer). */
  trustedProxyHops: intInRange(0, 10, 0),
  maxActiveKeysPerTenant: intInRange(1, 100_000, 100),
  /** default-integration, per instance: requests with a body over 1 MiB in progress at once per API key (more: 429). */
  maxBulkRequestsPerKey: intInRange(1, 1000, 2),
  /** The same per tenant. */
  maxBulkRequestsPerTenant: intInRange(1, 1000, 4),
  /** MiB of request bodies being read and parsed at once per instance; beyond, requests wait (bodyWaitMs), then 503. */
  bodyBudgetMib: intInRange(5, 4096, 24),
  /** How long a request waits for room in that budget. */
  bodyWaitMs: intInRange(0, 60_000, 10_000),
  logRequests: booleanFlag.default(true),
  /**
   * HS256 secret of Dashboard JWTs (the project's legacy JWT secret): SUPABASE_JWT_SECRET, or
   * SALESOS_JWT_SECRET (hosted projects cannot set SUPABASE_* secrets). HS256 tokens are refused when unset.
   */
  jwtSecret: z.string().min(32).optional(),
  /** The project URL; asymmetric Dashboard JWTs are checked against <url>/auth/v1/.well-known/jwks.json. */
  supabaseUrl: httpUrl.optional(),
  /**
   * Where the integrators' documentation is published (`deno task docs:build`'s folder): every error
   * answer's `doc_url` is <this>/errors.md#<code>. Default: the local server's /docs.
   */
  docsUrl: httpUrl.default(defaultDocsUrl).transform((url) => url.replace(/\/+$/, "")),
  /** Where to fetch the JWKS instead (same document; e.g. a mirror or a local Auth server). */
  jwksUrl: httpUrl.optional(),
  /**
   * Origins of Integrations consoles (docs/console.md) that may call api-keys from a browser: CORS
   * for these origins only. Empty (the default): no CORS headers.
   */
  consoleOrigins: originList.default([]),
  /** Sent as `apikey` when fetching the JWKS (hosted functions get SUPABASE_ANON_KEY). */
  supabaseAnonKey: z.string().min(1).optional(),
  /**
   * P2S-SIGN-V1: the key-encryption key (32 bytes, base64) of signed keys' stored k1. Unset: signed
   * keys cannot be created (and signed requests are refused with 500).
   */
  signingKek: z.string().refine(isKek, "must be 32 bytes in base64 (openssl rand -base64 32)").optional(),
  /** The id stored beside each k1 encrypted under SIGNING_KEK (change it with the KEK). */
  signingKekId: z.string().regex(kekIdPattern, "must be 1-32 characters of [A-Za-z0-9_.-]").default("1"),
  /** Earlier KEKs, still read: `id:base64,id:base64`. */
  signingKeksPrevious: z.string().refine(
    (value) => parsePreviousKeks(value) !== null,
    "must be id:base64,id:base64 with 32-byte keys",
  ).optional(),
});

export type Config = z.infer<typeof configSchema>;

/** The schema's input from the environment: unset and empty variables are both absent. */
export function configInput(env: Record<string, string | undefined>) {
  const nonEmpty = (name: string) => (env[name] === "" ? undefined : env[name]);
  return {
    databaseUrl: nonEmpty("DATABASE_URL") ?? nonEmpty("SUPABASE_DB_URL"),
    dbPoolSize: nonEmpty("DB_POOL_SIZE"),
    dbStatementTimeoutMs: nonEmpty("DB_STATEMENT_TIMEOUT_MS"),
    dbPrepare: nonEmpty("DB_PREPARE"),
    dbTransactionPooler: nonEmpty("DB_TRANSACTION_POOLER"),
    bcryptCost: nonEmpty("BCRYPT_COST"),
    trustedProxyHops: nonEmpty("TRUSTED_PROXY_HOPS"),
    maxActiveKeysPerTenant: nonEmpty("MAX_ACTIVE_KEYS_PER_TENANT"),
    maxBulkRequestsPerKey: nonEmpty("MAX_BULK_REQUESTS_PER_KEY"),
    maxBulkRequestsPerTenant: nonEmpty("MAX_BULK_REQUESTS_PER_TENANT"),
    bodyBudgetMib: nonEmpty("BODY_BUDGET_MIB"),
    bodyWaitMs: nonEmpty("BODY_WAIT_MS"),
    logRequests: nonEmpty("LOG_REQUESTS"),
    // Hosted Supabase reserves the SUPABASE_ prefix for its own secrets: there, set SALESOS_JWT_SECRET.
    jwtSecret: nonEmpty("SUPABASE_JWT_SECRET") ?? nonEmpty("SALESOS_JWT_SECRET"),
    supabaseUrl: nonEmpty("SUPABASE_URL"),
    jwksUrl: nonEmpty("SUPABASE_JWKS_URL"),
    docsUrl: nonEmpty("SALESOS_DOCS_URL"),
    supabaseAnonKey: nonEmpty("SUPABASE_ANON_KEY"),
    consoleOrigins: nonEmpty("CONSOLE_ORIGINS"),
    signingKek: nonEmpty("SIGNING_KEK"),
    signingKekId: nonEmpty("SIGNING_KEK_ID"),
    signingKeksPrevious: nonEmpty("SIGNING_KEKS_PREVIOUS"),
  };
}

/** `input` parsed by `schema`; a refusal names each setting and its rule, never the value. */
export function parseConfig<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Invalid configuration: ${problems}`);
  }
  return parsed.data;
}

export function readConfig(env: Record<string, string | undefined> = Deno.env.toObject()): Config {
  return parseConfig(configSchema, configInput(env));
}

// The real service for the client and CLI tests: `deno task start` as a subprocess on a fresh
// Postgres database, with keys made through the product's own SQL.
import type { KeySettings } from "../../supabase/functions/api-keys/key_settings.ts";
import { freshDatabase, type TestDatabase } from "./database.ts";
import { createKey, createTenant, type TestKey, testSigningEnv } from "./fixtures.ts";
import { type RunningServer, serverEnv, startServer } from "./server.ts";

export interface Service extends AsyncDisposable {
  database: TestDatabase;
  server: RunningServer;
  baseUrl: string;
  /** A new key (default: default:sync, 100000 requests per hour) of a new tenant, so tests share no data. */
  key(settings?: Partial<KeySettings>): Promise<TestKey>;
  /** Rows of a SQL query on the service's database. */
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
}

export async function startService(env: Record<string, string> = {}): Promise<Service> {
  const database = await freshDatabase();
  try {
    // The tests' key-encryption key, so the keys key() makes signed work there too.
    const server = await startServer(serverEnv(database.url, { LOG_REQUESTS: "false", ...testSigningEnv, ...env }));
    return {
      database,
      server,
      baseUrl: server.baseUrl,
      key: async (settings = {}) =>
        createKey(database.db, await createTenant(database.db), { rate_limit_per_hour: 100_000, ...settings }),
      query: (sql, params = []) => database.db.query(sql, params),
      async [Symbol.asyncDispose]() {
        await server[Symbol.asyncDispose]();
        await database[Symbol.asyncDispose]();
      },
    };
  } catch (error) {
    await database[Symbol.asyncDispose]();
    throw error;
  }
}

/** Moves a key's rate-limit window so that it ends in `seconds`: a 429 then says retry_after = seconds. */
export async function endWindowIn(service: Service, keyId: string, seconds: number) {
  await service.query(
    "update salesos.api_keys set window_started_at = now() - interval '1 hour' + make_interval(secs => $2) where id = $1",
    [keyId, seconds],
  );
}

// The Postgres implementation of Database, on postgres.js (what Supabase recommends for edge
// functions). Each call has a hard deadline so a silent network never turns into a hang.
import postgres from "postgres";
import { classifyDatabaseError, type Database } from "./database.ts";
import type { Config } from "./config.ts";
import { DatabaseUnavailableError } from "./errors.ts";

type PostgresConfig = Pick<Config, "dbPoolSize" | "dbStatementTimeoutMs" | "dbPrepare">;

export function connectPostgres(url: string, config: PostgresConfig): Database {
  // Supabase's transaction pooler (port 6543) cannot keep prepared statements.
  const prepare = config.dbPrepare ?? new URL(url).port !== "6543";
  const sql = postgres(url, {
    max: config.dbPoolSize,
    prepare,
    // A connection attempt into a silent network gives up after 2 s and is retried, so the pool is
    // back within seconds once the network answers again.
    connect_timeout: 2,
    idle_timeout: 60,
    // postgres.js waits 3^failures/100 s (up to 20 s) before reconnecting after failed connects: after
    // an outage the pool would stay closed for seconds after the database is back. At most 1 s here.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    onnotice: () => {},
    connection: {
      application_name: "salesos-integration",
      statement_timeout: config.dbStatementTimeoutMs,
    },
  });
  // The server cancels slow statements first; this deadline only covers a network that went silent.
  const deadlineMs = config.dbStatementTimeoutMs + 2_000;

  return {
    async query<Row>(text: string, params: readonly unknown[] = []): Promise<Row[]> {
      // The connection the statement went out on, so a silent one can be dropped (below).
      let connection: { terminate(): void } | undefined;
      const pending = sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], {
        prepare,
        onexecute: (c: { terminate(): void }) => ((connection = c), true),
      } as postgres.UnsafeQueryOptions);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          pending.cancel();
          // No answer, not even the server's statement timeout: the connection is dead or silent.
          // Drop it, with whatever else was queued on it, so the pool reconnects instead of
          // queueing later statements behind an answer that will never come.
          connection?.terminate();
          reject(new DatabaseUnavailableError(new Error(`no answer within ${deadlineMs} ms`)));
        }, deadlineMs);
      });
      try {
        return (await Promise.race([pending, deadline])) as unknown as Row[];
      } catch (error) {
        throw classifyDatabaseError(error);
      } finally {
        clearTimeout(timer);
      }
    },
    async exec(script: string): Promise<void> {
      try {
        await sql.unsafe(script);
      } catch (error) {
        throw classifyDatabaseError(error);
      }
    },
    async close(): Promise<void> {
      await sql.end({ timeout: 5 });
    },
  };
}

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
    connect_timeout: 5,
    idle_timeout: 60,
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
      const pending = sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          pending.cancel();
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

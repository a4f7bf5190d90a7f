// The embedded implementation of Database: PGlite (Postgres compiled to WebAssembly), so that
// `deno task start` needs nothing installed. Local use only; it serialises all queries.
import { PGlite } from "@electric-sql/pglite";
import { classifyDatabaseError, type Database } from "./database.ts";

export async function openPglite(dataDir: string): Promise<Database> {
  const db = await PGlite.create(dataDir);
  return {
    async query<Row>(text: string, params: readonly unknown[] = []): Promise<Row[]> {
      try {
        return (await db.query<Row>(text, params as unknown[])).rows;
      } catch (error) {
        throw classifyDatabaseError(error);
      }
    },
    async exec(script: string): Promise<void> {
      try {
        await db.exec(script);
      } catch (error) {
        throw classifyDatabaseError(error);
      }
    },
    async close(): Promise<void> {
      await db.close();
    },
  };
}

// The embedded implementation of Database: PGlite (Postgres compiled to WebAssembly), so that
// `deno task start` needs nothing installed. Local use only; it serialises all queries. The
// server shares it with the local CLIs over the Postgres wire protocol (pglite-socket), since
// one data folder must never be opened by two processes.
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { classifyDatabaseError, type Database } from "../supabase/functions/_shared/database.ts";

export async function openPglite(dataDir: string, share?: { port: number }): Promise<Database> {
  const db = await PGlite.create(dataDir);
  const socket = share && new PGLiteSocketServer({ db, host: "127.0.0.1", port: share.port });
  await socket?.start();
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
      await socket?.stop();
      await db.close();
    },
  };
}

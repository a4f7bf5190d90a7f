// Entry point on Supabase (and `supabase functions serve`): start the server and its bcrypt worker, nothing else.
import { bcryptPool } from "../_shared/bcrypt_pool.ts";
import { readConfig } from "../_shared/config.ts";
import { requestLog } from "../_shared/http.ts";
import { createKeyVerifier } from "./key_verifier.ts";
import { connectPostgres } from "../_shared/postgres.ts";
import { createIntegrationApp } from "./app.ts";

const config = readConfig();
if (!config.databaseUrl) throw new Error("SUPABASE_DB_URL (or DATABASE_URL) is required");
const db = connectPostgres(config.databaseUrl, config);
const log = requestLog(config.logRequests);
Deno.serve(createIntegrationApp({ db, keys: createKeyVerifier(db), config, log }).fetch);
// A cold start is for a request, most likely one with a key to compare: its bcrypt worker loads meanwhile.
bcryptPool().warm();

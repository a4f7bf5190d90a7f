// Entry point on Supabase (and `supabase functions serve`): start the server, nothing else.
// HS256 tokens need SUPABASE_JWT_SECRET; ES256/RS256 tokens need SUPABASE_URL (or SUPABASE_JWKS_URL).
// There is no development default here: that fallback belongs to the local tools only.
import { readConfig } from "../_shared/config.ts";
import { requestLog } from "../_shared/http.ts";
import { createJwtVerifier } from "./jwt.ts";
import { connectPostgres } from "../_shared/postgres.ts";
import { createApiKeysApp } from "./app.ts";

const config = readConfig();
if (!config.databaseUrl) throw new Error("SUPABASE_DB_URL (or DATABASE_URL) is required");
const db = connectPostgres(config.databaseUrl, config);
const log = requestLog(config.logRequests);
Deno.serve(createApiKeysApp({ db, jwt: createJwtVerifier(config), config, log }).fetch);

// The default-integration app: importable, so tests and the local server call it in process.
import type { Config } from "../_shared/config.ts";
import type { Database } from "../_shared/database.ts";
import { createFunctionApp, jsonLog, type LogSink, methodNotAllowed } from "../_shared/http.ts";
import type { KeyVerifier } from "../_shared/key-verifier.ts";
import { syncHandler } from "./routes/sync.ts";

export interface IntegrationDeps {
  db: Database;
  keys: KeyVerifier;
  config: Pick<Config, "trustedProxyHops">;
  log?: LogSink;
}

export function createIntegrationApp({ db, keys, config, log = jsonLog }: IntegrationDeps) {
  const app = createFunctionApp("default-integration", log);
  app.post("/", syncHandler({ db, keys, trustedProxyHops: config.trustedProxyHops }));
  app.all("/", () => methodNotAllowed("POST"));
  return app;
}

// The default-integration app: importable, so tests and the local server call it in process.
import type { Config } from "../_shared/config.ts";
import type { Database } from "../_shared/database.ts";
import { createFunctionApp, jsonLog, type LogSink, methodNotAllowed } from "../_shared/http.ts";
import type { KeyVerifier } from "./key_verifier.ts";
import { openApiRoute } from "../_shared/openapi.ts";
import { integrationOpenApi } from "./openapi.ts";
import { healthHandler } from "./routes/health.ts";
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
  // No authentication on these two: a load balancer's health check, and the API's description.
  app.get("/health", healthHandler(db));
  app.all("/health", () => methodNotAllowed("GET"));
  app.get("/openapi.json", openApiRoute(integrationOpenApi));
  app.all("/openapi.json", () => methodNotAllowed("GET"));
  return app;
}

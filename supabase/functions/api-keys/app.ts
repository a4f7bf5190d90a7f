// The api-keys app (contract section 4): importable, so tests and the local server call it in process.
import type { Config } from "../_shared/config.ts";
import type { Database } from "../_shared/database.ts";
import { createFunctionApp, jsonLog, type LogSink, methodNotAllowed } from "../_shared/http.ts";
import type { JwtVerifier } from "./jwt.ts";
import { openApiRoute } from "../_shared/openapi.ts";
import { apiKeysOpenApi } from "./openapi.ts";
import { auditHandler } from "./routes/audit.ts";
import { createKeyHandler } from "./routes/create.ts";
import { deleteKeyHandler } from "./routes/delete.ts";
import { getKeyHandler } from "./routes/get.ts";
import { listKeysHandler } from "./routes/list.ts";
import { requestsHandler } from "./routes/requests.ts";
import { revokeKeyHandler } from "./routes/revoke.ts";
import { rotateKeyHandler } from "./routes/rotate.ts";
import { updateKeyHandler } from "./routes/update.ts";
import { usageHandler } from "./routes/usage.ts";

export interface ApiKeysDeps {
  db: Database;
  jwt: JwtVerifier;
  config: Pick<Config, "trustedProxyHops" | "maxActiveKeysPerTenant" | "bcryptCost">;
  log?: LogSink;
}

/** What every route handler gets. */
export interface RouteDeps {
  db: Database;
  jwt: JwtVerifier;
  trustedProxyHops: number;
  maxActiveKeysPerTenant: number;
  bcryptCost: number;
}

export function createApiKeysApp({ db, jwt, config, log = jsonLog }: ApiKeysDeps) {
  const deps: RouteDeps = { db, jwt, ...config };
  const app = createFunctionApp("api-keys", log);

  app.post("/", createKeyHandler(deps));
  app.get("/", listKeysHandler(deps));
  app.all("/", () => methodNotAllowed("GET, POST"));

  // Before /:id, so that "audit" and "openapi.json" are never taken for a key id.
  app.get("/audit", auditHandler(deps));
  app.all("/audit", () => methodNotAllowed("GET"));

  // The API's description, without authentication.
  app.get("/openapi.json", openApiRoute(apiKeysOpenApi));
  app.all("/openapi.json", () => methodNotAllowed("GET"));

  app.get("/:id", getKeyHandler(deps));
  app.patch("/:id", updateKeyHandler(deps));
  app.delete("/:id", deleteKeyHandler(deps));
  app.all("/:id", () => methodNotAllowed("GET, PATCH, DELETE"));

  app.post("/:id/revoke", revokeKeyHandler(deps));
  app.all("/:id/revoke", () => methodNotAllowed("POST"));

  app.post("/:id/rotate", rotateKeyHandler(deps));
  app.all("/:id/rotate", () => methodNotAllowed("POST"));

  app.get("/:id/usage", usageHandler(deps));
  app.all("/:id/usage", () => methodNotAllowed("GET"));

  app.get("/:id/requests", requestsHandler(deps));
  app.all("/:id/requests", () => methodNotAllowed("GET"));
  return app;
}

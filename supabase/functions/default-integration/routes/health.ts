// GET /default-integration/health, without authentication (load balancers, uptime checks): 200 when
// the database answers `select 1` within a short deadline, else 503 SERVICE_UNAVAILABLE with
// Retry-After, as any request that cannot reach the database.
import type { Context } from "hono";
import { type Database, withinDeadline } from "../../_shared/database.ts";
import { DatabaseUnavailableError } from "../../_shared/errors.ts";
import type { AppEnv } from "../../_shared/http.ts";
import { respond } from "../../_shared/schemas.ts";
import { healthResponse } from "../schemas.ts";

/** Shorter than a statement's deadline: a health check must answer while the database is silent. */
export const healthTimeoutMs = 2_000;

export function healthHandler(db: Database, timeoutMs = healthTimeoutMs) {
  return async (c: Context<AppEnv>) => {
    c.header("Cache-Control", "no-store");
    const started = performance.now();
    const check = db.query("select 1 as ok");
    // When the deadline wins, the abandoned query's late failure is nobody's business.
    check.catch(() => {});
    try {
      await withinDeadline(check, timeoutMs, `health check: no answer within ${timeoutMs} ms`);
    } catch (error) {
      // Whatever the database said, it is not healthy: 503, never a 500.
      throw error instanceof DatabaseUnavailableError ? error : new DatabaseUnavailableError(error);
    }
    const latency = Math.round(performance.now() - started);
    c.get("log").database_latency_ms = latency;
    return respond(c, healthResponse, { status: "ok", database: { status: "ok", latency_ms: latency } });
  };
}

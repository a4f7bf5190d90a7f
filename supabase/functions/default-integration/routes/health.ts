// GET /default-integration/health, without authentication (load balancers, uptime checks): 200 when
// the database answers `select 1` within a short deadline, else 503 SERVICE_UNAVAILABLE with
// Retry-After, as any request that cannot reach the database.
import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { type Database, withinDeadline } from "../../_shared/database.ts";
import { DatabaseUnavailableError } from "../../_shared/errors.ts";
import { errorResponses, jsonResponse, okExample, type RouteHandler } from "../../_shared/openapi.ts";
import { respond, successEnvelope } from "../../_shared/schemas.ts";

/** Shorter than a statement's deadline: a health check must answer while the database is silent. */
export const healthTimeoutMs = 2_000;

const healthResponse = successEnvelope(
  z.strictObject({
    status: z.literal("ok"),
    database: z.strictObject({
      status: z.literal("ok"),
      latency_ms: z.int().min(0).meta({ description: "How long `select 1` took" }),
    }),
  }).meta({ id: "Health" }),
).meta({ id: "HealthResponse" });

export const route = createRoute({
  method: "get",
  path: "/health",
  operationId: "health",
  summary: "Health: does the service reach its database?",
  description: `No authentication. 200 when the database answers \`select 1\` within ${
    healthTimeoutMs / 1000
  } s; otherwise 503 with \`Retry-After\`. Not counted against any rate limit.`,
  tags: ["Operations"],
  security: [],
  responses: {
    200: jsonResponse("The database answers.", healthResponse, {
      healthy: okExample("Healthy", { status: "ok", database: { status: "ok", latency_ms: 1 } }),
    }),
    ...errorResponses(500, 503),
  },
});

export const handler: RouteHandler<{ db: Database }> = ({ db }) => async (c) => {
  c.header("Cache-Control", "no-store");
  const started = performance.now();
  const check = db.query("select 1 as ok");
  // When the deadline wins, the abandoned query's late failure is nobody's business.
  check.catch(() => {});
  try {
    await withinDeadline(check, healthTimeoutMs, `health check: no answer within ${healthTimeoutMs} ms`);
  } catch (error) {
    // Whatever the database said, it is not healthy: 503, never a 500.
    throw error instanceof DatabaseUnavailableError ? error : new DatabaseUnavailableError(error);
  }
  const latency = Math.round(performance.now() - started);
  c.get("log").database_latency_ms = latency;
  return respond(c, healthResponse, { status: "ok", database: { status: "ok", latency_ms: latency } });
};

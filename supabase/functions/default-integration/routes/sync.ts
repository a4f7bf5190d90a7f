// POST /default-integration: authenticate, read the body, run the action, shape the response.
import type { Context } from "hono";
import { ApiError, DatabaseUnavailableError, messages } from "../../_shared/errors.ts";
import { type AppEnv, elapsedMs, readJsonBody } from "../../_shared/http.ts";
import { respond } from "../../_shared/schemas.ts";
import { type AuthDeps, authenticate, type Principal } from "../auth.ts";
import { syncActivities } from "../actions/sync_activities.ts";
import { syncCollaborators } from "../actions/sync_collaborators.ts";
import { requestSchema, syncResponse } from "../schemas.ts";

export function syncHandler(deps: AuthDeps) {
  return async (c: Context<AppEnv>) => {
    const principal = await authenticate(c, deps);
    try {
      const body = await readJsonBody(c.req.raw);
      const parsed = requestSchema.safeParse(body);
      if (!parsed.success) throw new ApiError("VALIDATION_ERROR", messages.invalidAction);

      const action = parsed.data.action;
      c.get("log").action = action;
      const request = { requestId: c.get("requestId"), elapsedMs: () => elapsedMs(c) };
      const data = action === "sync_collaborators"
        ? await syncCollaborators(deps.db, principal, request, parsed.data.collaborators)
        : await syncActivities(deps.db, principal, request, parsed.data.activities);
      const { errors: _, ...counts } = data;
      c.get("log").item_counts = { ...counts, errors: data.errors.length };
      return respond(c, syncResponse, data);
    } catch (error) {
      // An unavailable database cannot take the log row either; anything else unexpected is a 500.
      if (!(error instanceof DatabaseUnavailableError)) {
        await logFailure(c, deps, principal, error instanceof ApiError ? error.status : 500);
      }
      throw error;
    }
  };
}

/** Logs an admitted request that did not succeed. Best effort: the error is the answer either way. */
async function logFailure(c: Context<AppEnv>, deps: AuthDeps, principal: Principal, status: number) {
  try {
    await deps.db.query(
      "select salesos.log_request($1::uuid, $2::uuid, $3::uuid, $4, $5, $6, $7::inet, $8, null)",
      [
        c.get("requestId"),
        principal.tenantId,
        principal.keyId,
        principal.environment,
        (c.get("log").action as string | undefined) ?? null,
        status,
        principal.ip,
        elapsedMs(c),
      ],
    );
  } catch {
    // The database is failing; the client still gets its error.
  }
}

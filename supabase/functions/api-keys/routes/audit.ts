// GET /api-keys/audit?limit&cursor&key_id&action: the tenant's key-management audit log, newest
// first: who (actor type, id, email) did what (action, changes) to which key, when, from where.
import type { Context } from "hono";
import type { AppEnv } from "../../_shared/http.ts";
import { respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize } from "../auth.ts";
import {
  type AuditEntry,
  auditPage,
  auditQuerySchema,
  decodeCursor,
  encodeCursor,
  messages,
  type PageOf,
  parseWith,
  serialIdPattern,
} from "../schemas.ts";

export function auditHandler(deps: RouteDeps) {
  return async (c: Context<AppEnv>) => {
    const actor = await authorize(c, deps);
    const query = parseWith(auditQuerySchema, c.req.query(), messages.invalidQuery);
    const after = decodeCursor(query.cursor, serialIdPattern);
    const [{ page }] = await deps.db.query<{ page: PageOf<AuditEntry> }>(
      "select salesos.audit_page($1::uuid, $2::uuid, $3, $4, $5::text::timestamptz, $6::bigint) as page",
      [actor.tenantId, query.key_id ?? null, query.action ?? null, query.limit, after?.at ?? null, after?.id ?? null],
    );
    return respond(c, auditPage, page.items, 200, { next_cursor: encodeCursor(page.next_cursor) });
  };
}

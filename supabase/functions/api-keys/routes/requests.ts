// GET /api-keys/:id/requests?limit&cursor: the key's request log, newest first, a page at a time.
import type { Context } from "hono";
import { ApiError } from "../../_shared/errors.ts";
import type { AppEnv } from "../../_shared/http.ts";
import { respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, keyIdParam } from "../auth.ts";
import {
  decodeCursor,
  encodeCursor,
  messages,
  type PageOf,
  pageQuerySchema,
  parseWith,
  type RequestLogEntry,
  requestLogPage,
  serialIdPattern,
} from "../schemas.ts";

export function requestsHandler(deps: RouteDeps) {
  return async (c: Context<AppEnv>) => {
    const actor = await authorize(c, deps);
    const keyId = keyIdParam(c);
    const query = parseWith(pageQuerySchema, c.req.query(), messages.invalidQuery);
    const after = decodeCursor(query.cursor, serialIdPattern);
    const [{ page }] = await deps.db.query<{ page: PageOf<RequestLogEntry> | null }>(
      "select salesos.api_key_requests($1::uuid, $2::uuid, $3, $4::text::timestamptz, $5::bigint) as page",
      [actor.tenantId, keyId, query.limit, after?.at ?? null, after?.id ?? null],
    );
    if (!page) throw new ApiError("NOT_FOUND", messages.keyNotFound);
    return respond(c, requestLogPage, page.items, 200, { next_cursor: encodeCursor(page.next_cursor) });
  };
}

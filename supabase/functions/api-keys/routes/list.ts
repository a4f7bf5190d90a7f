// GET /api-keys: the tenant's keys, newest first, a page at a time (meta.next_cursor), filtered by
// status and environment.
import type { Context } from "hono";
import type { AppEnv } from "../../_shared/http.ts";
import { respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize } from "../auth.ts";
import {
  type ApiKey,
  apiKeyPage,
  decodeCursor,
  encodeCursor,
  keyIdPattern,
  listQuerySchema,
  messages,
  type PageOf,
  parseWith,
} from "../schemas.ts";

export function listKeysHandler(deps: RouteDeps) {
  return async (c: Context<AppEnv>) => {
    const actor = await authorize(c, deps);
    const query = parseWith(listQuerySchema, c.req.query(), messages.invalidQuery);
    const after = decodeCursor(query.cursor, keyIdPattern);
    const [{ page }] = await deps.db.query<{ page: PageOf<ApiKey> }>(
      "select salesos.api_key_page($1::uuid, $2, $3, $4, $5::text::timestamptz, $6::uuid) as page",
      [
        actor.tenantId,
        query.status ?? null,
        query.environment ?? null,
        query.limit,
        after?.at ?? null,
        after?.id ?? null,
      ],
    );
    return respond(c, apiKeyPage, page.items, 200, { next_cursor: encodeCursor(page.next_cursor) });
  };
}

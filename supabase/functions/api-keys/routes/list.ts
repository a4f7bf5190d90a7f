// GET /api-keys: the tenant's keys, newest first, a page at a time (meta.next_cursor), filtered by
// status and environment.
import { z } from "zod";
import { jsonResponse, okExample, type RouteHandler } from "../../_shared/openapi.ts";
import { pageEnvelope, respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize } from "../auth.ts";
import {
  type ApiKey,
  apiKeySchema,
  decodeCursor,
  encodeCursor,
  exampleKey,
  keyIdPattern,
  keysRoute,
  messages,
  type PageOf,
  pageQuerySchema,
  parseWith,
} from "../schemas.ts";

const listQuerySchema = pageQuerySchema.extend({
  status: z.enum(["active", "revoked", "expired"]).optional(),
  environment: z.enum(["live", "test"]).optional(),
  auth_scheme: z.enum(["bearer", "signed"]).optional(),
});
const fieldMessages = {
  status: 'status must be "active", "revoked" or "expired"',
  auth_scheme: 'auth_scheme must be "bearer" or "signed"',
};

const apiKeyPage = pageEnvelope(apiKeySchema).meta({ id: "ApiKeyPage" });

export const route = keysRoute({
  method: "get",
  path: "/",
  operationId: "listApiKeys",
  summary: "List keys",
  description: "Newest first, a page at a time: pass `meta.next_cursor` as `cursor` for the next page. " +
    "Filters: `status`, `environment`, `auth_scheme`.",
  tags: ["Keys"],
  request: { query: listQuerySchema },
  responses: {
    200: jsonResponse("A page of keys.", apiKeyPage, {
      page: okExample("One key, last page", [exampleKey], { next_cursor: null }),
    }),
  },
});

export const handler: RouteHandler<RouteDeps> = (deps) => async (c) => {
  const actor = await authorize(c, deps);
  const query = parseWith(listQuerySchema, c.req.query(), messages.invalidQuery, fieldMessages);
  const after = decodeCursor(query.cursor, keyIdPattern);
  const [{ page }] = await deps.db.query<{ page: PageOf<ApiKey> }>(
    "select salesos.api_key_page($1::uuid, $2, $3, $4, $5::text::timestamptz, $6::uuid, $7) as page",
    [
      actor.tenantId,
      query.status ?? null,
      query.environment ?? null,
      query.limit,
      after?.at ?? null,
      after?.id ?? null,
      query.auth_scheme ?? null,
    ],
  );
  return respond(c, apiKeyPage, page.items, 200, { next_cursor: encodeCursor(page.next_cursor) });
};

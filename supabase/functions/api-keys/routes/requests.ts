// GET /api-keys/:id/requests?limit&cursor: the key's request log, newest first, a page at a time.
import { z } from "zod";
import { ApiError } from "../../_shared/errors.ts";
import { exampleMeta, jsonResponse, okExample, type RouteHandler } from "../../_shared/openapi.ts";
import { pageEnvelope, respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, keyIdParam } from "../auth.ts";
import {
  decodeCursor,
  encodeCursor,
  ipAddress,
  isoTime,
  keysRoute,
  messages,
  type PageOf,
  pageQuerySchema,
  parseWith,
  serialIdPattern,
} from "../schemas.ts";

const requestLogEntrySchema = z.strictObject({
  request_id: z.uuid(),
  time: isoTime,
  action: z.string().nullable(),
  status: z.int(),
  ip: ipAddress.nullable(),
  latency_ms: z.int().min(0),
  item_counts: z.record(z.string(), z.int()).nullable(),
}).meta({ id: "RequestLogEntry" });
const requestLogPage = pageEnvelope(requestLogEntrySchema).meta({ id: "RequestLogPage" });

export const route = keysRoute({
  method: "get",
  path: "/{id}/requests",
  operationId: "listApiKeyRequests",
  summary: "A key's request log",
  description: "Newest first, a page at a time: `request_id`, time, action, status, ip, latency, item counts.",
  tags: ["Usage"],
  request: { query: pageQuerySchema },
  responses: {
    200: jsonResponse("A page of requests.", requestLogPage, {
      page: okExample("One sync", [{
        request_id: exampleMeta.request_id,
        time: "2026-03-17T11:42:10.123Z",
        action: "sync_activities",
        status: 200,
        ip: "203.0.113.7",
        latency_ms: 18,
        item_counts: { total: 1, processed: 1, skipped: 0, duplicates: 0, errors: 0 },
      }], { next_cursor: null }),
    }),
  },
});

export const handler: RouteHandler<RouteDeps> = (deps) => async (c) => {
  const actor = await authorize(c, deps);
  const keyId = keyIdParam(c);
  const query = parseWith(pageQuerySchema, c.req.query(), messages.invalidQuery);
  const after = decodeCursor(query.cursor, serialIdPattern);
  const [{ page }] = await deps.db.query<{ page: PageOf<z.output<typeof requestLogEntrySchema>> | null }>(
    "select salesos.api_key_requests($1::uuid, $2::uuid, $3, $4::text::timestamptz, $5::bigint) as page",
    [actor.tenantId, keyId, query.limit, after?.at ?? null, after?.id ?? null],
  );
  if (!page) throw new ApiError("NOT_FOUND", messages.keyNotFound);
  return respond(c, requestLogPage, page.items, 200, { next_cursor: encodeCursor(page.next_cursor) });
};

// GET /api-keys/audit?limit&cursor&key_id&action: the tenant's key-management audit log, newest
// first: who (actor type, id, email) did what (action, changes) to which key, when, from where.
import { z } from "zod";
import { jsonResponse, okExample, type RouteHandler } from "../../_shared/openapi.ts";
import { pageEnvelope, respond } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize } from "../auth.ts";
import {
  decodeCursor,
  encodeCursor,
  exampleKey,
  ipAddress,
  isoTime,
  keyIdPattern,
  keysRoute,
  messages,
  type PageOf,
  pageQuerySchema,
  parseWith,
  serialIdPattern,
} from "../schemas.ts";

const auditActions = ["key.create", "key.update", "key.revoke", "key.rotate", "key.delete"] as const;

const auditQuerySchema = pageQuerySchema.extend({
  key_id: z.string().regex(keyIdPattern).optional(),
  action: z.enum(auditActions).optional(),
});
const fieldMessages = {
  key_id: "key_id must be an API key id (uuid)",
  action: `action must be one of ${auditActions.join(", ")}`,
};

const auditEntrySchema = z.strictObject({
  id: z.int().min(1),
  time: isoTime,
  action: z.enum(auditActions),
  actor: z.strictObject({
    type: z.enum(["user", "service_role", "cli"]),
    id: z.string().nullable(),
    email: z.string().nullable(),
  }),
  key_id: z.uuid().nullable(),
  key_prefix: z.string().nullable(),
  source_ip: ipAddress.nullable(),
  changes: z.record(z.string(), z.unknown()).nullable().meta({
    description:
      "key.update: `{field: {from, to}}`; key.rotate: the new key; key.create: the settings (and `rotated_from`, the old key's id, for a key made by a rotation); others: a summary",
  }),
}).meta({ id: "AuditEntry" });
const auditPage = pageEnvelope(auditEntrySchema).meta({ id: "AuditPage" });

export const route = keysRoute({
  method: "get",
  path: "/audit",
  operationId: "listAuditEntries",
  summary: "The tenant's audit log",
  description: "Who did what to which key, when and from where; newest first, a page at a time.",
  tags: ["Audit"],
  request: { query: auditQuerySchema },
  responses: {
    200: jsonResponse("A page of audit entries.", auditPage, {
      page: okExample("A key's creation", [{
        id: 1,
        time: "2026-03-17T12:00:00.000Z",
        action: "key.create",
        actor: { type: "user", id: exampleKey.created_by, email: "owner@acme.example" },
        key_id: exampleKey.id,
        key_prefix: exampleKey.key_prefix,
        source_ip: "203.0.113.7",
        changes: { name: "CRM sync", environment: "live", scopes: ["default:sync"] },
      }], { next_cursor: null }),
    }),
  },
});

export const handler: RouteHandler<RouteDeps> = (deps) => async (c) => {
  const actor = await authorize(c, deps);
  const query = parseWith(auditQuerySchema, c.req.query(), messages.invalidQuery, fieldMessages);
  const after = decodeCursor(query.cursor, serialIdPattern);
  const [{ page }] = await deps.db.query<{ page: PageOf<z.output<typeof auditEntrySchema>> }>(
    "select salesos.audit_page($1::uuid, $2::uuid, $3, $4, $5::text::timestamptz, $6::bigint) as page",
    [actor.tenantId, query.key_id ?? null, query.action ?? null, query.limit, after?.at ?? null, after?.id ?? null],
  );
  return respond(c, auditPage, page.items, 200, { next_cursor: encodeCursor(page.next_cursor) });
};

// GET /api-keys/:id/usage?from&to&bucket=hour|day: request counts per UTC bucket by status class,
// plus last_used_at, last_used_ip and the lifetime request_count.
import { z } from "zod";
import { ApiError } from "../../_shared/errors.ts";
import { jsonResponse, okExample, type RouteHandler } from "../../_shared/openapi.ts";
import { inIsoYears, respond, successEnvelope } from "../../_shared/schemas.ts";
import type { RouteDeps } from "../app.ts";
import { authorize, keyIdParam } from "../auth.ts";
import { exampleKeyId, ipAddress, isoTime, keysRoute, messages, parseWith } from "../schemas.ts";

const maxUsageBuckets = 1000;
const hourMs = 3_600_000;
const bucketMs = { hour: hourMs, day: 24 * hourMs } as const;
const defaultRangeMs = { hour: 24 * hourMs, day: 30 * 24 * hourMs } as const;

/** `from`..`to` (default: the last 24 hours, or 30 days for day buckets), at most 1000 buckets. */
const usageQuerySchema = z.object({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  bucket: z.enum(["hour", "day"]).default("hour"),
}).transform((q, ctx) => {
  const to = q.to ? new Date(q.to) : new Date();
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - defaultRangeMs[q.bucket]);
  const outOfYears = !inIsoYears(from) ? "from" : !inIsoYears(to) ? "to" : null;
  if (outOfYears) {
    ctx.addIssue({
      code: "custom",
      path: [outOfYears],
      message: `${outOfYears} must be within the years 0001-9999 UTC`,
    });
  } else if (from >= to) {
    ctx.addIssue({ code: "custom", path: ["from"], message: "from must be before to" });
  } else if ((to.getTime() - from.getTime()) / bucketMs[q.bucket] > maxUsageBuckets - 1) {
    ctx.addIssue({
      code: "custom",
      path: ["from"],
      message: `from..to spans more than ${maxUsageBuckets} ${q.bucket} buckets`,
    });
  }
  return { from: from.toISOString(), to: to.toISOString(), bucket: q.bucket };
});
const fieldMessages = {
  from: "from must be an ISO 8601 date-time with offset or Z",
  to: "to must be an ISO 8601 date-time with offset or Z",
  bucket: 'bucket must be "hour" or "day"',
};

const usageCounts = {
  total: z.int().min(0),
  "2xx": z.int().min(0),
  "4xx": z.int().min(0),
  "429": z.int().min(0).meta({ description: "Refusals for the rate or concurrency limit (counted in 4xx too)" }),
  "5xx": z.int().min(0),
};

const usageSchema = z.strictObject({
  key_id: z.uuid(),
  from: isoTime,
  to: isoTime,
  bucket: z.enum(["hour", "day"]),
  totals: z.strictObject(usageCounts),
  buckets: z.array(z.strictObject({ start: isoTime, ...usageCounts })).meta({
    description: "Every bucket of [from, to), in UTC, empty ones included",
  }),
  last_used_at: isoTime.nullable(),
  last_used_ip: ipAddress.nullable(),
  request_count: z.int().min(0),
}).meta({ id: "ApiKeyUsage" });
const usageResponse = successEnvelope(usageSchema).meta({ id: "ApiKeyUsageResponse" });

const counts = (total: number, ok: number, clientErrors: number, limited: number) => ({
  total,
  "2xx": ok,
  "4xx": clientErrors,
  "429": limited,
  "5xx": 0,
});

export const route = keysRoute({
  method: "get",
  path: "/{id}/usage",
  operationId: "getApiKeyUsage",
  summary: "A key's usage",
  description: `Request counts per UTC \`hour\` (default) or \`day\` bucket of [\`from\`, \`to\`) (default: the
last 24 hours, or 30 days for days; at most ${maxUsageBuckets} buckets, empty ones included), by status
class, plus \`last_used_at\`, \`last_used_ip\` and \`request_count\`.`,
  tags: ["Usage"],
  request: { query: usageQuerySchema },
  responses: {
    200: jsonResponse("Counts per bucket.", usageResponse, {
      usage: okExample("Two hours", {
        key_id: exampleKeyId,
        from: "2026-03-17T10:00:00.000Z",
        to: "2026-03-17T12:00:00.000Z",
        bucket: "hour",
        totals: counts(3, 2, 1, 1),
        buckets: [
          { start: "2026-03-17T10:00:00.000Z", ...counts(0, 0, 0, 0) },
          { start: "2026-03-17T11:00:00.000Z", ...counts(3, 2, 1, 1) },
        ],
        last_used_at: "2026-03-17T11:42:10.123Z",
        last_used_ip: "203.0.113.7",
        request_count: 3,
      }),
    }),
  },
});

export const handler: RouteHandler<RouteDeps> = (deps) => async (c) => {
  const actor = await authorize(c, deps);
  const keyId = keyIdParam(c);
  const query = parseWith(usageQuerySchema, c.req.query(), messages.invalidQuery, fieldMessages);
  const [{ usage }] = await deps.db.query<{ usage: z.output<typeof usageSchema> | null }>(
    "select salesos.api_key_usage($1::uuid, $2::uuid, $3::timestamptz, $4::timestamptz, $5) as usage",
    [actor.tenantId, keyId, query.from, query.to, query.bucket],
  );
  if (!usage) throw new ApiError("NOT_FOUND", messages.keyNotFound);
  return respond(c, usageResponse, usage);
};

// Request and response shapes of the api-keys function (the source of its handlers' validation and
// types and of its OpenAPI document), its messages, and the helpers that turn a failed parse into
// the contract's 400 VALIDATION_ERROR with one `details` entry per invalid field.
import { z } from "zod";
import { ApiError, type ErrorDetail, messages as sharedMessages } from "../_shared/errors.ts";
import { keySettingsSchema, knownScopes } from "./key_settings.ts";
import { inIsoYears, pageEnvelope, successEnvelope } from "../_shared/schemas.ts";

export const messages = {
  missingAuthorization: "Missing or malformed Authorization header. Expected: Bearer <Dashboard access token>",
  apiKeyNotAccepted: "API keys cannot manage API keys. Send a Dashboard access token (JWT)",
  invalidToken: "Invalid or expired access token",
  forbidden: "Missing capability admin.integrations in this tenant",
  invalidTenant: "Invalid tenant",
  tenantAmbiguous: "You manage API keys in several tenants: name one with X-Tenant-Id",
  tenantRequired: "A service_role token must name a tenant with X-Tenant-Id or tenant_id in the body",
  tenantNotFound: "Tenant not found",
  keyNotFound: "API key not found",
  keyNotActive: "API key is revoked or expired",
  keyLimit: (max: number) =>
    `Active key limit reached: a tenant holds at most ${max} active keys. Revoke or delete one first`,
  invalidSettings: "Invalid API key settings",
  invalidRotation: "Invalid rotation request",
  invalidQuery: "Invalid query parameters",
  invalidBody: sharedMessages.invalidJson,
} as const;

export const maxPageSize = 100;
export const defaultPageSize = 20;
export const maxGracePeriodSeconds = 7 * 24 * 60 * 60;
export const maxUsageBuckets = 1000;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: unknown): value is string => typeof value === "string" && uuidPattern.test(value);

// --- key settings (create and patch) ---

const fieldMessages: Record<string, string> = {
  name: "name must be a string of 1-100 characters",
  environment: 'environment must be "live" or "test"',
  scopes: "scopes must be an array of known scopes: default:sync, leads:read, leads:write",
  rate_limit_per_hour: "rate_limit_per_hour must be an integer from 1 to 100000",
  expires_at: "expires_at must be an ISO 8601 date-time with offset or Z, in the future",
  ip_allowlist: "ip_allowlist must be an array of at most 100 IPv4/IPv6 addresses or CIDR blocks",
  grace_period_seconds: `grace_period_seconds must be an integer from 0 to ${maxGracePeriodSeconds}`,
  limit: `limit must be an integer from 1 to ${maxPageSize}`,
  status: 'status must be "active", "revoked" or "expired"',
  from: "from must be an ISO 8601 date-time with offset or Z",
  to: "to must be an ISO 8601 date-time with offset or Z",
  bucket: 'bucket must be "hour" or "day"',
  key_id: "key_id must be an API key id (uuid)",
  action: "action must be one of key.create, key.update, key.revoke, key.rotate, key.delete",
};

/** keySettingsSchema with each field described by its `details` message, for the OpenAPI document. */
const describedSettings = z.object(
  Object.fromEntries(
    Object.entries(keySettingsSchema.shape).map((
      [field, schema],
    ) => [field, schema.meta({ description: fieldMessages[field] })]),
  ) as typeof keySettingsSchema.shape,
);

export const createKeySchema = describedSettings.meta({ id: "CreateApiKeyRequest" });

/** PATCH: any of the settings but `environment` (400), validated like create; null clears expires_at, ip_allowlist. */
export const updateKeySchema = describedSettings.omit({ environment: true }).partial().meta({
  id: "UpdateApiKeyRequest",
});
export type KeyPatch = z.infer<typeof updateKeySchema>;

function fieldName(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === "number" ? `[${part}]` : `${i ? "." : ""}${String(part)}`)).join("");
}

function details(error: z.ZodError): ErrorDetail[] {
  const byField = new Map<string, string>();
  for (const issue of error.issues) {
    const field = fieldName(issue.path);
    if (byField.has(field)) continue;
    const fallback = fieldMessages[String(issue.path[0])] ?? issue.message;
    byField.set(field, issue.code === "custom" ? issue.message : fallback);
  }
  return [...byField].map(([field, message]) => ({ field, message }));
}

export function parseWith<T extends z.ZodType>(schema: T, value: unknown, message: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ApiError("VALIDATION_ERROR", message, { details: details(parsed.error) });
  return parsed.data;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** A JSON body that must be an object, parsed with `schema`. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown, message: string): z.infer<T> {
  if (!isObject(body)) throw new ApiError("VALIDATION_ERROR", messages.invalidBody);
  return parseWith(schema, body, message);
}

/** PATCH: validated like create, but only the fields sent; `environment` cannot change. */
export function parsePatch(body: unknown): KeyPatch {
  if (!isObject(body)) throw new ApiError("VALIDATION_ERROR", messages.invalidBody);
  if ("environment" in body) {
    throw new ApiError("VALIDATION_ERROR", messages.invalidSettings, {
      details: [{ field: "environment", message: "environment cannot be changed: create a new key instead" }],
    });
  }
  const parsed = parseWith(updateKeySchema, body, messages.invalidSettings);
  // partial() still fills in defaults: keep exactly the fields the client sent.
  return Object.fromEntries(Object.entries(parsed).filter(([field]) => field in body)) as KeyPatch;
}

export const rotateSchema = z.object({
  grace_period_seconds: z.int().min(0).max(maxGracePeriodSeconds).default(0).meta({
    description: "The old key keeps working this long (never longer than it would have anyway)",
  }),
}).meta({ id: "RotateApiKeyRequest" });

// --- query strings ---

const limit = z.coerce.number().int().min(1).max(maxPageSize).default(defaultPageSize);

export const listQuerySchema = z.object({
  limit,
  cursor: z.string().optional(),
  status: z.enum(["active", "revoked", "expired"]).optional(),
  environment: z.enum(["live", "test"]).optional(),
});

export const pageQuerySchema = z.object({ limit, cursor: z.string().optional() });

export const auditActions = ["key.create", "key.update", "key.revoke", "key.rotate", "key.delete"] as const;

export const auditQuerySchema = z.object({
  limit,
  cursor: z.string().optional(),
  key_id: z.string().regex(uuidPattern).optional(),
  action: z.enum(auditActions).optional(),
});

const hourMs = 3_600_000;
const bucketMs = { hour: hourMs, day: 24 * hourMs } as const;
const defaultRangeMs = { hour: 24 * hourMs, day: 30 * 24 * hourMs } as const;

/** `from`..`to` (default: the last 24 hours, or 30 days for day buckets), at most 1000 buckets. */
export const usageQuerySchema = z.object({
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

// --- cursors: opaque to clients; "<time to the microsecond>|<row id>" inside. The time goes to
// SQL as text: postgres.js would pass a timestamptz parameter through a JS Date and lose the
// microseconds, and with them rows that share a millisecond. ---

const cursorPattern = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)\|(.+)$/;

export function encodeCursor(position: string | null): string | null {
  if (position === null) return null;
  return btoa(position).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** A time Postgres takes: a real calendar date (no 30 February, no 24:00) from year 1 on. */
function isCursorTime(at: string): boolean {
  const toMillisecond = `${at.slice(0, 23)}Z`;
  const date = new Date(toMillisecond);
  return inIsoYears(date) && date.toISOString() === toMillisecond;
}

/** The position in a cursor, or 400 when it is not one of ours for this kind of row. */
export function decodeCursor(cursor: string | undefined, id: RegExp): { at: string; id: string } | null {
  if (cursor === undefined) return null;
  let match: RegExpExecArray | null = null;
  try {
    match = cursorPattern.exec(atob(cursor.replaceAll("-", "+").replaceAll("_", "/")));
  } catch {
    // not base64
  }
  if (!match || !isCursorTime(match[1]) || !id.test(match[2])) {
    throw new ApiError("VALIDATION_ERROR", messages.invalidQuery, {
      details: [{ field: "cursor", message: "cursor must be a next_cursor value returned by this endpoint" }],
    });
  }
  return { at: match[1], id: match[2] };
}

export const keyIdPattern = uuidPattern;
// 18 digits stay below bigint's maximum (a 19-digit id could overflow it in SQL: a 500).
export const serialIdPattern = /^\d{1,18}$/;

// --- path and headers (documentation of what auth.ts checks with isUuid) ---

const uuidString = z.string().regex(uuidPattern).meta({ format: "uuid" });

export const keyPathSchema = z.object({
  id: uuidString.meta({ description: "The key's id. Any other value, or a key of another tenant, is 404." }),
});
export const tenantHeaderSchema = uuidString;

// --- responses ---

const isoTime = z.iso.datetime();
const ipAddress = z.union([z.ipv4(), z.ipv6()]);

/** The key object (contract section 4): never the plaintext, never the hash. */
export const apiKeySchema = z.object({
  id: z.uuid(),
  name: z.string(),
  key_prefix: z.string().regex(/^sk_(live|test)_[a-z0-9]{8}$/).meta({
    description: "`sk_live_` or `sk_test_` and the key's 8-character public id",
  }),
  environment: z.enum(["live", "test"]),
  scopes: z.array(z.enum(knownScopes)).meta({ description: "Empty: unrestricted" }),
  rate_limit_per_hour: z.int().min(1).max(100_000),
  ip_allowlist: z.array(z.string()).meta({ description: "Addresses and CIDR blocks; empty: any address" }),
  expires_at: isoTime.nullable(),
  status: z.enum(["active", "revoked", "expired"]),
  created_at: isoTime,
  created_by: z.uuid().nullable().meta({ description: "The Dashboard user who created it; null for tools" }),
  revoked_at: isoTime.nullable(),
  last_used_at: isoTime.nullable(),
  last_used_ip: ipAddress.nullable(),
  request_count: z.int().min(0),
}).meta({ id: "ApiKey" });
export type ApiKey = z.output<typeof apiKeySchema>;

const plaintextKey = z.string().regex(/^sk_(live|test)_[a-z0-9]{32}$/).meta({
  description: "The key itself: returned by this answer only, never again. Store it in a secret manager.",
});

export const createdApiKeySchema = z.object({ ...apiKeySchema.shape, key: plaintextKey }).meta({
  id: "CreatedApiKey",
});

export const rotatedApiKeySchema = z.object({
  ...apiKeySchema.shape,
  key: plaintextKey,
  rotated_from: z.object({
    id: z.uuid(),
    key_prefix: z.string(),
    expires_at: isoTime.nullable().meta({ description: "When the old key stops working" }),
  }),
}).meta({ id: "RotatedApiKey" });

export const deletedApiKeySchema = z.object({
  id: z.uuid(),
  key_prefix: z.string(),
  deleted: z.literal(true),
}).meta({ id: "DeletedApiKey" });
export type DeletedApiKey = z.output<typeof deletedApiKeySchema>;

const usageCounts = {
  total: z.int().min(0),
  "2xx": z.int().min(0),
  "4xx": z.int().min(0),
  "5xx": z.int().min(0),
};

export const usageSchema = z.object({
  key_id: z.uuid(),
  from: isoTime,
  to: isoTime,
  bucket: z.enum(["hour", "day"]),
  totals: z.object(usageCounts),
  buckets: z.array(z.object({ start: isoTime, ...usageCounts })).meta({
    description: "Every bucket of [from, to), in UTC, empty ones included",
  }),
  last_used_at: isoTime.nullable(),
  last_used_ip: ipAddress.nullable(),
  request_count: z.int().min(0),
}).meta({ id: "ApiKeyUsage" });
export type ApiKeyUsage = z.output<typeof usageSchema>;

export const requestLogEntrySchema = z.object({
  request_id: z.uuid(),
  time: isoTime,
  action: z.string().nullable(),
  status: z.int(),
  ip: ipAddress.nullable(),
  latency_ms: z.int().min(0),
  item_counts: z.record(z.string(), z.int()).nullable(),
}).meta({ id: "RequestLogEntry" });
export type RequestLogEntry = z.output<typeof requestLogEntrySchema>;

export const auditEntrySchema = z.object({
  id: z.int().min(1),
  time: isoTime,
  action: z.enum(auditActions),
  actor: z.object({
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
export type AuditEntry = z.output<typeof auditEntrySchema>;

export const apiKeyResponse = successEnvelope(apiKeySchema).meta({ id: "ApiKeyResponse" });
export const createdApiKeyResponse = successEnvelope(createdApiKeySchema).meta({ id: "CreatedApiKeyResponse" });
export const rotatedApiKeyResponse = successEnvelope(rotatedApiKeySchema).meta({ id: "RotatedApiKeyResponse" });
export const deletedApiKeyResponse = successEnvelope(deletedApiKeySchema).meta({ id: "DeletedApiKeyResponse" });
export const usageResponse = successEnvelope(usageSchema).meta({ id: "ApiKeyUsageResponse" });
export const apiKeyPage = pageEnvelope(apiKeySchema).meta({ id: "ApiKeyPage" });
export const requestLogPage = pageEnvelope(requestLogEntrySchema).meta({ id: "RequestLogPage" });
export const auditPage = pageEnvelope(auditEntrySchema).meta({ id: "AuditPage" });

/** What the page functions of the migrations return. */
export interface PageOf<T> {
  items: T[];
  next_cursor: string | null;
}

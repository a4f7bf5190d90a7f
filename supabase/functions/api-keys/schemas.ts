// Request shapes of the api-keys function, its messages, and the helpers that turn a failed parse
// into the contract's 400 VALIDATION_ERROR with one `details` entry per invalid field.
import { z } from "zod";
import { ApiError, type ErrorDetail, messages as sharedMessages } from "../_shared/errors.ts";
import { keySettingsSchema } from "../_shared/key-settings.ts";

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

export const createKeySchema = keySettingsSchema;
export type CreateKey = z.infer<typeof createKeySchema>;

const patchableSchema = keySettingsSchema.omit({ environment: true }).partial();
export type KeyPatch = Partial<z.infer<typeof patchableSchema>>;

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
  const parsed = parseWith(patchableSchema, body, messages.invalidSettings);
  // partial() still fills in defaults: keep exactly the fields the client sent.
  return Object.fromEntries(Object.entries(parsed).filter(([field]) => field in body)) as KeyPatch;
}

export const rotateSchema = z.object({
  grace_period_seconds: z.int().min(0).max(maxGracePeriodSeconds).default(0),
});

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
  if (from >= to) {
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

/** The position in a cursor, or 400 when it is not one of ours for this kind of row. */
export function decodeCursor(cursor: string | undefined, id: RegExp): { at: string; id: string } | null {
  if (cursor === undefined) return null;
  let match: RegExpExecArray | null = null;
  try {
    match = cursorPattern.exec(atob(cursor.replaceAll("-", "+").replaceAll("_", "/")));
  } catch {
    // not base64
  }
  if (!match || !id.test(match[2])) {
    throw new ApiError("VALIDATION_ERROR", messages.invalidQuery, {
      details: [{ field: "cursor", message: "cursor must be a next_cursor value returned by this endpoint" }],
    });
  }
  return { at: match[1], id: match[2] };
}

export const keyIdPattern = uuidPattern;
export const serialIdPattern = /^\d{1,19}$/;

// What the api-keys routes share: messages, the key object and its examples, the key settings as
// documented, query paging and cursors, the error answers of the document, and the helpers that
// turn a failed parse into a 400 VALIDATION_ERROR with one `details` entry per invalid field.
import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import { z } from "zod";
import { ApiError, type ErrorDetail, messages as sharedMessages } from "../_shared/errors.ts";
import { errorExample, errorResponses, responseRef } from "../_shared/openapi.ts";
import { keySettingsSchema, knownScopes } from "./key_settings.ts";
import { inIsoYears, successEnvelope } from "../_shared/schemas.ts";

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
  auth_scheme: 'auth_scheme must be "bearer" or "signed" (signed: P2S-SIGN-V1 requests, with a secret)',
  limit: `limit must be an integer from 1 to ${maxPageSize}`,
};

/** keySettingsSchema with each field described by its `details` message, for the OpenAPI document. */
const describedSettings = z.object(
  Object.fromEntries(
    Object.entries(keySettingsSchema.shape).map((
      [field, schema],
    ) => [field, schema.meta({ description: fieldMessages[field] })]),
  ) as typeof keySettingsSchema.shape,
);

export { describedSettings as keySettings };

function fieldName(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === "number" ? `[${part}]` : `${i ? "." : ""}${String(part)}`)).join("");
}

function details(error: z.ZodError, messages: Record<string, string>): ErrorDetail[] {
  const byField = new Map<string, string>();
  for (const issue of error.issues) {
    const field = fieldName(issue.path);
    if (byField.has(field)) continue;
    const fallback = messages[String(issue.path[0])] ?? fieldMessages[String(issue.path[0])] ?? issue.message;
    byField.set(field, issue.code === "custom" ? issue.message : fallback);
  }
  return [...byField].map(([field, message]) => ({ field, message }));
}

/** `value` parsed with `schema`; `fieldMessages`: the `details` message of each of its own fields. */
export function parseWith<T extends z.ZodType>(
  schema: T,
  value: unknown,
  message: string,
  fieldMessages: Record<string, string> = {},
): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ApiError("VALIDATION_ERROR", message, { details: details(parsed.error, fieldMessages) });
  }
  return parsed.data;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** A JSON body that must be an object, parsed with `schema`. */
export function parseBody<T extends z.ZodType>(
  schema: T,
  body: unknown,
  message: string,
  fieldMessages?: Record<string, string>,
): z.infer<T> {
  if (!isObject(body)) throw new ApiError("VALIDATION_ERROR", messages.invalidBody);
  return parseWith(schema, body, message, fieldMessages);
}

// --- query strings ---

const limit = z.coerce.number().int().min(1).max(maxPageSize).default(defaultPageSize);

/** `limit` and `cursor`: a page of a list, newest first. */
export const pageQuerySchema = z.object({ limit, cursor: z.string().optional() });

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

export const keyPathSchema = z.object({
  id: z.string().regex(uuidPattern).meta({
    format: "uuid",
    description: "The key's id. Any other value, or a key of another tenant, is 404.",
  }),
});

/** X-Tenant-Id, as components.parameters.TenantId documents it. */
export const tenantParameter = {
  name: "X-Tenant-Id",
  in: "header",
  description: "The tenant to act for: needed by a user who manages several tenants, and by a `service_role` " +
    "token (which may instead send `tenant_id` in a JSON body). Not a uuid: 400.",
  required: false,
  schema: { type: "string", pattern: uuidPattern.source, format: "uuid" },
};

// --- responses ---

export const isoTime = z.iso.datetime();
export const ipAddress = z.union([z.ipv4().meta({ format: "ipv4" }), z.ipv6().meta({ format: "ipv6" })]);

/** The key object: never the plaintext, never the hash. */
export const apiKeySchema = z.strictObject({
  id: z.uuid(),
  name: z.string(),
  key_prefix: z.string().regex(/^sk_(live|test)_[a-z0-9]{8}$/).meta({
    description: "`sk_live_` or `sk_test_` and the key's 8-character public id",
  }),
  environment: z.enum(["live", "test"]),
  auth_scheme: z.enum(["bearer", "signed"]).meta({
    description:
      "`bearer`: `Authorization: Bearer <key>`; `signed`: P2S-SIGN-V1 signed requests only (kept by a rotation)",
  }),
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

export const plaintextSecret = z.string().regex(/^[0-9a-f]{64}$/).meta({
  description: "Signed keys only: the secret that signs requests (P2S-SIGN-V1), 64 lowercase hex characters. " +
    "Returned by this answer only, never again; never sent on a request.",
});

export const plaintextKey = z.string().regex(/^sk_(live|test)_[a-z0-9]{32}$/).meta({
  description: "The key itself: returned by this answer only, never again. Store it in a secret manager.",
});

export const apiKeyResponse = successEnvelope(apiKeySchema).meta({ id: "ApiKeyResponse" });

/** What the page functions of the migrations return. */
export interface PageOf<T> {
  items: T[];
  next_cursor: string | null;
}

// --- documentation: examples and error answers ---

export const exampleKeyId = "5f0c2a8e-3b1d-4c7a-9e2f-8a6b4d1c0e93";
export const exampleKey: ApiKey = {
  id: exampleKeyId,
  name: "CRM sync",
  key_prefix: "sk_live_a1b2c3d4",
  environment: "live",
  auth_scheme: "bearer",
  scopes: ["default:sync"],
  rate_limit_per_hour: 5000,
  ip_allowlist: [],
  expires_at: null,
  status: "active",
  created_at: "2026-03-17T12:00:00.000Z",
  created_by: "2c9a7e41-6d3f-4b8e-a1c5-7f0e9d2b4a68",
  revoked_at: null,
  last_used_at: null,
  last_used_ip: null,
  request_count: 0,
};

export const keyNotActiveExample = errorExample("Revoked or expired key", "CONFLICT", messages.keyNotActive);
export const keyLimitExample = (summary: string) => errorExample(summary, "CONFLICT", messages.keyLimit(100));

/**
 * createRoute with what every route shares: X-Tenant-Id and the error answers of an authenticated
 * request (and of reading a body, but for GET); a `/{id}` route also has its key id parameter and
 * 404 KeyNotFound, any other 404 TenantNotFound. `config` may override any of these.
 */
export function keysRoute(config: RouteConfig) {
  const forKey = config.path.includes("{id}");
  return createRoute({
    parameters: [{ $ref: "#/components/parameters/TenantId" }],
    ...config,
    request: forKey ? { params: keyPathSchema, ...config.request } : config.request,
    responses: {
      ...errorResponses(400, 401, 403, 500, 503),
      ...(config.method === "get" ? {} : errorResponses(413, 415, 429)),
      404: responseRef(forKey ? "KeyNotFound" : "TenantNotFound"),
      ...config.responses,
    },
  });
}

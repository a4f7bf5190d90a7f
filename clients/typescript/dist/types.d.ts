/** A collaborator (salesperson) as sent to `sync_collaborators`. `null` means "not given". */
export interface Collaborator {
    /** Your system's id, 1-255 characters, unique per tenant and environment. */
    external_id: string;
    name: string;
    /** The identity: matched case-insensitively, trimmed. */
    email: string;
    phone?: string | null;
    document?: string | null;
    team?: string | null;
    role?: string | null;
    /** A JSON object of at most 16 KiB serialized; replaces the stored one as a whole. */
    metadata?: Record<string, unknown> | null;
}
/** An activity as sent to `sync_activities`. */
export interface Activity {
    /** Three digits, `001`-`999`. */
    activity_code: string;
    /** Your system's id of the activity: a replayed one counts as a duplicate. */
    external_id: string;
    collaborator_email: string;
    /** A JSON object of at most 16 KiB serialized. */
    data?: Record<string, unknown> | null;
    /** ISO 8601 with `Z` or an offset, at most 24 h ahead; defaults to the time received. */
    occurred_at?: string | null;
}
export interface SyncCollaboratorsResult {
    created: number;
    existing: number;
    /** `Collaborator <external_id> (<email>): <reason>` per item left out. */
    errors: string[];
    total: number;
}
export interface SyncActivitiesResult {
    processed: number;
    skipped: number;
    duplicates: number;
    errors: string[];
    total: number;
}
export type ErrorCode = "VALIDATION_ERROR" | "UNAUTHORIZED" | "FORBIDDEN" | "NOT_FOUND" | "METHOD_NOT_ALLOWED" | "CONFLICT" | "PAYLOAD_TOO_LARGE" | "UNSUPPORTED_MEDIA_TYPE" | "IDEMPOTENCY_KEY_REUSED" | "RATE_LIMITED" | "SERVER_ERROR" | "SERVICE_UNAVAILABLE";
export interface ErrorDetail {
    /** Position of the item in the request; the sync helpers map it to the position in your input. */
    index?: number;
    field: string;
    message: string;
}
export interface ResponseMeta {
    request_id: string;
    timestamp: string;
    next_cursor?: string | null;
}
export declare const scopes: readonly ["default:sync", "leads:read", "leads:write"];
export type Scope = (typeof scopes)[number];
export type Environment = "live" | "test";
export type ApiKeyStatus = "active" | "revoked" | "expired";
/** `bearer`: `Authorization: Bearer <key>`; `signed`: P2S-SIGN-V1 signed requests (key + secret). */
export type AuthScheme = "bearer" | "signed";
/** `POST /api-keys`. */
export interface CreateApiKeyInput {
    name: string;
    scopes?: Scope[];
    /** Default `live`. */
    environment?: Environment;
    /** 1-100000, default 1000. */
    rate_limit_per_hour?: number;
    expires_at?: string | null;
    /** At most 100 IPv4/IPv6 addresses or CIDR blocks. */
    ip_allowlist?: string[] | null;
    /** Default `bearer`; `signed`: the answer also holds `secret`, this once. */
    auth_scheme?: AuthScheme;
}
/** `PATCH /api-keys/:id`: only the fields given change. */
export type UpdateApiKeyInput = Partial<Omit<CreateApiKeyInput, "environment" | "auth_scheme">>;
/** The key object: never the plaintext, never the hash. */
export interface ApiKey {
    id: string;
    name: string;
    key_prefix: string;
    environment: Environment;
    auth_scheme: AuthScheme;
    scopes: Scope[];
    rate_limit_per_hour: number;
    ip_allowlist: string[];
    expires_at: string | null;
    status: ApiKeyStatus;
    created_at: string;
    created_by: string | null;
    revoked_at: string | null;
    last_used_at: string | null;
    last_used_ip: string | null;
    request_count: number;
}
/** Returned by create and rotate only: `key` is the plaintext, shown this once. */
export interface ApiKeyWithSecret extends ApiKey {
    key: string;
    /** Signed keys only: the secret that signs requests, shown this once. */
    secret?: string;
}
/** Returned by rotate: the new key, and what became of the old one. */
export interface RotatedApiKey extends ApiKeyWithSecret {
    /** The old key: it stops working at `expires_at` (now, or after the grace period). */
    rotated_from: {
        id: string;
        key_prefix: string;
        expires_at: string | null;
    };
}
export interface DeletedApiKey {
    id: string;
    key_prefix: string;
    deleted: true;
}
export interface Page<T> {
    items: T[];
    /** Pass as `cursor` for the next page; null on the last one. */
    nextCursor: string | null;
}
export interface UsageCounts {
    total: number;
    "2xx": number;
    "4xx": number;
    /** Rate and concurrency refusals, also counted in 4xx. */
    "429": number;
    "5xx": number;
}
export interface ApiKeyUsage {
    key_id: string;
    from: string;
    to: string;
    bucket: "hour" | "day";
    totals: UsageCounts;
    buckets: (UsageCounts & {
        start: string;
    })[];
    last_used_at: string | null;
    last_used_ip: string | null;
    request_count: number;
}
export interface RequestLogEntry {
    request_id: string;
    time: string;
    action: string | null;
    status: number;
    ip: string | null;
    latency_ms: number;
    item_counts: Record<string, number> | null;
}
export type AuditAction = "key.create" | "key.update" | "key.revoke" | "key.rotate" | "key.delete";
export interface AuditEntry {
    id: number;
    time: string;
    action: AuditAction;
    /** `cli`: `deno task keys` on the operator's machine. */
    actor: {
        type: "user" | "service_role" | "cli";
        id: string | null;
        email: string | null;
    };
    key_id: string | null;
    key_prefix: string | null;
    source_ip: string | null;
    changes: Record<string, unknown> | null;
}

import { type TransportOptions } from "./http.ts";
import type { ApiKey, ApiKeyStatus, ApiKeyUsage, ApiKeyWithSecret, AuditEntry, AuthScheme, CreateApiKeyInput, DeletedApiKey, Environment, Page, RequestLogEntry, RotatedApiKey, UpdateApiKeyInput } from "./types.ts";
export interface SalesOSKeysClientOptions extends TransportOptions {
    /**
     * A Supabase Auth access token of a tenant owner or admin (or a `service_role` token), or a
     * function returning the current one: it is called before every request, so a refreshed
     * session is picked up.
     */
    accessToken: string | (() => string | Promise<string>);
    /** Sent as `X-Tenant-Id`: needed with a service_role token, or when the user administers several tenants. */
    tenantId?: string;
}
export interface PageQuery {
    limit?: number;
    cursor?: string;
}
export interface CallOptions {
    signal?: AbortSignal;
}
export declare class SalesOSKeysClient {
    #private;
    constructor(options: SalesOSKeysClientOptions);
    /** Creates a key. The plaintext `key` is in this answer only: store it now. */
    create(input: CreateApiKeyInput, options?: CallOptions): Promise<ApiKeyWithSecret>;
    /** One page of keys, newest first. */
    list(query?: PageQuery & {
        status?: ApiKeyStatus;
        environment?: Environment;
        auth_scheme?: AuthScheme;
    }, options?: CallOptions): Promise<Page<ApiKey>>;
    /** Every key matching the filters, newest first, fetching pages as you iterate. */
    listAll(query?: Omit<PageQuery, "cursor"> & {
        status?: ApiKeyStatus;
        environment?: Environment;
        auth_scheme?: AuthScheme;
    }, options?: CallOptions): AsyncGenerator<ApiKey>;
    get(id: string, options?: CallOptions): Promise<ApiKey>;
    /** Changes the given settings; they act on the key's very next request. */
    update(id: string, changes: UpdateApiKeyInput, options?: CallOptions): Promise<ApiKey>;
    /** Revokes now; revoking a revoked key changes nothing. */
    revoke(id: string, options?: CallOptions): Promise<ApiKey>;
    /** Deletes permanently (the audit log keeps its history). */
    delete(id: string, options?: CallOptions): Promise<DeletedApiKey>;
    /**
     * A new key with the same settings (plaintext in this answer only); the old one keeps working for
     * `gracePeriodSeconds` (0-604800, default 0). A revoked or expired key: CONFLICT (409).
     */
    rotate(id: string, rotation?: {
        gracePeriodSeconds?: number;
    }, options?: CallOptions): Promise<RotatedApiKey>;
    /** Request counts per hour or day bucket over `from`..`to` (ISO 8601), by status class. */
    usage(id: string, query?: {
        from?: string;
        to?: string;
        bucket?: "hour" | "day";
    }, options?: CallOptions): Promise<ApiKeyUsage>;
    /** One page of the key's request log, newest first. */
    requests(id: string, query?: PageQuery, options?: CallOptions): Promise<Page<RequestLogEntry>>;
    /** One page of the tenant's key-management audit log, newest first. */
    audit(query?: PageQuery & {
        keyId?: string;
        action?: string;
    }, options?: CallOptions): Promise<Page<AuditEntry>>;
}

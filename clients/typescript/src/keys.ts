// SalesOSKeysClient: the api-keys function (self-service key management) with a Dashboard JWT.
import { type Answer, Transport, type TransportOptions } from "./http.ts";
import type {
  ApiKey,
  ApiKeyStatus,
  ApiKeyUsage,
  ApiKeyWithSecret,
  AuditEntry,
  AuthScheme,
  CreateApiKeyInput,
  DeletedApiKey,
  Environment,
  Page,
  RequestLogEntry,
  RotatedApiKey,
  UpdateApiKeyInput,
} from "./types.ts";

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

function page<T>(answer: Answer<T[]>): Page<T> {
  return { items: answer.data, nextCursor: answer.meta.next_cursor ?? null };
}

const path = (id: string, action = "") => `/api-keys/${encodeURIComponent(id)}${action}`;

export class SalesOSKeysClient {
  readonly #transport: Transport;

  constructor(options: SalesOSKeysClientOptions) {
    const { accessToken, tenantId } = options;
    if (!accessToken) throw new TypeError("accessToken is required");
    this.#transport = new Transport(
      { ...options, headers: { ...options.headers, ...(tenantId ? { "X-Tenant-Id": tenantId } : {}) } },
      typeof accessToken === "function" ? accessToken : () => accessToken,
    );
  }

  /** Creates a key. The plaintext `key` is in this answer only: store it now. */
  async create(input: CreateApiKeyInput, options: CallOptions = {}): Promise<ApiKeyWithSecret> {
    // Not idempotent: a lost answer is not retried, or two keys could exist.
    return (await this.#transport.request<ApiKeyWithSecret>("POST", "/api-keys", {
      body: input,
      idempotent: false,
      ...options,
    })).data;
  }

  /** One page of keys, newest first. */
  async list(
    query: PageQuery & { status?: ApiKeyStatus; environment?: Environment; auth_scheme?: AuthScheme } = {},
    options: CallOptions = {},
  ): Promise<Page<ApiKey>> {
    return page(
      await this.#transport.request<ApiKey[]>("GET", "/api-keys", {
        query: { ...query },
        idempotent: true,
        ...options,
      }),
    );
  }

  /** Every key matching the filters, newest first, fetching pages as you iterate. */
  async *listAll(
    query: Omit<PageQuery, "cursor"> & { status?: ApiKeyStatus; environment?: Environment; auth_scheme?: AuthScheme } =
      {},
    options: CallOptions = {},
  ): AsyncGenerator<ApiKey> {
    let cursor: string | undefined;
    do {
      const result = await this.list({ ...query, cursor }, options);
      yield* result.items;
      cursor = result.nextCursor ?? undefined;
    } while (cursor);
  }

  async get(id: string, options: CallOptions = {}): Promise<ApiKey> {
    return (await this.#transport.request<ApiKey>("GET", path(id), { idempotent: true, ...options })).data;
  }

  /** Changes the given settings; they act on the key's very next request. */
  async update(id: string, changes: UpdateApiKeyInput, options: CallOptions = {}): Promise<ApiKey> {
    return (await this.#transport.request<ApiKey>("PATCH", path(id), { body: changes, idempotent: true, ...options }))
      .data;
  }

  /** Revokes now; revoking a revoked key changes nothing. */
  async revoke(id: string, options: CallOptions = {}): Promise<ApiKey> {
    return (await this.#transport.request<ApiKey>("POST", path(id, "/revoke"), { idempotent: true, ...options })).data;
  }

  /** Deletes permanently (the audit log keeps its history). */
  async delete(id: string, options: CallOptions = {}): Promise<DeletedApiKey> {
    // Not retried after a lost answer: the retry would find no key and report 404.
    return (await this.#transport.request<DeletedApiKey>("DELETE", path(id), { idempotent: false, ...options })).data;
  }

  /**
   * A new key with the same settings (plaintext in this answer only); the old one keeps working for
   * `gracePeriodSeconds` (0-604800, default 0). A revoked or expired key: CONFLICT (409).
   */
  async rotate(
    id: string,
    rotation: { gracePeriodSeconds?: number } = {},
    options: CallOptions = {},
  ): Promise<RotatedApiKey> {
    const body = rotation.gracePeriodSeconds === undefined ? {} : { grace_period_seconds: rotation.gracePeriodSeconds };
    return (await this.#transport.request<RotatedApiKey>("POST", path(id, "/rotate"), {
      body,
      idempotent: false,
      ...options,
    }))
      .data;
  }

  /** Request counts per hour or day bucket over `from`..`to` (ISO 8601), by status class. */
  async usage(
    id: string,
    query: { from?: string; to?: string; bucket?: "hour" | "day" } = {},
    options: CallOptions = {},
  ): Promise<ApiKeyUsage> {
    return (await this.#transport.request<ApiKeyUsage>("GET", path(id, "/usage"), {
      query,
      idempotent: true,
      ...options,
    }))
      .data;
  }

  /** One page of the key's request log, newest first. */
  async requests(id: string, query: PageQuery = {}, options: CallOptions = {}): Promise<Page<RequestLogEntry>> {
    return page(
      await this.#transport.request<RequestLogEntry[]>("GET", path(id, "/requests"), {
        query: { ...query },
        idempotent: true,
        ...options,
      }),
    );
  }

  /** One page of the tenant's key-management audit log, newest first. */
  async audit(
    query: PageQuery & { keyId?: string; action?: string } = {},
    options: CallOptions = {},
  ): Promise<Page<AuditEntry>> {
    const { keyId, ...rest } = query;
    return page(
      await this.#transport.request<AuditEntry[]>("GET", "/api-keys/audit", {
        query: { ...rest, key_id: keyId },
        idempotent: true,
        ...options,
      }),
    );
  }
}

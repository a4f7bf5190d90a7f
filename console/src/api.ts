// The console's only server: /functions/v1/api-keys, called with the admin's access token like any
// other client. Every answer is the API's envelope; a failure becomes an ApiFailure with the API's
// code, message and field details, which the screens show as text.

// The wire types are the TypeScript client's, which a test checks against the OpenAPI documents.
import type {
  ApiKey,
  ApiKeyUsage,
  ApiKeyWithSecret,
  AuditEntry,
  Page,
  RequestLogEntry,
  RotatedApiKey,
  UsageCounts,
} from "../../clients/typescript/src/types.ts";
export { scopes as knownScopes } from "../../clients/typescript/src/types.ts";
export type { ApiKey, AuditEntry, Page, RequestLogEntry, UsageCounts };
/** A key as created or rotated: the plaintext (and a signed key's secret), this once. */
export type NewApiKey = ApiKeyWithSecret & Partial<Pick<RotatedApiKey, "rotated_from">>;
export type Usage = ApiKeyUsage;

export interface FieldError {
  field: string;
  message: string;
}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: FieldError[] = [],
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** The API's base: the page's <meta name="salesos-api-url">, or this origin's /functions/v1. */
function apiBase(): string {
  const configured = document.querySelector<HTMLMetaElement>('meta[name="salesos-api-url"]')?.content.trim();
  return `${(configured || `${location.origin}/functions/v1`).replace(/\/+$/, "")}/api-keys`;
}

export interface Session {
  token: string;
  tenantId: string | null;
}

type Query = Record<string, string | number | undefined | null>;

/** A client of api-keys for one session; `onUnauthorized` hears of every 401 (an expired token). */
export function apiClient(session: Session, onUnauthorized: (message: string) => void) {
  async function call<T>(method: string, path: string, options: { query?: Query; body?: unknown } = {}) {
    const url = new URL(`${apiBase()}${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { Authorization: `Bearer ${session.token}` };
    if (session.tenantId) headers["X-Tenant-Id"] = session.tenantId;
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    try {
      // Never cookies: the token is the only credential.
      response = await fetch(url, {
        method,
        headers,
        credentials: "omit",
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
    } catch {
      throw new ApiFailure(0, "NETWORK", `The API at ${apiBase()} could not be reached. Check your connection.`);
    }
    const payload = await response.json().catch(() => null);
    if (!response.ok) {
      const error = payload?.error;
      const failure = new ApiFailure(
        response.status,
        typeof error?.code === "string" ? error.code : "HTTP_ERROR",
        typeof error?.message === "string" ? error.message : `The API answered ${response.status}.`,
        Array.isArray(error?.details) ? error.details : [],
        typeof error?.retry_after === "number" ? error.retry_after : undefined,
      );
      if (response.status === 401) onUnauthorized(failure.message);
      throw failure;
    }
    return payload as { data: T; meta: { request_id: string; next_cursor?: string | null } };
  }

  const page = async <T>(path: string, query: Query): Promise<Page<T>> => {
    const { data, meta } = await call<T[]>("GET", path, { query });
    return { items: data, nextCursor: meta.next_cursor ?? null };
  };

  return {
    /** The first key of the tenant: proves the token and the tenant before the screens load. */
    probe: () => page<ApiKey>("", { limit: 1 }),
    listKeys: (query: { environment: string; cursor?: string | null; limit?: number }) =>
      page<ApiKey>("", { limit: 20, ...query }),
    getKey: async (id: string) => (await call<ApiKey>("GET", `/${encodeURIComponent(id)}`)).data,
    createKey: async (body: Record<string, unknown>) => (await call<NewApiKey>("POST", "", { body })).data,
    updateKey: async (id: string, body: Record<string, unknown>) =>
      (await call<ApiKey>("PATCH", `/${encodeURIComponent(id)}`, { body })).data,
    rotateKey: async (id: string, gracePeriodSeconds: number) =>
      (await call<NewApiKey>("POST", `/${encodeURIComponent(id)}/rotate`, {
        body: { grace_period_seconds: gracePeriodSeconds },
      })).data,
    revokeKey: async (id: string) => (await call<ApiKey>("POST", `/${encodeURIComponent(id)}/revoke`)).data,
    deleteKey: async (id: string) => (await call<unknown>("DELETE", `/${encodeURIComponent(id)}`)).data,
    usage: async (id: string, query: { from: string; to: string; bucket: "hour" | "day" }) =>
      (await call<Usage>("GET", `/${encodeURIComponent(id)}/usage`, { query })).data,
    requests: (id: string, cursor: string | null) =>
      page<RequestLogEntry>(`/${encodeURIComponent(id)}/requests`, { limit: 20, cursor }),
    audit: (cursor: string | null) => page<AuditEntry>("/audit", { limit: 20, cursor }),
  };
}

export type ApiClient = ReturnType<typeof apiClient>;

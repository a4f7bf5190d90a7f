import { SalesOSApiError, SalesOSConnectionError } from "./errors.ts";
import { type RetryOptions } from "./retry.ts";
import type { ResponseMeta } from "./types.ts";
/** The subset of `fetch` the clients call; pass your own to add proxies, logging or tests. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;
export interface TransportOptions {
    /** The project URL, e.g. `https://<ref>.supabase.co` or `http://127.0.0.1:54321`. */
    baseUrl: string;
    fetch?: FetchLike;
    retry?: RetryOptions;
    /** Per attempt, default 60 s; a timed-out attempt counts as a network error. */
    timeoutMs?: number;
    /** Sent with every request (e.g. a tracing header). */
    headers?: Record<string, string>;
    /** Called before each wait for a retry, e.g. to log that a 429 makes the client wait. */
    onRetry?: (event: RetryEvent) => void;
}
export interface RetryEvent {
    /** 1 for the first retry. */
    retry: number;
    delayMs: number;
    /** What the attempt ended with. */
    error: SalesOSApiError | SalesOSConnectionError;
}
/** `X-RateLimit-*` of the last response; `reset` is seconds until the hourly window ends. */
export interface RateLimit {
    limit: number;
    remaining: number;
    reset: number;
}
export interface Answer<T> {
    data: T;
    meta: ResponseMeta;
    status: number;
    requestId: string | null;
}
export interface RequestOptions {
    body?: unknown;
    query?: Record<string, string | number | undefined>;
    /** Sent with every attempt of this request, retries included (e.g. its `Idempotency-Key`). */
    headers?: Record<string, string>;
    /** Sending it twice has the effect of sending it once: network errors may be retried. */
    idempotent: boolean;
    signal?: AbortSignal;
}
export declare class Transport {
    #private;
    /** Rate-limit headers of the last response; null when it carried none (e.g. a 401). */
    rateLimit: RateLimit | null;
    /**
     * `sign`: when given, each attempt's Authorization header is its answer (a signed request, signed
     * again per attempt: a signature is accepted once) instead of `Bearer <authorization()>`.
     */
    constructor(options: TransportOptions, authorization: () => string | Promise<string>, sign?: (method: string, path: string, body: string) => Promise<string>);
    request<T>(method: string, path: string, options: RequestOptions): Promise<Answer<T>>;
}

export interface RetryOptions {
    /** Default true. When false, every error is thrown at once. */
    enabled?: boolean;
    /** Retries after the first attempt, default 5. */
    maxRetries?: number;
    /**
     * Longest 429 `retry_after` the client waits for, default 60 seconds. A longer wait (the hourly
     * window is far from its end) is not worth blocking on: the 429 is thrown with its `retryAfter`.
     */
    maxRetryAfterSeconds?: number;
    /**
     * First backoff ceiling for 502/503/504 and network errors, default 500 ms; doubles per retry. The
     * backoff is added to the server's `Retry-After`, when it sends one.
     */
    baseDelayMs?: number;
    /** Longest wait before a retry of a 502/503/504 or network error, default 30 s. */
    maxDelayMs?: number;
}
export type RetryPolicy = Required<RetryOptions>;
export declare function retryPolicy(options?: RetryOptions): RetryPolicy;
/**
 * Exponential backoff with full jitter: uniformly random in [0, min(maxDelay, base * 2^retry)),
 * so many clients failing at the same moment do not come back at the same moment.
 */
export declare function backoffDelay(retry: number, policy: RetryPolicy, random?: () => number): number;
/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export declare function sleep(ms: number, signal?: AbortSignal): Promise<void>;

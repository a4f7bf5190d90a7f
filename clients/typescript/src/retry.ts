// When to send a request again, and how long to wait first.

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

export function retryPolicy(options: RetryOptions = {}): RetryPolicy {
  return {
    enabled: options.enabled ?? true,
    maxRetries: options.maxRetries ?? 5,
    maxRetryAfterSeconds: options.maxRetryAfterSeconds ?? 60,
    baseDelayMs: options.baseDelayMs ?? 500,
    maxDelayMs: options.maxDelayMs ?? 30_000,
  };
}

/**
 * Exponential backoff with full jitter: uniformly random in [0, min(maxDelay, base * 2^retry)),
 * so many clients failing at the same moment do not come back at the same moment.
 */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

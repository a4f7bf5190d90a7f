// When to send a request again, and how long to wait first.
export function retryPolicy(options = {}) {
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
export function backoffDelay(retry, policy, random = Math.random) {
    const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
    return Math.floor(random() * ceiling);
}
/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
        if (signal?.aborted)
            return reject(signal.reason);
        const onAbort = () => {
            clearTimeout(timer);
            reject(signal.reason);
        };
        const timer = setTimeout(() => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
        }, ms);
        signal?.addEventListener("abort", onAbort, { once: true });
    });
}

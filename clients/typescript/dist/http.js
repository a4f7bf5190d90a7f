// One request with the contract's envelope: retries (429 within the cap; 502/503/504 and, for
// idempotent requests, network errors with backoff), the rate-limit headers of the last response,
// and typed errors.
import { SalesOSApiError, SalesOSConnectionError } from "./errors.js";
import { backoffDelay, retryPolicy, sleep } from "./retry.js";
import { userAgent } from "./version.js";
/**
 * 503 means nothing was written (contract), so it is retried for any request; a gateway's 502/504
 * may come after the function did its work, so only idempotent requests are retried on those.
 */
function retriableStatus(status, idempotent) {
    return status === 503 || (idempotent && (status === 502 || status === 504));
}
/** `https://x.supabase.co`, `…/`, or `…/functions/v1` all mean the same functions root. */
function functionsRoot(baseUrl) {
    const trimmed = baseUrl.replace(/\/+$/, "");
    return trimmed.endsWith("/functions/v1") ? trimmed : `${trimmed}/functions/v1`;
}
function readRateLimit(headers) {
    const [limit, remaining, reset] = ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"]
        .map((name) => headers.get(name))
        .map((value) => (value === null || value === "" ? NaN : Number(value)));
    return [limit, remaining, reset].every(Number.isFinite) ? { limit, remaining, reset } : null;
}
/** Seconds to wait, from the body's `retry_after` or the `Retry-After` header; null when neither is a count of seconds. */
function readRetryAfter(body, header) {
    if (typeof body === "number" && Number.isFinite(body) && body >= 0)
        return body;
    // An empty or negative header (e.g. from a gateway) would otherwise read as 0: retry at once.
    return header !== null && /^\d+$/.test(header.trim()) ? Number(header) : null;
}
function apiError(response, payload, requestId) {
    const error = payload?.error;
    const retryAfter = readRetryAfter(error?.retry_after, response.headers.get("retry-after"));
    if (typeof error?.code !== "string" || typeof error.message !== "string") {
        return new SalesOSApiError({
            status: response.status,
            code: "UNEXPECTED_RESPONSE",
            message: `Unexpected HTTP ${response.status} response without an error body`,
            requestId,
            retryAfter,
        });
    }
    return new SalesOSApiError({
        status: response.status,
        code: error.code,
        message: error.message,
        details: Array.isArray(error.details) ? error.details : [],
        requestId,
        retryAfter,
    });
}
export class Transport {
    /** Rate-limit headers of the last response; null when it carried none (e.g. a 401). */
    rateLimit = null;
    #root;
    #fetch;
    #retry;
    #timeoutMs;
    #headers;
    #authorization;
    #sign;
    #onRetry;
    /**
     * `sign`: when given, each attempt's Authorization header is its answer (a signed request, signed
     * again per attempt: a signature is accepted once) instead of `Bearer <authorization()>`.
     */
    constructor(options, authorization, sign) {
        if (!options.baseUrl)
            throw new TypeError("baseUrl is required");
        this.#root = functionsRoot(options.baseUrl);
        // Bound to globalThis: some runtimes refuse a fetch called as a method of another object.
        this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
        this.#retry = retryPolicy(options.retry);
        this.#timeoutMs = options.timeoutMs ?? 60_000;
        this.#headers = options.headers ?? {};
        this.#authorization = authorization;
        this.#sign = sign;
        this.#onRetry = options.onRetry ?? (() => { });
    }
    async request(method, path, options) {
        const url = new URL(`${this.#root}${path}`);
        for (const [name, value] of Object.entries(options.query ?? {})) {
            if (value !== undefined)
                url.searchParams.set(name, String(value));
        }
        const body = options.body === undefined
            ? undefined
            : typeof options.body === "string"
                ? options.body
                : JSON.stringify(options.body);
        for (let retry = 0;; retry++) {
            const canRetry = this.#retry.enabled && retry < this.#retry.maxRetries;
            // Per attempt: a token provider may have refreshed the token during a wait.
            const headers = {
                ...this.#headers,
                ...options.headers,
                "User-Agent": userAgent,
                Accept: "application/json",
                Authorization: this.#sign
                    ? await this.#sign(method, `/functions/v1${path}`, body ?? "")
                    : `Bearer ${await this.#authorization()}`,
                ...(body === undefined ? {} : { "Content-Type": "application/json" }),
            };
            let response;
            let text;
            // A timer cleared with the answer, not AbortSignal.timeout: that one would keep each
            // request (and its body) reachable for the whole timeout, after it was answered.
            const timeout = new AbortController();
            const timer = setTimeout(() => timeout.abort(), this.#timeoutMs);
            try {
                const signal = options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal;
                response = await this.#fetch(url.toString(), { method, headers, body, signal });
                text = await response.text();
            }
            catch (cause) {
                if (options.signal?.aborted)
                    throw options.signal.reason;
                const what = timeout.signal.aborted
                    ? `no response within ${this.#timeoutMs} ms`
                    : String(cause instanceof Error ? cause.message : cause);
                const error = new SalesOSConnectionError(`${method} ${url.pathname} failed: ${what}`, retry + 1, cause);
                if (!canRetry || !options.idempotent)
                    throw error;
                await this.#wait(retry, backoffDelay(retry, this.#retry), error, options.signal);
                continue;
            }
            finally {
                clearTimeout(timer);
            }
            this.rateLimit = readRateLimit(response.headers);
            let payload = null;
            try {
                payload = text === "" ? null : JSON.parse(text);
            }
            catch {
                // Not JSON (e.g. a gateway's HTML page): reported below as UNEXPECTED_RESPONSE.
            }
            const meta = payload?.meta;
            const requestId = response.headers.get("x-request-id") ?? meta?.request_id ?? null;
            if (response.ok && payload !== null && typeof payload === "object" && "data" in payload && meta) {
                return { data: payload.data, meta, status: response.status, requestId };
            }
            const error = response.ok
                ? new SalesOSApiError({
                    status: response.status,
                    code: "UNEXPECTED_RESPONSE",
                    message: `HTTP ${response.status} response is not the API's envelope`,
                    requestId,
                })
                : apiError(response, payload, requestId);
            if (canRetry && error.status === 429 && error.retryAfter !== null &&
                error.retryAfter <= this.#retry.maxRetryAfterSeconds) {
                await this.#wait(retry, error.retryAfter * 1000, error, options.signal);
                continue;
            }
            // A 409 to a request with an Idempotency-Key: an earlier attempt of it (whose answer was lost)
            // is still being processed; once it is done, the same key gets its stored answer.
            const inProgress = error.status === 409 && options.headers?.["Idempotency-Key"] !== undefined;
            if (canRetry && (retriableStatus(error.status, options.idempotent) || inProgress)) {
                // The server's Retry-After (5 s on a 503 of this service) is the least wait, the jitter goes
                // on top, and maxDelayMs caps the sum.
                const leastMs = (error.retryAfter ?? 0) * 1000;
                const delayMs = Math.min(this.#retry.maxDelayMs, leastMs + backoffDelay(retry, this.#retry));
                await this.#wait(retry, delayMs, error, options.signal);
                continue;
            }
            throw error;
        }
    }
    #wait(retry, delayMs, error, signal) {
        this.#onRetry({ retry: retry + 1, delayMs, error });
        return sleep(delayMs, signal);
    }
}

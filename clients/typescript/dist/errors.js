export class SalesOSError extends Error {
    /** Set by syncCollaborators/syncActivities: what was sent successfully before this error. */
    progress;
    constructor(message, options) {
        super(message, options);
        this.name = new.target.name;
    }
}
/** An error response of the contract, or an answer that was not one (code `UNEXPECTED_RESPONSE`). */
export class SalesOSApiError extends SalesOSError {
    status;
    code;
    details;
    /** `X-Request-Id` of the response: quote it to support. */
    requestId;
    /** Seconds to wait, on 429 (and on 503 when the service says). */
    retryAfter;
    constructor(init) {
        super(init.message);
        this.status = init.status;
        this.code = init.code;
        this.details = init.details ?? [];
        this.requestId = init.requestId;
        this.retryAfter = init.retryAfter ?? null;
    }
}
/** No response: connection refused or reset, DNS failure, or the per-attempt timeout. */
export class SalesOSConnectionError extends SalesOSError {
    attempts;
    constructor(message, attempts, cause) {
        super(message, { cause });
        this.attempts = attempts;
    }
}

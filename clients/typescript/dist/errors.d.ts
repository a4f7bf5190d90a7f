import type { ErrorCode, ErrorDetail } from "./types.ts";
/** How far a sync got before it failed: the items before `completedItems` were answered. */
export interface SyncProgress<Result> {
    completedItems: number;
    result: Result;
}
export declare class SalesOSError extends Error {
    /** Set by syncCollaborators/syncActivities: what was sent successfully before this error. */
    progress?: SyncProgress<unknown>;
    constructor(message: string, options?: {
        cause?: unknown;
    });
}
/** An error response of the contract, or an answer that was not one (code `UNEXPECTED_RESPONSE`). */
export declare class SalesOSApiError extends SalesOSError {
    readonly status: number;
    readonly code: ErrorCode | "UNEXPECTED_RESPONSE";
    readonly details: ErrorDetail[];
    /** `X-Request-Id` of the response: quote it to support. */
    readonly requestId: string | null;
    /** Seconds to wait, on 429 (and on 503 when the service says). */
    readonly retryAfter: number | null;
    constructor(init: {
        status: number;
        code: ErrorCode | "UNEXPECTED_RESPONSE";
        message: string;
        details?: ErrorDetail[];
        requestId: string | null;
        retryAfter?: number | null;
    });
}
/** No response: connection refused or reset, DNS failure, or the per-attempt timeout. */
export declare class SalesOSConnectionError extends SalesOSError {
    readonly attempts: number;
    constructor(message: string, attempts: number, cause: unknown);
}

import { type RateLimit, type TransportOptions } from "./http.ts";
import type { Activity, Collaborator, ErrorDetail, SyncActivitiesResult, SyncCollaboratorsResult } from "./types.ts";
export declare const maxCollaboratorsPerRequest = 500;
export declare const maxActivitiesPerRequest = 1000;
export interface SalesOSClientOptions extends TransportOptions {
    /** `sk_live_…` or `sk_test_…`. */
    apiKey: string;
    /** A signed key's secret (64 hex characters): requests are then signed (P2S-SIGN-V1), never sent as Bearer. */
    secret?: string;
}
export interface SyncOptions {
    signal?: AbortSignal;
    /** Items per request, at most (and by default) the contract's maximum. */
    batchSize?: number;
}
export interface SyncActivitiesOptions extends SyncOptions {
    /**
     * The service refuses a whole batch of activities when any item is invalid. By default that 400
     * is thrown, its details' `index` mapped to positions in your input. With `skipInvalid`, the
     * batch is sent again without the invalid items, which are reported in `rejected` and `errors`.
     */
    skipInvalid?: boolean;
}
/** An input item the service did not accept. */
export interface RejectedItem {
    /**
     * Position in your input. Collaborator errors carry no index in the contract: they are matched,
     * in order, by external_id and email; null when no item matches.
     */
    index: number | null;
    reason: string;
    /** Per-field reasons (activities). */
    details?: ErrorDetail[];
}
export interface BatchReport<Result> {
    /** Position of the batch's first item in your input. */
    offset: number;
    size: number;
    result: Result;
    rejected: RejectedItem[];
    /** `X-Request-Id` of each request the batch took (two when invalid items were left out). */
    requestIds: string[];
}
export type SyncCollaboratorsSummary = SyncCollaboratorsResult & {
    rejected: RejectedItem[];
    batches: number;
};
export type SyncActivitiesSummary = SyncActivitiesResult & {
    rejected: RejectedItem[];
    batches: number;
};
export declare class SalesOSClient {
    #private;
    constructor(options: SalesOSClientOptions);
    /** `X-RateLimit-Limit`, `-Remaining` and `-Reset` of the last response; null before any or after a 401. */
    get rateLimit(): RateLimit | null;
    /** One report per request-sized batch, each sent after the previous one was answered. */
    syncCollaboratorsInBatches(items: Iterable<Collaborator> | AsyncIterable<Collaborator>, options?: SyncOptions): AsyncGenerator<BatchReport<SyncCollaboratorsResult>>;
    /** One report per request-sized batch, each sent after the previous one was answered. */
    syncActivitiesInBatches(items: Iterable<Activity> | AsyncIterable<Activity>, options?: SyncActivitiesOptions): AsyncGenerator<BatchReport<SyncActivitiesResult>>;
    /**
     * Sends any number of collaborators in batches of up to 500 and adds up the answers. On a
     * failure the error's `progress` says how many items were answered before it.
     */
    syncCollaborators(items: Iterable<Collaborator> | AsyncIterable<Collaborator>, options?: SyncOptions): Promise<SyncCollaboratorsSummary>;
    /**
     * Sends any number of activities in batches of up to 1000 and adds up the answers. On a failure
     * the error's `progress` says how many items were answered before it.
     */
    syncActivities(items: Iterable<Activity> | AsyncIterable<Activity>, options?: SyncActivitiesOptions): Promise<SyncActivitiesSummary>;
}

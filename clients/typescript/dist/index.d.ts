export { type BatchReport, maxActivitiesPerRequest, maxCollaboratorsPerRequest, type RejectedItem, SalesOSClient, type SalesOSClientOptions, type SyncActivitiesOptions, type SyncActivitiesSummary, type SyncCollaboratorsSummary, type SyncOptions, } from "./integration.ts";
export { type CallOptions, type PageQuery, SalesOSKeysClient, type SalesOSKeysClientOptions } from "./keys.ts";
export { SalesOSApiError, SalesOSConnectionError, SalesOSError, type SyncProgress } from "./errors.ts";
export type { FetchLike, RateLimit, RetryEvent, TransportOptions } from "./http.ts";
export type { RetryOptions } from "./retry.ts";
export * from "./types.ts";
export { signedAuthorization } from "./signing.ts";

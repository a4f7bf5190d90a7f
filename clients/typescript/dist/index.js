// @salesos/integration-client: the SalesOS Integration API for Deno, Node 20+ and Bun.
export { maxActivitiesPerRequest, maxCollaboratorsPerRequest, SalesOSClient, } from "./integration.js";
export { SalesOSKeysClient } from "./keys.js";
export { SalesOSApiError, SalesOSConnectionError, SalesOSError } from "./errors.js";
export * from "./types.js";
export { signedAuthorization } from "./signing.js";

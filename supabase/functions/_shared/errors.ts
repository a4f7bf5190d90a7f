// The one error type of the API and its status table.

export const errorStatus = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
  RATE_LIMITED: 429,
  SERVER_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export interface ErrorDetail {
  index?: number;
  field: string;
  message: string;
}

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly details?: ErrorDetail[];
  readonly retryAfter?: number;
  readonly headers?: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: ErrorDetail[]; retryAfter?: number; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.details = options.details;
    this.retryAfter = options.retryAfter;
    this.headers = options.headers;
  }

  get status(): (typeof errorStatus)[ErrorCode] {
    return errorStatus[this.code];
  }
}

/** The database could not be reached or did not answer in time; nothing was written. */
export class DatabaseUnavailableError extends Error {
  constructor(cause: unknown) {
    super("Database unavailable", { cause });
    this.name = "DatabaseUnavailableError";
  }
}

export const messages = {
  missingAuthorization: "Missing or malformed Authorization header. Expected: Bearer sk_live_xxx",
  invalidKeyPrefix: "Invalid API key prefix. Expected sk_live_ or sk_test_",
  invalidKey: "Invalid or expired API key",
  ipNotAllowed: "Request IP is not allowed for this API key",
  missingScope: (scope: string) => `API key missing required scopes: ${scope}`,
  rateLimited: "Rate limit exceeded",
  invalidAction: 'Missing or invalid "action". Valid values: sync_collaborators, sync_activities',
  serverError: "Internal server error",
  serviceUnavailable: "Service temporarily unavailable. Retry later.",
  payloadTooLarge: "Request body exceeds 5 MiB",
  unsupportedMediaType: "Request body must be JSON (Content-Type: application/json)",
  invalidJson: "Request body must be a JSON object",
  notFound: "Not found",
  methodNotAllowed: (allow: string) => `Method not allowed. Allowed: ${allow}`,
  // P2S-SIGN-V1 signed requests
  malformedSignedAuthorization:
    "Malformed P2S-SIGN-V1 Authorization header. Expected: P2S-SIGN-V1 API_KEY:TIMESTAMP:SIGNATURE",
  timestampOutsideWindow: "Request timestamp is outside the 30-second window",
  keyNotSigned: "API key is not enabled for signed requests",
  invalidSignature: "Invalid request signature",
  signatureReplayed: "Request signature already used",
  signedKeyAsBearer: "This API key requires signed requests (P2S-SIGN-V1)",
  signingNotEnabled: "Signed keys are not enabled on this deployment (SIGNING_KEK is not set)",
} as const;

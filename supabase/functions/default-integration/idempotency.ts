// Idempotency-Key (IETF httpapi draft, as Stripe does it): the header read and checked, the body
// fingerprinted. The claim, the replay and the stored answer are decided by the sync SQL functions,
// in the transaction that applies the batch (52_sync_functions.sql).
import { ApiError } from "../_shared/errors.ts";

export const idempotencyKeyHeader = "Idempotency-Key";
export const replayedHeader = "Idempotent-Replayed";
export const maxIdempotencyKeyLength = 255;
export const idempotencyMessages = {
  invalid: `Idempotency-Key must be 1 to ${maxIdempotencyKeyLength} visible ASCII characters`,
  reused: "Idempotency-Key reused with a different request body",
  inFlight: "A request with this Idempotency-Key is still being processed",
} as const;

/** What the sync SQL functions are given with a batch sent under an Idempotency-Key. */
export interface Idempotency {
  key: string;
  /** Lowercase hex SHA-256 of the raw body. */
  requestHash: string;
}

/** What a sync SQL function answers: the batch applied, a stored answer, or a refusal. */
export type Outcome = "applied" | "replayed" | "mismatch" | "in_flight";

// Visible ASCII, as Stripe takes it; the draft's form, a quoted sf-string, is read without its quotes.
const keyPattern = new RegExp(`^[\\x21-\\x7e]{1,${maxIdempotencyKeyLength}}$`);
const quoted = /^"([^"\\]*)"$/;

/** The header's key, null when none is sent; 400 when it is not 1–255 visible ASCII characters. */
export function readIdempotencyKey(header: string | undefined): string | null {
  if (header === undefined) return null;
  const key = quoted.exec(header)?.[1] ?? header;
  if (!keyPattern.test(key)) {
    throw new ApiError("VALIDATION_ERROR", idempotencyMessages.invalid, {
      details: [{ field: idempotencyKeyHeader, message: idempotencyMessages.invalid }],
    });
  }
  return key;
}

/** A refused claim's error: 422 for another body, 409 while the first is being applied. */
export function refuseClaim(outcome: Outcome): void {
  if (outcome === "mismatch") throw new ApiError("IDEMPOTENCY_KEY_REUSED", idempotencyMessages.reused);
  if (outcome === "in_flight") throw new ApiError("CONFLICT", idempotencyMessages.inFlight);
}

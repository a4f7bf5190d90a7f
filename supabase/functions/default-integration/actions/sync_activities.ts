// sync_activities: all items valid or nothing written; then one SQL call stores the batch, counting
// duplicates and skipped items, and logs the request (and stores the answer under an
// Idempotency-Key) in the same transaction.
import type { Database } from "../../_shared/database.ts";
import { ApiError, type ErrorDetail } from "../../_shared/errors.ts";
import type { Principal } from "../auth.ts";
import {
  type Activity,
  activityFieldMessages,
  activitySchema,
  maxActivitiesPerRequest,
  occurredAtMessage,
  type syncActivitiesResult,
} from "../schemas.ts";
import type { z } from "zod";
import { findInexact, inexactReason } from "../exact_json.ts";
import { inline, type Slicer } from "../slicing.ts";
import type { Idempotency, Outcome } from "../idempotency.ts";

const invalidPayload = "Invalid activities payload";

async function validate(items: unknown, run: Slicer): Promise<Activity[]> {
  if (!Array.isArray(items) || items.length > maxActivitiesPerRequest) {
    throw new ApiError("VALIDATION_ERROR", invalidPayload, {
      details: [{ field: "activities", message: `Required array of at most ${maxActivitiesPerRequest} activities` }],
    });
  }
  const details: ErrorDetail[] = [];
  const valid: Activity[] = [];
  await run.eachSliced(items, (item, index) => {
    const parsed = activitySchema.safeParse(item);
    if (parsed.success) {
      valid.push(parsed.data);
      return;
    }
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      details.push({ index, field: "activities", message: "Each activity must be a JSON object" });
      return;
    }
    const fields = new Set(
      parsed.error.issues.map((issue) => String(issue.path[0]) as keyof typeof activityFieldMessages),
    );
    for (const field of fields) details.push({ index, field, message: fieldMessage(item, field) });
  });
  if (details.length > 0) throw new ApiError("VALIDATION_ERROR", invalidPayload, { details });
  return valid;
}

/**
 * The field's message; for `data` refused for an inexact number, which number; for occurred_at
 * without an offset, that the offset is missing.
 */
export function fieldMessage(item: object, field: keyof typeof activityFieldMessages): string {
  const value = (item as Record<string, unknown>)[field];
  if (field === "occurred_at") return occurredAtMessage(value);
  const inexact = field === "data" ? findInexact(value) : null;
  return inexact === null ? activityFieldMessages[field] : `Data ${inexactReason(inexact)}`;
}

/**
 * A valid item as salesos.sync_activities reads it: a positional array, which Postgres parses in
 * about 60% of the time of an object with named fields.
 */
function asRow(ord: number, a: Activity) {
  return [ord, a.activity_code, a.external_id, a.collaborator_email, a.data ?? null, a.occurred_at ?? null];
}

/** A valid batch as salesos.sync_activities takes it: the rows' JSON text. */
export interface ActivitiesBatch {
  rows: string;
}

/** Validates the items (all valid or 400) and writes their rows. */
export async function prepareActivities(items: unknown, run: Slicer = inline): Promise<ActivitiesBatch> {
  const rows = (await validate(items, run)).map((a, ord) => asRow(ord, a));
  return { rows: await run.slice(() => JSON.stringify(rows)) };
}

/** Stores a prepared batch in one SQL call. */
export async function storeActivities(
  db: Database,
  principal: Principal,
  request: { requestId: string; elapsedMs: () => number; idempotency: Idempotency | null },
  batch: ActivitiesBatch,
): Promise<{ outcome: Outcome; data: z.infer<typeof syncActivitiesResult> }> {
  const [result] = await db.query<{ outcome: Outcome; data: z.infer<typeof syncActivitiesResult> }>(
    "select * from salesos.sync_activities($1::uuid, $2, $3::uuid, $4::uuid, $5::inet, $6, $7::text::jsonb, $8, decode($9, 'hex'))",
    [
      principal.tenantId,
      principal.environment,
      principal.keyId,
      request.requestId,
      principal.ip,
      request.elapsedMs(),
      batch.rows,
      request.idempotency?.key ?? null,
      request.idempotency?.requestHash ?? null,
    ],
  );
  return result;
}

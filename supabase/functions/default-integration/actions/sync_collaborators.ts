// sync_collaborators: invalid items are left out and reported; the valid ones are upserted by email
// in one SQL call, which also reports external_ids held by someone else and makes the answer's data
// (stored under an Idempotency-Key in the same transaction).
import type { Database } from "../../_shared/database.ts";
import { ApiError } from "../../_shared/errors.ts";
import type { Principal } from "../auth.ts";
import {
  type Collaborator,
  collaboratorFieldMessages,
  collaboratorSchema,
  maxCollaboratorsPerRequest,
  type syncCollaboratorsResult,
} from "../schemas.ts";
import type { z } from "zod";
import { findInexact, inexactReason } from "../exact_json.ts";
import { inline, type Slicer } from "../slicing.ts";
import type { Idempotency, Outcome } from "../idempotency.ts";

/**
 * A valid item as salesos.sync_collaborators reads it: a positional array, which Postgres parses in
 * half the time of an object with named fields.
 */
function asRow(ord: number, c: Collaborator) {
  return [
    ord,
    c.external_id,
    c.name,
    c.email,
    c.phone ?? null,
    c.document ?? null,
    c.team ?? null,
    c.role ?? null,
    c.metadata ?? null,
  ];
}

/** The longest echo of a field in an item error: the longest valid value (an email) is whole. */
const maxEcho = 320;

export function describeItem(item: unknown, reason: string): string {
  const field = (name: string) => {
    const value = (item as Record<string, unknown> | null)?.[name];
    const text = typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value);
    if (text.length <= maxEcho) return text;
    // An invalid value can be up to the body's size: its echo is cut, counted in characters.
    const characters = [...text];
    return characters.length <= maxEcho ? text : `${characters.slice(0, maxEcho).join("")}…`;
  };
  return `Collaborator ${field("external_id")} (${field("email")}): ${reason}`;
}

/** The field's message; for `metadata` refused for an inexact number, which number. */
export function fieldMessage(item: object, field: keyof typeof collaboratorFieldMessages): string {
  const inexact = field === "metadata" ? findInexact((item as Record<string, unknown>).metadata) : null;
  return inexact === null ? collaboratorFieldMessages[field] : `metadata ${inexactReason(inexact)}`;
}

/** A batch as salesos.sync_collaborators takes it: the valid items' rows, the invalid ones' errors. */
export interface CollaboratorsBatch {
  itemCount: number;
  /** The valid items' rows, as JSON text. */
  rows: string;
  errorOrds: number[];
  /** The invalid items' messages, as a JSON array's text. */
  errorMessages: string;
}

/** Validates the items: the valid ones' rows, the invalid ones' errors (400 when not an array). */
export async function prepareCollaborators(items: unknown, run: Slicer = inline): Promise<CollaboratorsBatch> {
  if (!Array.isArray(items) || items.length > maxCollaboratorsPerRequest) {
    throw new ApiError("VALIDATION_ERROR", "Invalid collaborators payload", {
      details: [{
        field: "collaborators",
        message: `Required array of at most ${maxCollaboratorsPerRequest} collaborators`,
      }],
    });
  }

  const errors = new Map<number, string>();
  const rows: ReturnType<typeof asRow>[] = [];
  await run.eachSliced(items, (item, ord) => {
    const parsed = collaboratorSchema.safeParse(item);
    if (parsed.success) {
      rows.push(asRow(ord, parsed.data));
    } else if (item === null || typeof item !== "object" || Array.isArray(item)) {
      errors.set(ord, describeItem(null, "must be a JSON object"));
    } else {
      const fields = new Set(
        parsed.error.issues.map((issue) => String(issue.path[0]) as keyof typeof collaboratorFieldMessages),
      );
      errors.set(ord, describeItem(item, [...fields].map((f) => fieldMessage(item, f)).join("; ")));
    }
  });
  return {
    itemCount: items.length,
    rows: await run.slice(() => JSON.stringify(rows)),
    errorOrds: [...errors.keys()],
    errorMessages: await run.slice(() => JSON.stringify([...errors.values()])),
  };
}

/** Stores a prepared batch in one SQL call. */
export async function storeCollaborators(
  db: Database,
  principal: Principal,
  request: { requestId: string; elapsedMs: () => number; idempotency: Idempotency | null },
  batch: CollaboratorsBatch,
): Promise<{ outcome: Outcome; data: z.infer<typeof syncCollaboratorsResult> }> {
  const [result] = await db.query<{ outcome: Outcome; data: z.infer<typeof syncCollaboratorsResult> }>(
    "select * from salesos.sync_collaborators($1::uuid, $2, $3::uuid, $4::uuid, $5::inet, $6, $7, $8::text::jsonb, $9::integer[], $10::text::json, $11, decode($12, 'hex'))",
    [
      principal.tenantId,
      principal.environment,
      principal.keyId,
      request.requestId,
      principal.ip,
      request.elapsedMs(),
      batch.itemCount,
      batch.rows,
      batch.errorOrds,
      // json, not jsonb: a message may echo a NUL or a lone surrogate, which JSON text escapes.
      batch.errorMessages,
      request.idempotency?.key ?? null,
      request.idempotency?.requestHash ?? null,
    ],
  );
  return result;
}

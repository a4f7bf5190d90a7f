// Request and response shapes of default-integration: the single source of the handlers'
// validation, their TypeScript types and the OpenAPI document.
import { z } from "zod";

export const maxCollaboratorsPerRequest = 500;
export const maxActivitiesPerRequest = 1000;
const maxObjectBytes = 16 * 1024;
const maxObjectDepth = 64;
const maxFutureMs = 24 * 60 * 60 * 1000;

export const actions = ["sync_collaborators", "sync_activities"] as const;
export const requestSchema = z.object({ action: z.enum(actions) }).loose();

/** Text Postgres can store (text and jsonb): no NUL character, no lone UTF-16 surrogate. */
const storable = (text: string) => !text.includes("\u0000") && text.isWellFormed();

/** Bounded recursion: a hostile nesting depth never reaches the stack limit. Keys and strings must be storable. */
function withinDepth(value: unknown, levelsLeft: number): boolean {
  if (typeof value === "string") return storable(value);
  if (value === null || typeof value !== "object") return true;
  if (levelsLeft === 0) return false;
  return Object.entries(value).every(([key, child]) => storable(key) && withinDepth(child, levelsLeft - 1));
}

/** A JSON object of at most 16 KiB serialized and 64 levels deep. */
const jsonObject = z.custom<Record<string, unknown>>((value) => {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  if (!withinDepth(value, maxObjectDepth)) return false;
  return new TextEncoder().encode(JSON.stringify(value)).byteLength <= maxObjectBytes;
});

const isoWithOffset =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):?(\d{2}))$/;

/** An ISO 8601 date-time with `Z` or an offset, a real calendar date, at most 24 h ahead. */
const occurredAt = z.string().refine((value) => {
  const match = isoWithOffset.exec(value);
  if (!match) return false;
  const [, y, mo, d, h, mi, s = "0", , oh = "0", om = "0"] = match;
  const day = new Date(Date.UTC(+y, +mo - 1, +d));
  const realDate = day.getUTCFullYear() === +y && day.getUTCMonth() === +mo - 1 && day.getUTCDate() === +d;
  if (!realDate || +y < 1 || +h > 23 || +mi > 59 || +s > 59 || +oh > 23 || +om > 59) return false;
  return Date.parse(value) <= Date.now() + maxFutureMs;
}).transform((value) => new Date(value).toISOString());

const text = (max: number) => z.string().min(1).max(max).refine(storable);
const optionalText = (max: number) => z.string().max(max).refine(storable).nullish();
const email = z.string().trim().max(320).pipe(z.email());

export const activitySchema = z.object({
  activity_code: z.string().regex(/^(?!000)\d{3}$/),
  external_id: text(255),
  collaborator_email: email,
  data: jsonObject.nullish(),
  occurred_at: occurredAt.nullish(),
});
export type Activity = z.infer<typeof activitySchema>;

/** The `details` message per activity field (contract 3.5). */
export const activityFieldMessages: Record<keyof Activity, string> = {
  activity_code: 'Required 3-digit string (001-999), e.g. "001"',
  external_id: "Required string (1-255 characters)",
  collaborator_email: "Required valid email",
  data: "Optional JSON object (at most 16 KiB serialized, 64 levels deep)",
  occurred_at: "Optional ISO 8601 date-time with offset or Z, at most 24 hours ahead",
};

export const collaboratorSchema = z.object({
  external_id: text(255),
  name: text(255),
  email,
  phone: optionalText(50),
  document: optionalText(20),
  team: optionalText(100),
  role: optionalText(50),
  metadata: jsonObject.nullish(),
});
export type Collaborator = z.infer<typeof collaboratorSchema>;

export const collaboratorFieldMessages: Record<keyof Collaborator, string> = {
  external_id: "external_id must be a string of 1-255 characters",
  name: "name must be a string of 1-255 characters",
  email: "email must be a valid email",
  phone: "phone must be a string of at most 50 characters",
  document: "document must be a string of at most 20 characters",
  team: "team must be a string of at most 100 characters",
  role: "role must be a string of at most 50 characters",
  metadata: "metadata must be a JSON object (at most 16 KiB serialized, 64 levels deep)",
};

export const syncCollaboratorsRequest = z.object({
  action: z.literal("sync_collaborators"),
  collaborators: z.array(z.unknown()).max(maxCollaboratorsPerRequest),
});

export const syncActivitiesRequest = z.object({
  action: z.literal("sync_activities"),
  activities: z.array(z.unknown()).max(maxActivitiesPerRequest),
});

export const syncCollaboratorsResult = z.object({
  created: z.int(),
  existing: z.int(),
  errors: z.array(z.string()),
  total: z.int(),
});

export const syncActivitiesResult = z.object({
  processed: z.int(),
  skipped: z.int(),
  duplicates: z.int(),
  errors: z.array(z.string()),
  total: z.int(),
});

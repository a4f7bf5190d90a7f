// The items and results of the two sync actions: what the actions validate with and answer with,
// and what the sync route's OpenAPI description shows.
import { z } from "zod";
import { storable } from "../_shared/schemas.ts";
import { InexactNumber } from "./exact_json.ts";

export const maxCollaboratorsPerRequest = 500;
export const maxActivitiesPerRequest = 1000;
const maxObjectBytes = 16 * 1024;
const maxObjectDepth = 64;
const maxFutureMs = 24 * 60 * 60 * 1000;

export const actions = ["sync_collaborators", "sync_activities"] as const;

/**
 * Bounded recursion: a hostile nesting depth never reaches the stack limit. Keys and strings must be
 * storable, numbers exact (see exact_json.ts).
 */
function withinDepth(value: unknown, levelsLeft: number): boolean {
  if (typeof value === "string") return storable(value);
  if (value === null || typeof value !== "object") return true;
  if (value instanceof InexactNumber) return false;
  if (levelsLeft === 0) return false;
  // for...in rather than Object.entries: this runs for every item of a batch, and allocates nothing.
  for (const key in value) {
    if (!storable(key) || !withinDepth((value as Record<string, unknown>)[key], levelsLeft - 1)) return false;
  }
  return true;
}

const utf8 = new TextEncoder();

/** A JSON object of at most 16 KiB serialized and 64 levels deep. */
const jsonObject = z.custom<Record<string, unknown>>((value) => {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  if (!withinDepth(value, maxObjectDepth)) return false;
  const json = JSON.stringify(value);
  // A UTF-16 unit is at most 3 UTF-8 bytes: only a long text needs encoding to be measured.
  return json.length * 3 <= maxObjectBytes || utf8.encode(json).byteLength <= maxObjectBytes;
}).meta({ type: "object" });
/** jsonObject, null or left out. */
const optionalJsonObject = jsonObject.nullish().meta({ type: ["object", "null"] });

// RFC 3339 (`T`, `t` or a space between date and time; `Z` or `z`; any number of fraction digits;
// second 60 for a leap second), with the offset as ISO 8601 also allows it: ±hh:mm, ±hhmm or ±hh.
const dateTime = String.raw`(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?`;
const isoWithOffset = new RegExp(String.raw`^${dateTime}([Zz]|[+-](\d{2})(?::?(\d{2}))?)$`);
const withoutOffset = new RegExp(`^${dateTime}$`);

const daysInMonth = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeapYear = (y: number) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);

/**
 * An ISO 8601 date-time with `Z` or an offset, a real calendar date, at most 24 h ahead. Checked
 * field by field (no Date parsing per item); Postgres reads the string as it is.
 */
const occurredAt = z.string().refine((value) => {
  const match = isoWithOffset.exec(value);
  if (!match) return false;
  const [, y, mo, d, h, mi, s = "0", zone, oh = "0", om = "0"] = match;
  const year = +y, month = +mo, day = +d;
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth[month - 1]) return false;
  if (month === 2 && day === 29 && !isLeapYear(year)) return false;
  // Postgres takes offsets up to ±15:59 (real ones stay within ±14:00), and reads second 60 as the
  // next minute's start.
  if (+h > 23 || +mi > 59 || +s > 60 || +oh > 15 || +om > 59) return false;
  const offsetMinutes = zone === "Z" || zone === "z" ? 0 : (zone[0] === "-" ? -1 : 1) * (+oh * 60 + +om);
  const instant = Date.UTC(year, month - 1, day, +h, +mi, +s) - offsetMinutes * 60_000;
  return instant <= Date.now() + maxFutureMs;
}).meta({ pattern: isoWithOffset.source });

const text = (max: number) => z.string().min(1).max(max).refine(storable);
const optionalText = (max: number) => z.string().max(max).refine(storable).nullish();
const email = z.string().trim().max(320).pipe(z.email()).meta({ format: "email" });

/** The `details` message per activity field; also each field's description. */
const activityMessages = {
  activity_code: 'Required 3-digit string (001-999), e.g. "001"',
  external_id: "Required string (1-255 characters)",
  collaborator_email: "Required valid email",
  data: "Optional JSON object (at most 16 KiB serialized, 64 levels deep)",
  occurred_at: "Optional ISO 8601 date-time with offset or Z, at most 24 hours ahead",
} as const;

export const activitySchema = z.object({
  activity_code: z.string().regex(/^(?!000)\d{3}$/).meta({ description: activityMessages.activity_code }),
  external_id: text(255).meta({
    description: `${activityMessages.external_id}: unique per tenant and environment; a known one is a duplicate`,
  }),
  collaborator_email: email.meta({
    description: `${activityMessages.collaborator_email}: the collaborator's email (not stored when unknown: skipped)`,
  }),
  data: optionalJsonObject.meta({ description: activityMessages.data }),
  occurred_at: occurredAt.nullish().meta({
    description: `${activityMessages.occurred_at}; default: the time received`,
  }),
}).meta({ id: "Activity" });
export type Activity = z.infer<typeof activitySchema>;

export const activityFieldMessages: Record<keyof Activity, string> = activityMessages;

/** The `details` message of an invalid occurred_at: a local time without offset is named as such. */
export const occurredAtMessage = (value: unknown) =>
  typeof value === "string" && withoutOffset.test(value)
    ? "Offset missing: add Z or an offset such as -03:00 to the date-time (at most 24 hours ahead)"
    : activityMessages.occurred_at;

export const collaboratorFieldMessages = {
  external_id: "external_id must be a string of 1-255 characters",
  name: "name must be a string of 1-255 characters",
  email: "email must be a valid email",
  phone: "phone must be a string of at most 50 characters",
  document: "document must be a string of at most 20 characters",
  team: "team must be a string of at most 100 characters",
  role: "role must be a string of at most 50 characters",
  metadata: "metadata must be a JSON object (at most 16 KiB serialized, 64 levels deep)",
} as const;

const described = <T extends z.ZodType>(schema: T, field: keyof typeof collaboratorFieldMessages) =>
  schema.meta({ description: collaboratorFieldMessages[field] });

export const collaboratorSchema = z.object({
  external_id: text(255).meta({
    description: `${collaboratorFieldMessages.external_id}, unique per tenant and environment`,
  }),
  name: described(text(255), "name"),
  email: email.meta({
    description: "The collaborator's identity: matched case-insensitively, trimmed, per tenant and environment",
  }),
  phone: described(optionalText(50), "phone"),
  document: described(optionalText(20), "document"),
  team: described(optionalText(100), "team"),
  role: described(optionalText(50), "role"),
  metadata: described(optionalJsonObject, "metadata"),
}).meta({ id: "Collaborator", description: "Omitted (or null) optional fields keep their stored value." });
export type Collaborator = z.infer<typeof collaboratorSchema>;
collaboratorFieldMessages satisfies Record<keyof Collaborator, string>;

const count = (description: string) => z.int().min(0).meta({ description });

export const syncCollaboratorsResult = z.strictObject({
  created: count("Collaborators created (an email not seen before)"),
  existing: count("Collaborators updated (a known email, or repeated in this batch)"),
  errors: z.array(z.string()).meta({
    description: "One `Collaborator <external_id> (<email>): <reason>` per item left out",
  }),
  total: count("Items received"),
}).meta({ id: "SyncCollaboratorsResult" });

export const syncActivitiesResult = z.strictObject({
  processed: count("Activities stored"),
  skipped: count("Activities whose email matches no collaborator (not stored)"),
  duplicates: count("Activities whose external_id was already stored, or stored by an earlier item of this batch"),
  errors: z.array(z.string()).meta({ description: "Always empty: an invalid batch is a 400" }),
  total: count("Items received"),
}).meta({ id: "SyncActivitiesResult" });

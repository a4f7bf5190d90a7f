// The envelope every function answers with, as zod schemas: the source of the OpenAPI documents'
// Meta, Error and success envelopes, and of the handlers' response types. Answers are strict
// objects: the documents say no other property is sent.
import type { Context } from "hono";
import { z } from "zod";
import { type ErrorCode, errorStatus } from "./errors.ts";
import { type AppEnv, meta } from "./http.ts";

const metaShape = {
  request_id: z.uuid().meta({ description: "The request's id (UUID v4), equal to the `X-Request-Id` header." }),
  timestamp: z.iso.datetime().meta({ description: "When the answer was made: ISO 8601 UTC with milliseconds." }),
};

/**
 * An instant both Postgres and the API's ISO 8601 output hold: UTC years 1 to 9999 (Postgres
 * refuses year 0, and JavaScript writes year 10000 as "+010000", which Postgres cannot read).
 */
export const inIsoYears = (at: Date) => at.getUTCFullYear() >= 1 && at.getUTCFullYear() <= 9999;

/** Text Postgres can store (text and jsonb): no NUL character (a 500 from the database otherwise), no lone UTF-16 surrogate. */
export const storable = (text: string) => !text.includes("\u0000") && text.isWellFormed();

export const metaSchema = z.strictObject(metaShape).meta({ id: "Meta" });

/** The meta of a page: `next_cursor` is the `cursor` of the next page, null on the last one. */
export const pageMetaSchema = z.strictObject({
  ...metaShape,
  next_cursor: z.string().nullable().meta({ description: "Pass as `cursor` for the next page; null on the last." }),
}).meta({ id: "PageMeta" });

const knownCodes = Object.keys(errorStatus) as ErrorCode[];

/**
 * An open set: a code may be added without a new API version, so the document lists the known
 * ones (`x-extensible-enum`, and as examples) and accepts any string.
 */
export const errorCodeSchema = z.string().meta({
  id: "ErrorCode",
  description: `Known codes: ${knownCodes.map((code) => `${code} (HTTP ${errorStatus[code]})`).join(", ")}. ` +
    "The list is open: treat a code you do not know by the answer's HTTP status.",
  examples: knownCodes,
  "x-extensible-enum": knownCodes,
});

export const errorDetailSchema = z.strictObject({
  index: z.int().min(0).optional().meta({ description: "Position of the item in the request's array." }),
  field: z.string(),
  message: z.string(),
}).meta({ id: "ErrorDetail" });

export const errorEnvelopeSchema = z.strictObject({
  error: z.strictObject({
    code: errorCodeSchema,
    message: z.string(),
    details: z.array(errorDetailSchema).optional(),
    retry_after: z.int().min(0).optional().meta({
      description: "Seconds to wait before retrying (429 and 503); the `Retry-After` header says the same.",
    }),
    doc_url: z.url().optional().meta({
      description: "The page that explains this code and what to do about it (docs/errors.md, where the " +
        "deployment publishes its documentation: SALESOS_DOCS_URL). On every error answer of the functions.",
      examples: ["http://127.0.0.1:54321/docs/errors.md#validation_error"],
    }),
  }),
  meta: metaSchema,
}).meta({ id: "Error", description: "Every error answer. `message` is stable: clients may match on it." });

/** `{data, meta}`: the success envelope around `data`. */
export function successEnvelope<T extends z.ZodType>(data: T) {
  return z.strictObject({ data, meta: metaSchema });
}

/** `{data: [...], meta: {..., next_cursor}}`: a page of `item`. */
export function pageEnvelope<T extends z.ZodType>(item: T) {
  return z.strictObject({ data: z.array(item), meta: pageMetaSchema });
}

type Envelope = z.ZodType<{ data: unknown; meta: Record<string, unknown> }>;

/**
 * A success answer, with its envelope schema named, the one the OpenAPI document shows for it:
 * `data` (and any extra meta) must have its type. The schema is for the type checker only:
 * nothing is parsed at run time (the OpenAPI tests check real answers against the document).
 */
export function respond<S extends Envelope>(
  c: Context<AppEnv>,
  _envelope: S,
  data: z.output<S>["data"],
  status: 200 | 201 = 200,
  extraMeta?: Omit<z.output<S>["meta"], "request_id" | "timestamp">,
) {
  return c.json({ data: data as unknown, meta: meta(c.get("requestId"), extraMeta) }, status);
}

// JSON parsing that never changes a number silently. JSON.parse reads every number as a double, and
// what is stored is that double written back (JSON.stringify, then Postgres jsonb). A literal whose
// decimal value that does not give back — not finite (1e400), a non-zero literal that rounds to 0
// (1e-400), more significant digits than a double holds (12345678901234567890,
// 0.10000000000000000001) — is read as an InexactNumber instead, which the item schemas refuse
// where it would be stored (metadata, data). Other numbers keep their value (0.1, 1.5e3 = 1500).

import { ApiError } from "../_shared/errors.ts";

/** A number literal JSON.parse cannot represent exactly, kept as its source text. */
export class InexactNumber {
  constructor(readonly source: string) {}
  /** In an echo (an item error) it shows as the client wrote it. */
  toJSON(): string {
    return this.source;
  }
}

/**
 * Only text where a number token could be long or carry an exponent needs the (slower) reviver: a
 * `:`, `,` or `[` then an optional sign and a number with 16+ digits/dots or an exponent. Strings
 * can match too (then the reviver runs for nothing); a risky number token always matches.
 */
const risky = /[:,[]\s*-?(?:[\d.]{16}|[\d.]+[eE])/;

interface ReviverContext {
  source?: string;
}

/** A number literal's decimal value, normalised: "-12.50e1" and "-125" both give "-125e3". */
function decimalValue(literal: string): string {
  const [, sign, whole, fraction = "", exponent = "0"] = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(literal)!;
  let digits = whole + fraction;
  let point = whole.length + Number(exponent);
  const leading = digits.length - digits.replace(/^0+/, "").length;
  digits = digits.slice(leading).replace(/0+$/, "");
  point -= leading;
  return digits === "" ? "0" : `${sign}${digits}e${point}`;
}

function exact(_key: string, value: unknown, context?: ReviverContext): unknown {
  if (typeof value !== "number" || context?.source === undefined) return value;
  const written = Number.isFinite(value) ? decimalValue(String(value)) : null;
  return written === decimalValue(context.source) ? value : new InexactNumber(context.source);
}

/**
 * JSON.parse, with the numbers it cannot hold exactly read as InexactNumber. Throws SyntaxError; a
 * 400 for a body nested too deeply for the reviver, which recurses (JSON.parse alone does not).
 */
export function parseExactJson(text: string): unknown {
  if (!risky.test(text)) return JSON.parse(text);
  try {
    return JSON.parse(text, exact as (key: string, value: unknown) => unknown);
  } catch (error) {
    if (error instanceof RangeError) throw new ApiError("VALIDATION_ERROR", "Request body is nested too deeply");
    throw error;
  }
}

/**
 * The first InexactNumber in `value` (depth-bounded like the schemas' check), or null. For an error
 * message: the source is cut to 40 characters.
 */
export function findInexact(value: unknown, levelsLeft = 64): string | null {
  if (value instanceof InexactNumber) {
    return value.source.length <= 40 ? value.source : `${value.source.slice(0, 40)}…`;
  }
  if (value === null || typeof value !== "object" || levelsLeft === 0) return null;
  for (const key in value) {
    const found = findInexact((value as Record<string, unknown>)[key], levelsLeft - 1);
    if (found !== null) return found;
  }
  return null;
}

export const inexactReason = (source: string) =>
  `has a number that cannot be stored exactly (${source}): a number must be finite and hold at most 15 to 17 significant digits (a double)`;

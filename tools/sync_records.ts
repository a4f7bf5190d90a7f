// The input files of `deno task sync`, read as streams: lines, CSV records (RFC 4180: a header row,
// quoted fields with commas, quotes and line breaks inside) and JSON Lines. Memory stays bounded by
// the read chunk and the longest record, whatever the file's size.

/**
 * Longer CSV records are refused, so an unterminated quote cannot swallow the rest of the file. No
 * valid item comes near it: its JSON fields are at most 16 KiB, 32 KiB with their quotes doubled.
 */
export const maxRecordChars = 128 * 1024;

/**
 * Longer lines are refused: no valid item comes near it, and a file without line breaks (lines
 * ending in a lone \r, as old Mac files have) would otherwise be held whole in memory.
 */
export const maxLineChars = 1024 * 1024;

/** The file cannot be read as text (it is not UTF-8, or a line passes maxLineChars). */
export class InputError extends Error {}

export interface Line {
  text: string;
  /** 1-based line number in the file. */
  number: number;
}

/** Lines without their `\n` or `\r\n`; `bytesRead` says how far into the file the reader is. */
export async function* readLines(
  chunks: AsyncIterable<Uint8Array>,
  progress: { bytesRead: number } = { bytesRead: 0 },
): AsyncGenerator<Line> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let pending = "";
  let number = 0;
  let first = true;
  const decode = (chunk?: Uint8Array) => {
    try {
      return decoder.decode(chunk, { stream: chunk !== undefined });
    } catch {
      throw new InputError(`the file is not UTF-8 text (invalid bytes after line ${number})`);
    }
  };
  for await (const chunk of chunks) {
    progress.bytesRead += chunk.byteLength;
    pending += decode(chunk);
    if (first && pending.length > 0) {
      if (pending.charCodeAt(0) === 0xfeff) pending = pending.slice(1); // a byte order mark is not data
      first = false;
    }
    let start = 0;
    for (let end = pending.indexOf("\n"); end !== -1; end = pending.indexOf("\n", start)) {
      const text = pending.charCodeAt(end - 1) === 13 ? pending.slice(start, end - 1) : pending.slice(start, end);
      yield { text, number: ++number };
      start = end + 1;
    }
    pending = pending.slice(start);
    if (pending.length > maxLineChars) {
      throw new InputError(
        `line ${number + 1} is longer than ${maxLineChars} characters (lines must end in \\n or \\r\\n)`,
      );
    }
  }
  pending += decode();
  if (pending.length > 0) yield { text: pending.endsWith("\r") ? pending.slice(0, -1) : pending, number: ++number };
}

export type CsvRecord =
  | { fields: string[]; line: number }
  | { error: string; line: number };

/** One record from `text`; null when a quoted field is still open at its end (it goes on in the next line). */
function parseCsvRecord(text: string): string[] | null {
  const fields: string[] = [];
  let i = 0;
  while (true) {
    let value: string;
    if (text.charCodeAt(i) === 34) {
      value = "";
      let from = i + 1;
      while (true) {
        const quote = text.indexOf('"', from);
        if (quote === -1) return null;
        if (text.charCodeAt(quote + 1) === 34) { // "" is a quote inside the field
          value += text.slice(from, quote + 1);
          from = quote + 2;
          continue;
        }
        value += text.slice(from, quote);
        i = quote + 1;
        break;
      }
      // Text between a closing quote and the next comma is kept, as spreadsheets do.
      const comma = text.indexOf(",", i);
      value += text.slice(i, comma === -1 ? text.length : comma);
      i = comma;
    } else {
      const comma = text.indexOf(",", i);
      value = text.slice(i, comma === -1 ? text.length : comma);
      i = comma;
    }
    fields.push(value);
    if (i === -1) return fields;
    i++;
  }
}

/** CSV records, blank lines skipped. A record may span lines inside quotes (joined with `\n`). */
export async function* readCsvRecords(lines: AsyncIterable<Line>): AsyncGenerator<CsvRecord> {
  let open: { text: string; line: number } | null = null;
  for await (const { text, number } of lines) {
    if (!open && text === "") continue;
    const record: { text: string; line: number } = open
      ? { text: `${open.text}\n${text}`, line: open.line }
      : { text, line: number };
    // A line without a quote cannot close the open field: no need to parse the record again
    // (which would make a long multi-line field quadratic).
    const fields = open && !text.includes('"') ? null : parseCsvRecord(record.text);
    if (fields) {
      open = null;
      yield { fields, line: record.line };
    } else if (record.text.length > maxRecordChars) {
      open = null;
      yield { error: `unterminated quoted field (record longer than ${maxRecordChars} characters)`, line: record.line };
    } else {
      open = record;
    }
  }
  if (open) yield { error: "unterminated quoted field at the end of the file", line: open.line };
}

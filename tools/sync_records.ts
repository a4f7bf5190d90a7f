// The input files of `deno task sync`, read as streams: bytes decoded to text (UTF-8 with or without
// a BOM, Windows-1252 or Latin-1, given or detected), then JSON Lines split here or CSV records parsed
// by csv-parse (delimiter `,` `;` or tab, given or detected from the header). Memory stays bounded by
// the read chunk and the longest record, whatever the file's size.
import { Buffer } from "node:buffer";
import { type CsvError, parse } from "csv-parse/stream";

/** Longer CSV records stop the run: an unterminated quote must not swallow the rest of the file. */
export const maxRecordChars = 128 * 1024;

/**
 * Longer lines are refused: no valid item comes near it, and a file without line breaks (lines
 * ending in a lone \r, as old Mac files have) would otherwise be held whole in memory.
 */
export const maxLineChars = 1024 * 1024;

/** How many bytes the encoding is detected from, when not given. */
export const detectionBytes = 64 * 1024;

export const encodings = ["utf-8", "windows-1252", "latin1"] as const;
export type Encoding = (typeof encodings)[number];

export const delimiters = { ",": ",", ";": ";", tab: "\t" } as const;
export type Delimiter = (typeof delimiters)[keyof typeof delimiters];

/** The file cannot be read (a byte that is not of its encoding, a line or record past the limits, broken CSV). */
export class InputError extends Error {}

export interface Line {
  text: string;
  /** 1-based line number in the file. */
  number: number;
}

const utf8Bom = [0xef, 0xbb, 0xbf];
const hasBom = (bytes: Uint8Array) => utf8Bom.every((b, i) => bytes[i] === b);

/**
 * UTF-8 when the bytes are UTF-8 (a BOM, or every sequence valid: text in a single-byte encoding
 * with accents is not), otherwise Windows-1252: it reads every Latin-1 text character alike and
 * also has the “smart quotes”, dashes and € that spreadsheets write in 0x80-0x9F.
 */
function detectEncoding(sample: Uint8Array, complete: boolean): Encoding {
  if (hasBom(sample)) return "utf-8";
  // A sample cut inside a multi-byte character is valid up to there: stream mode keeps that tail.
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(sample, { stream: !complete });
    return "utf-8";
  } catch {
    return "windows-1252";
  }
}

function countNewlines(bytes: Uint8Array): number {
  let count = 0;
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) count++;
  return count;
}

/**
 * The file's text in blocks of whole lines (the last may lack its newline), `\r\n` read as `\n` and
 * a BOM dropped. `encoding` undefined: detected from the first 64 KiB (`onEncoding` is told which).
 * A UTF-8 error names the line of the first invalid byte.
 */
export async function* decodeText(
  chunks: AsyncIterable<Uint8Array>,
  options: { encoding?: Encoding; progress?: { bytesRead: number }; onEncoding?: (encoding: Encoding) => void } = {},
): AsyncGenerator<string> {
  const progress = options.progress ?? { bytesRead: 0 };
  let encoding = options.encoding;
  let carry = new Uint8Array(0);
  /** Number of the first line of the next block. */
  let line = 1;
  let first = true;

  const decodeBlock = (block: Uint8Array): string => {
    if (first) {
      first = false;
      if (hasBom(block)) block = block.subarray(3);
    }
    let text: string;
    if (encoding === "latin1") {
      text = Buffer.from(block.buffer, block.byteOffset, block.byteLength).toString("latin1");
    } else if (encoding === "windows-1252") {
      text = new TextDecoder("windows-1252").decode(block);
    } else {
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(block);
      } catch {
        // UTF-8 never uses the byte 0x0a inside a character: the block's lines can be tried one by one.
        let at = 0;
        for (let number = line; at <= block.byteLength; number++) {
          const end = block.indexOf(0x0a, at);
          const piece = block.subarray(at, end === -1 ? block.byteLength : end);
          try {
            new TextDecoder("utf-8", { fatal: true }).decode(piece);
          } catch {
            const hint = options.encoding ? "" : ` (detected from the first ${detectionBytes / 1024} KiB)`;
            throw new InputError(
              `line ${number}: a byte that is not UTF-8${hint}; pass --encoding windows-1252 or --encoding latin1 ` +
                "if the file is in one of them",
            );
          }
          if (end === -1) break;
          at = end + 1;
        }
        throw new InputError(`lines ${line}-${line + countNewlines(block)}: not UTF-8`);
      }
    }
    line += countNewlines(block);
    return text.replaceAll("\r\n", "\n");
  };

  const choose = (complete: boolean) => {
    if (encoding) return;
    encoding = detectEncoding(carry, complete);
    options.onEncoding?.(encoding);
  };

  for await (const chunk of chunks) {
    progress.bytesRead += chunk.byteLength;
    const bytes = new Uint8Array(carry.byteLength + chunk.byteLength);
    bytes.set(carry);
    bytes.set(chunk, carry.byteLength);
    carry = bytes;
    if (!encoding) {
      if (carry.byteLength < detectionBytes) continue;
      choose(false);
    }
    const end = carry.lastIndexOf(0x0a) + 1;
    if (end > 0) {
      const block = carry.subarray(0, end);
      carry = carry.slice(end);
      yield decodeBlock(block);
    }
    if (carry.byteLength > maxLineChars) {
      throw new InputError(`line ${line} is longer than ${maxLineChars} characters (lines must end in \\n or \\r\\n)`);
    }
  }
  choose(true);
  if (carry.byteLength > 0) yield decodeBlock(carry);
}

/** Lines of decoded text, without their `\n`; a `\r` left at a line's end (a lone CR) is dropped. */
export async function* readLines(text: AsyncIterable<string>): AsyncGenerator<Line> {
  let number = 0;
  let pending = "";
  for await (const block of text) {
    const lines = (pending + block).split("\n");
    pending = lines.pop()!;
    for (const line of lines) yield { text: line, number: ++number };
  }
  if (pending !== "") yield { text: pending.endsWith("\r") ? pending.slice(0, -1) : pending, number: ++number };
}

/** The delimiter that splits `header` (a CSV line) most often outside quotes; `,` when none does. */
export function detectDelimiter(header: string): Delimiter {
  const counts = new Map<Delimiter, number>([[",", 0], [";", 0], ["\t", 0]]);
  let quoted = false;
  for (const character of header) {
    if (character === '"') quoted = !quoted;
    else if (!quoted && counts.has(character as Delimiter)) {
      counts.set(character as Delimiter, counts.get(character as Delimiter)! + 1);
    }
  }
  let best: Delimiter = ",";
  for (const [delimiter, count] of counts) if (count > counts.get(best)!) best = delimiter;
  return best;
}

export interface CsvRecord {
  fields: string[];
  /** 1-based line where the record starts. */
  line: number;
}

/**
 * CSV records of decoded text (RFC 4180: quoted fields with delimiters, `""` and line breaks inside;
 * a quote inside an unquoted field is text), blank lines and rows of empty cells skipped. The
 * delimiter, when not given, is detected from the first line (`onDelimiter` is told which). Broken
 * CSV (an unterminated quote, a record past maxRecordChars) is an InputError naming its line.
 */
export async function* readCsvRecords(
  text: AsyncIterable<string>,
  options: { delimiter?: Delimiter; onDelimiter?: (delimiter: Delimiter) => void } = {},
): AsyncGenerator<CsvRecord> {
  const blocks = text[Symbol.asyncIterator]();
  const firstBlock = await blocks.next();
  if (firstBlock.done) return;
  let delimiter = options.delimiter;
  if (!delimiter) {
    delimiter = detectDelimiter(firstBlock.value.trimStart().split("\n", 1)[0]);
    options.onDelimiter?.(delimiter);
  }
  const parser = parse({
    delimiter,
    record_delimiter: "\n",
    relax_quotes: true,
    relax_column_count: true,
    max_record_size: maxRecordChars,
    // Every syntax error stops the run: past a broken quote, where records start is a guess. Its
    // line is where csv-parse found it (an unclosed quote: the end of the file).
    skip_records_with_error: true,
    on_skip: (error: CsvError | undefined) => {
      const reasons: Record<string, string> = {
        CSV_QUOTE_NOT_CLOSED: "the file ends inside a quoted field (a quote not closed)",
        CSV_MAX_RECORD_SIZE: `a record longer than ${maxRecordChars} characters (a quote not closed?)`,
      };
      throw new InputError(`line ${error?.lines}: ${reasons[error?.code ?? ""] ?? error?.message}`);
    },
  });
  // One block written at a time, each once the previous was parsed: with pipeThrough the parser's
  // queue (1024 entries) would fill with 64 KiB blocks read far ahead of the records.
  const writer = parser.writable.getWriter();
  (async () => {
    try {
      await writer.write(Buffer.from(firstBlock.value));
      for (let next = await blocks.next(); !next.done; next = await blocks.next()) {
        await writer.write(Buffer.from(next.value));
      }
      await writer.close();
    } catch (error) {
      // A decoding error reaches the reader below through the stream, as a parse error does.
      await writer.abort(error).catch(() => {});
    }
  })();
  // Blank lines and rows of empty cells come as records and are skipped here, so that each
  // record's first line is known: every record takes one line plus the line breaks in its fields.
  let line = 1;
  for await (const fields of parser.readable as ReadableStream<string[]>) {
    const first = line;
    line++;
    let empty = true;
    for (const field of fields) {
      if (field === "") continue;
      empty = false;
      for (let i = field.indexOf("\n"); i !== -1; i = field.indexOf("\n", i + 1)) line++;
    }
    if (!empty) yield { fields, line: first };
  }
}

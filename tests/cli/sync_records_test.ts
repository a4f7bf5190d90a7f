// The sync CLI's file reading on its own: lines and CSV records whatever the chunk boundaries
// (a CRLF or a multi-byte character split between reads), quotes, and bounded records.
import assert from "node:assert/strict";
import {
  type CsvRecord,
  InputError,
  maxLineChars,
  maxRecordChars,
  readCsvRecords,
  readLines,
} from "../../tools/sync_records.ts";

/** `text` as a stream of `size`-byte chunks. */
async function* chunks(text: string, size: number): AsyncGenerator<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.subarray(i, i + size);
}

async function records(text: string, size = 1): Promise<CsvRecord[]> {
  const out: CsvRecord[] = [];
  for await (const record of readCsvRecords(readLines(chunks(text, size)))) out.push(record);
  return out;
}

Deno.test("lines: CRLF and LF, a BOM dropped, a last line without newline, any chunk size", async () => {
  for (const size of [1, 2, 3, 7, 1024]) {
    const progress = { bytesRead: 0 };
    const lines = [];
    for await (const line of readLines(chunks("\uFEFFa,é\r\nção\n\nlast", size), progress)) lines.push(line);
    assert.deepEqual(lines, [
      { text: "a,é", number: 1 },
      { text: "ção", number: 2 },
      { text: "", number: 3 },
      { text: "last", number: 4 },
    ]);
    assert.equal(progress.bytesRead, new TextEncoder().encode("\uFEFFa,é\r\nção\n\nlast").byteLength);
  }
});

Deno.test("CSV: quoted commas, doubled quotes, line breaks inside quotes, empty fields, blank lines", async () => {
  assert.deepEqual(
    await records('h1,h2,h3\r\n"a,b","say ""hi""",\r\n\r\n"multi\r\nline",,"x"\n"",plain,"tail"'),
    [
      { fields: ["h1", "h2", "h3"], line: 1 },
      { fields: ["a,b", 'say "hi"', ""], line: 2 },
      { fields: ["multi\nline", "", "x"], line: 4 },
      { fields: ["", "plain", "tail"], line: 6 },
    ],
  );
});

Deno.test("CSV: a quote inside an unquoted field is text; text after a closing quote is kept", async () => {
  assert.deepEqual(await records('5" screen,"ab"c,d\n'), [{ fields: ['5" screen', "abc", "d"], line: 1 }]);
});

Deno.test("CSV: an unterminated quote is reported, at the end of the file or past the record limit", async () => {
  assert.deepEqual(await records('a\n"open\nstill open'), [
    { fields: ["a"], line: 1 },
    { error: "unterminated quoted field at the end of the file", line: 2 },
  ]);
  const rest = `${"x".repeat(1000)}\n`.repeat(Math.ceil(maxRecordChars / 1000) + 1);
  const result = await records(`a\n"open ${rest}b,c\n`, 64 * 1024);
  assert.deepEqual(result.slice(0, 2), [
    { fields: ["a"], line: 1 },
    { error: `unterminated quoted field (record longer than ${maxRecordChars} characters)`, line: 2 },
  ]);
  // Reading goes on after it: the refused record does not swallow the rest of the file.
  assert.deepEqual(result.at(-1), { fields: ["b", "c"], line: 2 + Math.ceil(maxRecordChars / 1000) + 1 });
});

Deno.test("a line past the limit (a file of lone \\r line endings) is an InputError, not held whole", async () => {
  const oldMac = "external_id,name,email\r" + "rep-1,Rep,rep1@example.com\r".repeat(maxLineChars / 20);
  const lines: string[] = [];
  await assert.rejects(async () => {
    for await (const line of readLines(chunks(oldMac, 64 * 1024))) lines.push(line.text);
  }, new InputError(`line 1 is longer than ${maxLineChars} characters (lines must end in \\n or \\r\\n)`));
  assert.deepEqual(lines, []);
});

Deno.test("a file that is not UTF-8 is an InputError naming where", async () => {
  async function* latin1() {
    yield new TextEncoder().encode("ok\nfine\n");
    yield new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a]); // "café" in Latin-1
  }
  const lines: string[] = [];
  await assert.rejects(async () => {
    for await (const line of readLines(latin1())) lines.push(line.text);
  }, new InputError("the file is not UTF-8 text (invalid bytes after line 2)"));
  assert.deepEqual(lines, ["ok", "fine"]);
});

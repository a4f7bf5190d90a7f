// The sync CLI's file reading on its own: decoding (UTF-8 with or without BOM, Windows-1252, Latin-1,
// detected or given) whatever the chunk boundaries, the line of an invalid byte, CSV records through
// csv-parse with a detected delimiter, header matching and --map, and the duplicate check's memory.
import assert from "node:assert/strict";
import {
  type CsvRecord,
  decodeText,
  type Delimiter,
  detectDelimiter,
  detectionBytes,
  type Encoding,
  InputError,
  maxLineChars,
  maxRecordChars,
  readCsvRecords,
  readLines,
} from "../../tools/sync_records.ts";
import { ColumnError, parseMap, resolveColumns } from "../../tools/sync_columns.ts";
import { SeenValues } from "../../tools/sync_duplicates.ts";

/** `bytes` as a stream of `size`-byte chunks. */
async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.slice(i, i + size);
}
const utf8 = (text: string) => new TextEncoder().encode(text);
/** Windows-1252 / Latin-1 bytes of text whose characters are all below U+0100 (or the given bytes). */
const singleByte = (text: string) => Uint8Array.from([...text], (c) => c.charCodeAt(0));

async function decoded(bytes: Uint8Array, size: number, encoding?: Encoding) {
  let detected: Encoding | undefined;
  let text = "";
  for await (const block of decodeText(chunks(bytes, size), { encoding, onEncoding: (e) => (detected = e) })) {
    text += block;
  }
  return { text, detected };
}

async function records(text: string, delimiter?: Delimiter, size = 7): Promise<CsvRecord[]> {
  const out: CsvRecord[] = [];
  for await (const record of readCsvRecords(decodeText(chunks(utf8(text), size)), { delimiter })) out.push(record);
  return out;
}

Deno.test("text: CRLF read as LF, a BOM dropped, a last line without newline, any chunk size", async () => {
  const bytes = utf8("\uFEFFa,é\r\nção\n\nlast");
  for (const size of [1, 2, 3, 7, 1024]) {
    const progress = { bytesRead: 0 };
    let text = "";
    for await (const block of decodeText(chunks(bytes, size), { progress })) text += block;
    assert.equal(text, "a,é\nção\n\nlast");
    assert.equal(progress.bytesRead, bytes.byteLength);
    const lines = [];
    for await (const line of readLines(decodeText(chunks(bytes, size)))) lines.push(line);
    assert.deepEqual(lines, [
      { text: "a,é", number: 1 },
      { text: "ção", number: 2 },
      { text: "", number: 3 },
      { text: "last", number: 4 },
    ]);
  }
});

Deno.test("encodings: UTF-8 detected, Windows-1252 detected, Latin-1 and Windows-1252 as given", async () => {
  assert.deepEqual(await decoded(utf8("Conceição;Araújo\n"), 3), { text: "Conceição;Araújo\n", detected: "utf-8" });
  // "Luís D’Ávila" in Windows-1252: ’ is 0x92, which Latin-1 reads as a control character.
  const cp1252 = Uint8Array.from([...singleByte("Lu\xeds D"), 0x92, ...singleByte("\xc1vila\n")]);
  assert.deepEqual(await decoded(cp1252, 4), { text: "Luís D’Ávila\n", detected: "windows-1252" });
  assert.deepEqual(await decoded(cp1252, 4, "windows-1252"), { text: "Luís D’Ávila\n", detected: undefined });
  assert.deepEqual(await decoded(cp1252, 4, "latin1"), { text: "Luís D\x92Ávila\n", detected: undefined });
  // Only ASCII: nothing tells the encodings apart, and UTF-8 reads it right.
  assert.equal((await decoded(utf8("a;b\n"), 1)).detected, "utf-8");
});

Deno.test("an invalid UTF-8 byte is an InputError naming its line, past the detection sample too", async () => {
  const hint = "pass --encoding windows-1252 or --encoding latin1 if the file is in one of them";
  const early = new Uint8Array([...utf8("ok\nfine\n"), ...singleByte("caf\xe9\n")]);
  await assert.rejects(
    () => decoded(early, 5, "utf-8"),
    new InputError(`line 3: a byte that is not UTF-8; ${hint}`),
  );
  // Detected as UTF-8 from the first 64 KiB; the Latin-1 byte comes after.
  const lines = Math.ceil(detectionBytes / 10) + 5;
  const late = new Uint8Array([...utf8("ção 1234\n".repeat(lines)), ...singleByte("Jos\xe9\n")]);
  await assert.rejects(
    () => decoded(late, 4096),
    new InputError(`line ${lines + 1}: a byte that is not UTF-8 (detected from the first 64 KiB); ${hint}`),
  );
});

Deno.test("a line past the limit (a file of lone \\r line endings) is an InputError, not held whole", async () => {
  const oldMac = utf8("external_id,name,email\r" + "rep-1,Rep,rep1@example.com\r".repeat(maxLineChars / 20));
  await assert.rejects(
    () => decoded(oldMac, 64 * 1024),
    new InputError(`line 1 is longer than ${maxLineChars} characters (lines must end in \\n or \\r\\n)`),
  );
});

Deno.test("delimiter: the one the header row has most outside quotes; a comma when none", () => {
  assert.equal(detectDelimiter("external_id,name,email"), ",");
  assert.equal(detectDelimiter("Código;Nome;E-mail"), ";");
  assert.equal(detectDelimiter("Código\tNome\tE-mail"), "\t");
  assert.equal(detectDelimiter('"a;b;c",name,email'), ",");
  assert.equal(detectDelimiter("email"), ",");
});

Deno.test("CSV: quoted delimiters, doubled quotes, line breaks inside quotes, blank and empty rows", async () => {
  for (const [delimiter, d] of [[",", ","], [";", ";"], ["\t", "\t"]] as const) {
    const text = `h1${d}h2${d}h3\r\n"a${d}b"${d}"say ""hi"""${d}\r\n\r\n"multi\r\nline"${d}${d}"x"\n${d}${d}\n` +
      `""${d}plain${d}"tail"`;
    for (const given of [delimiter, undefined]) {
      assert.deepEqual(await records(text, given), [
        { fields: ["h1", "h2", "h3"], line: 1 },
        { fields: [`a${d}b`, 'say "hi"', ""], line: 2 },
        { fields: ["multi\nline", "", "x"], line: 4 },
        { fields: ["", "plain", "tail"], line: 7 },
      ], `delimiter ${JSON.stringify(delimiter)}, ${given ? "given" : "detected"}`);
    }
  }
});

Deno.test("CSV: a quote inside an unquoted field is text; rows keep their own field count", async () => {
  assert.deepEqual(await records('a,b,c\n5" screen,x\n1,2,3,4\n'), [
    { fields: ["a", "b", "c"], line: 1 },
    { fields: ['5" screen', "x"], line: 2 },
    { fields: ["1", "2", "3", "4"], line: 3 },
  ]);
});

Deno.test("CSV: an unterminated quote stops the reading, naming the line where it was found", async () => {
  await assert.rejects(
    () => records('a\nb\n"open\nstill open\n'),
    new InputError("line 4: the file ends inside a quoted field (a quote not closed)"),
  );
  // Found where the record passes the limit (about line 134: lines of 1000 x's), not at the end of the file.
  const rest = `${"x".repeat(1000)}\n`.repeat(Math.ceil(maxRecordChars / 1000) + 50);
  const error = await records(`a\nb\n"open ${rest}b,c\n`, ",", 64 * 1024).then(() => null, (e) => e);
  assert.ok(error instanceof InputError);
  const [, line] = /^line (\d+): a record longer than 131072 characters \(a quote not closed\?\)$/.exec(error.message)!;
  assert.ok(Math.abs(Number(line) - (3 + maxRecordChars / 1001)) < 3, error.message);
});

Deno.test("columns: field names, --map, and common headers whatever their case and accents", () => {
  const none = new Map<string, string | null>();
  assert.deepEqual(resolveColumns(["external_id", "name", "email"], "collaborators", none), [
    "external_id",
    "name",
    "email",
  ]);
  assert.deepEqual(
    resolveColumns(["Código", " Nome ", "E-MAIL", "Telefone", "CPF", "Equipe", "Função"], "collaborators", none),
    ["external_id", "name", "email", "phone", "document", "team", "role"],
  );
  assert.deepEqual(
    resolveColumns(["Código da Atividade", "ID", "E-mail do Colaborador", "Data/Hora", "data"], "activities", none),
    ["activity_code", "external_id", "collaborator_email", "occurred_at", "data"],
  );
  const map = parseMap("External ID=external_id,full name=name,Work E-mail=email,Cidade=", "collaborators");
  assert.deepEqual(
    resolveColumns(["External ID", "Full Name", "Work E-mail", "Cidade"], "collaborators", map),
    ["external_id", "name", "email", null],
  );
  assert.throws(
    () => resolveColumns(["external_id", "name", "emial", "Email", "E-mail"], "collaborators", none),
    new ColumnError(
      "unknown columns: emial; repeated columns: Email and E-mail are both email (the fields of collaborators: " +
        "external_id, name, email, phone, document, team, role, metadata; map a header with --map " +
        '"Header=field", leave one out with --map "Header=")',
    ),
  );
  assert.throws(
    () => resolveColumns(["Nome", "E-mail"], "collaborators", none),
    /^Error: missing columns: external_id \(/,
  );
  assert.throws(() => parseMap("External ID", "collaborators"), /"External ID" is not <column header>=<field>/);
  assert.throws(() => parseMap("Email=mail", "collaborators"), /"mail" is not a field of collaborators/);
});

Deno.test("duplicate check: the first line of each value, no false match among 300,000 values", () => {
  const seen = new SeenValues();
  for (let i = 0; i < 300_000; i++) assert.equal(seen.firstLine(`rep${i}@example.com`, i + 2), null);
  assert.equal(seen.firstLine("rep0@example.com", 400_000), 2);
  assert.equal(seen.firstLine("rep299999@example.com", 400_001), 300_001);
  assert.equal(seen.firstLine("someone-else@example.com", 400_002), null);
});

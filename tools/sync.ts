// `deno task sync <collaborators|activities> <file.csv|file.jsonl> --url <base>`: sends a CRM export
// to default-integration with the TypeScript client, streaming the file (bounded memory at any
// size), with a progress display on stderr, a checkpoint to resume from after a crash, rejected
// rows with their reasons in a file, and one JSON summary line on stdout. `--dry-run` validates
// the file locally and sends nothing.
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import {
  type Activity,
  type BatchReport,
  type Collaborator,
  type RetryEvent,
  SalesOSApiError,
  SalesOSClient,
  SalesOSError,
  type SyncActivitiesResult,
  type SyncCollaboratorsResult,
} from "../clients/typescript/src/index.ts";
import {
  activityFieldMessages,
  activitySchema,
  collaboratorFieldMessages,
  collaboratorSchema,
} from "../supabase/functions/default-integration/schemas.ts";
import {
  describeItem,
  fieldMessage as collaboratorFieldMessage,
} from "../supabase/functions/default-integration/actions/sync_collaborators.ts";
import { fieldMessage as activityFieldMessage } from "../supabase/functions/default-integration/actions/sync_activities.ts";
import { readSyncCliConfig } from "./config.ts";
import { ColumnError, type Kind, kinds, parseMap, resolveColumns } from "./sync_columns.ts";
import { SeenValues } from "./sync_duplicates.ts";
import {
  type CsvRecord,
  decodeText,
  type Delimiter,
  delimiters,
  type Encoding,
  encodings,
  InputError,
  type Line,
  readCsvRecords,
  readLines,
} from "./sync_records.ts";

const usage = `usage: deno task sync <collaborators|activities> <file.csv|file.jsonl> --url <base>
         [--rejected <path>] [--restart] [--max-retry-after <seconds>] [--dry-run]
         [--delimiter <,|;|tab>] [--encoding <utf-8|windows-1252|latin1>] [--map "Header=field,..."]
  The API key is read from SALESOS_API_KEY (never an argument: it would show in ps); with
  SALESOS_API_SECRET (a signed key's secret) every request is signed (P2S-SIGN-V1).
  --url               the project URL, e.g. http://127.0.0.1:54321 or https://<ref>.supabase.co
  --rejected          where rejected rows go (default <file>.rejected.jsonl; with --dry-run
                      <file>.dry-run.rejected.jsonl)
  --restart           ignore <file>.checkpoint.json and start from the first row
  --max-retry-after   longest wait for the hourly rate limit, in seconds (default 3600)
  --dry-run           read and validate every row locally, send nothing (no key or --url needed)
  --delimiter         the CSV delimiter (default: detected from the header row)
  --encoding          the file's encoding (default: detected; UTF-8 with or without BOM)
  --map               CSV column headers to fields, e.g. "External ID=external_id,E-mail=email";
                      "Header=" leaves a column out. Common headers (Nome, E-mail, Código, ...)
                      are matched without --map, ignoring case and accents.`;

/**
 * 0: every row accepted. 1: finished, some rows rejected. 2: usage, configuration or an unreadable
 * file. 3: stopped early by the service or the network; run again to resume. 130: interrupted
 * (Ctrl-C); run again to resume.
 */
const exitCodes = { ok: 0, rejected: 1, usage: 2, stopped: 3, interrupted: 130 } as const;

class UsageError extends Error {}

type Item = Record<string, unknown>;

/** A data row of the file: what to send, or why it cannot be sent. */
type InputRow =
  & { row: number; line: number }
  & ({ item: Item } | { error: string; input: unknown });

const isObject = (value: unknown): value is Item =>
  value !== null && typeof value === "object" && !Array.isArray(value);

async function* jsonlRows(lines: AsyncIterable<Line>): AsyncGenerator<InputRow> {
  let row = 0;
  for await (const { text, number } of lines) {
    if (text.trim() === "") continue;
    row++;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      yield { row, line: number, error: `not JSON: ${(error as Error).message}`, input: text };
      continue;
    }
    yield isObject(value)
      ? { row, line: number, item: value }
      : { row, line: number, error: "not a JSON object", input: text };
  }
}

async function* csvRows(
  records: AsyncIterable<CsvRecord>,
  kind: Kind,
  map: Map<string, string | null>,
): AsyncGenerator<InputRow> {
  const { jsonColumn } = kinds[kind];
  let header: string[] | null = null;
  let fields: (string | null)[] = [];
  let row = 0;
  for await (const record of records) {
    if (!header) {
      header = record.fields.map((name) => name.trim());
      try {
        fields = resolveColumns(header, kind, map);
      } catch (error) {
        if (error instanceof ColumnError) throw new UsageError(error.message);
        throw error;
      }
      continue;
    }
    row++;
    if (record.fields.length !== header.length) {
      yield {
        row,
        line: record.line,
        error: `${record.fields.length} fields, the header has ${header.length}`,
        input: record.fields,
      };
      continue;
    }
    // An empty cell is "not given": the service then keeps a collaborator's stored value.
    const item: Item = {};
    let error: string | null = null;
    for (let i = 0; i < fields.length; i++) {
      const name = fields[i];
      const value = record.fields[i];
      if (name === null || value === "") continue;
      if (name !== jsonColumn) {
        item[name] = value;
        continue;
      }
      try {
        item[name] = JSON.parse(value);
        if (!isObject(item[name])) error = `${name}: not a JSON object`;
      } catch {
        error = `${name}: not JSON`;
      }
    }
    if (!error) {
      yield { row, line: record.line, item };
      continue;
    }
    const input = Object.fromEntries(header.map((name, i) => [name, record.fields[i]]));
    yield { row, line: record.line, error, input };
  }
  if (!header) throw new UsageError("the file has no header row");
}

/**
 * Rows whose email or external_id an earlier row of the file has are rejected, naming both lines:
 * the service would merge them into one collaborator (or count the activity a duplicate).
 */
function duplicateOf(kind: Kind, seen: SeenValues, item: Item, line: number): string | null {
  for (const field of kinds[kind].identities) {
    const value = item[field];
    if (typeof value !== "string") continue;
    // The service matches emails trimmed and case-insensitively.
    const key = `${field}\0${field === "external_id" ? value : value.trim().toLowerCase()}`;
    const first = seen.firstLine(key, line);
    if (first !== null) {
      const quoted = JSON.stringify(value);
      return `${field} ${quoted} is also on line ${first}: rows of one file must not share an ${field} (this row is not sent)`;
    }
  }
  return null;
}

/** The rejection the service would answer for an item, in its words, checked with its own schemas (--dry-run). */
function localRejection(
  kind: Kind,
  item: Item,
): { reason: string; details?: { field: string; message: string }[] } | null {
  if (kind === "collaborators") {
    const parsed = collaboratorSchema.safeParse(item);
    if (parsed.success) return null;
    const fields = new Set(parsed.error.issues.map((i) => String(i.path[0]) as keyof typeof collaboratorFieldMessages));
    return { reason: describeItem(item, [...fields].map((f) => collaboratorFieldMessage(item, f)).join("; ")) };
  }
  const parsed = activitySchema.safeParse(item);
  if (parsed.success) return null;
  const fields = new Set(parsed.error.issues.map((i) => String(i.path[0]) as keyof typeof activityFieldMessages));
  const details = [...fields].map((field) => ({ field, message: activityFieldMessage(item, field) }));
  const reasons = details.map((d) => `${d.field}: ${d.message}`).join("; ");
  const echo = (name: string) => (typeof item[name] === "string" ? item[name] : JSON.stringify(item[name] ?? ""));
  return { reason: `Activity ${echo("external_id")} (${echo("collaborator_email")}): ${reasons}`, details };
}

interface Counts {
  rows: number;
  rejected: number;
  batches: number;
  [count: string]: number;
}

interface Checkpoint {
  version: 2;
  action: string;
  /** The input's content: a regenerated identical export resumes, a changed one starts over. */
  input: { sha256: string; size: number };
  /** Rows (data records, counted from 1) up to which everything was answered and recorded. */
  rows_done: number;
  rejected_file: string;
  /** Length of the rejected file at rows_done: a resumed run cuts off what came after. */
  rejected_bytes: number;
  counts: Counts;
  updated_at: string;
}

/** SHA-256 of the file, read through one reused buffer (a stream's fresh chunks would pile up as garbage). */
async function contentHash(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  const buffer = new Uint8Array(1024 * 1024);
  for (let read = await file.read(buffer); read !== null; read = await file.read(buffer)) {
    hash.update(buffer.subarray(0, read));
  }
  return hash.digest("hex");
}

/** The checkpoint to resume from, or null (none, unreadable, or of another file or run: said on stderr). */
async function readCheckpoint(
  path: string,
  expected: Pick<Checkpoint, "action" | "input" | "rejected_file">,
  note: (message: string) => void,
): Promise<Checkpoint | null> {
  let checkpoint: Checkpoint;
  try {
    checkpoint = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    note(`${path} is unreadable (${(error as Error).message}): starting from the first row`);
    return null;
  }
  const same = checkpoint?.version === 2 && checkpoint.action === expected.action &&
    checkpoint.input?.sha256 === expected.input.sha256 && checkpoint.input?.size === expected.input.size &&
    checkpoint.rejected_file === expected.rejected_file;
  if (same) return checkpoint;
  // A cron job is never stuck on an old checkpoint: a changed file is a new run.
  note(`${path} is of another file content, action or --rejected path: starting from the first row`);
  return null;
}

/** Written to a temporary file and renamed: a crash leaves the old checkpoint or the new one. */
async function writeCheckpoint(path: string, checkpoint: Checkpoint) {
  await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(checkpoint));
  await Deno.rename(`${path}.tmp`, path);
}

/** The rejected rows file, opened on the first rejection; `bytes` is its length. */
class RejectedFile {
  #file: Deno.FsFile | null = null;
  #encoder = new TextEncoder();

  constructor(readonly path: string, public bytes: number) {}

  async write(entry: Record<string, unknown>) {
    this.#file ??= await Deno.open(this.path, { append: true, create: true });
    const line = this.#encoder.encode(`${JSON.stringify(entry)}\n`);
    let written = 0;
    while (written < line.byteLength) written += await this.#file.write(line.subarray(written));
    this.bytes += line.byteLength;
  }

  close() {
    this.#file?.close();
  }
}

/**
 * A bar redrawn in place on a terminal; elsewhere (a log file, CI) a plain line every few seconds.
 * A wait before a retry counts down: each second on a terminal, a line every 10 s elsewhere.
 */
class Progress {
  #lastDraw = 0;
  #started = performance.now();
  #countdown: ReturnType<typeof setInterval> | undefined;
  /** The rows a resumed run starts after: not counted in its rows/s. */
  startRows = 0;

  constructor(readonly label: string, readonly totalBytes: number, readonly terminal: boolean) {}

  update(counts: Counts, bytesRead: number, final = false) {
    const now = performance.now();
    if (!final && now - this.#lastDraw < (this.terminal ? 100 : 5000)) return;
    this.#lastDraw = now;
    const percent = this.totalBytes === 0 ? 100 : Math.min(100, Math.floor((bytesRead / this.totalBytes) * 100));
    const perSecond = Math.round((counts.rows - this.startRows) / Math.max((now - this.#started) / 1000, 0.001));
    const text = `${counts.rows.toLocaleString("en-US")} rows, ${counts.rejected.toLocaleString("en-US")} rejected, ` +
      `${perSecond.toLocaleString("en-US")} rows/s`;
    if (this.terminal) {
      const width = 30;
      const filled = Math.round((percent / 100) * width);
      this.#write(
        `\r\x1b[2K${this.label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${percent}% ${text}${
          final ? "\n" : ""
        }`,
      );
    } else {
      this.#write(`${this.label}: ${percent}% ${text}\n`);
    }
  }

  /** A message on its own line, the bar redrawn after it. */
  note(message: string) {
    this.stopCountdown();
    this.#write(`${this.terminal ? "\r\x1b[2K" : ""}${this.label}: ${message}\n`);
    this.#lastDraw = 0;
  }

  /** `what` (e.g. "HTTP 429 RATE_LIMITED"), then the seconds left until `delayMs` has passed. */
  countdown(what: string, delayMs: number) {
    this.note(`${what}: retrying in ${(delayMs / 1000).toFixed(1)} s`);
    const until = performance.now() + delayMs;
    let lastLine = performance.now();
    this.#countdown = setInterval(() => {
      const left = Math.ceil((until - performance.now()) / 1000);
      if (left <= 0) return this.stopCountdown();
      if (this.terminal) this.#write(`\r\x1b[2K${this.label}: ${what}: retrying in ${left} s`);
      else if (performance.now() - lastLine >= 10_000) {
        lastLine = performance.now();
        this.#write(`${this.label}: ${what}: retrying in ${left} s\n`);
      }
    }, 1000);
  }

  stopCountdown() {
    if (this.#countdown === undefined) return;
    clearInterval(this.#countdown);
    this.#countdown = undefined;
    if (this.terminal) this.#write("\r\x1b[2K");
  }

  #write(text: string) {
    Deno.stderr.writeSync(new TextEncoder().encode(text));
  }
}

const describeError = (error: RetryEvent["error"]) =>
  error instanceof SalesOSApiError ? `HTTP ${error.status} ${error.code}` : error.message;

function parseCommandLine(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: "string" },
      rejected: { type: "string" },
      restart: { type: "boolean", default: false },
      "max-retry-after": { type: "string", default: "3600" },
      "dry-run": { type: "boolean", default: false },
      delimiter: { type: "string" },
      encoding: { type: "string" },
      map: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    Deno.exit(exitCodes.ok);
  }
  const [kind, file, ...rest] = positionals;
  if (!(kind in kinds) || !file || rest.length > 0) throw new UsageError(usage);
  const format = /\.csv$/i.test(file) ? "csv" : /\.(jsonl|ndjson)$/i.test(file) ? "jsonl" : null;
  if (!format) throw new UsageError(`${file}: the file name must end in .csv, .jsonl or .ndjson`);
  const dryRun = values["dry-run"];
  if (!dryRun && (!values.url || !/^https?:\/\/[^/]/.test(values.url) || !URL.canParse(values.url))) {
    throw new UsageError(`--url must be an http(s) URL\n${usage}`);
  }
  const maxRetryAfter = Number(values["max-retry-after"]);
  if (!Number.isInteger(maxRetryAfter) || maxRetryAfter < 0) {
    throw new UsageError("--max-retry-after must be a whole number of seconds");
  }
  const delimiter = values.delimiter === undefined
    ? undefined
    : delimiters[(values.delimiter === "\t" ? "tab" : values.delimiter) as keyof typeof delimiters];
  if (values.delimiter !== undefined && !delimiter) throw new UsageError("--delimiter must be , or ; or tab");
  const encoding = values.encoding?.toLowerCase().replace(/^utf8$/, "utf-8").replace(/^cp1252$/, "windows-1252");
  if (encoding !== undefined && !(encodings as readonly string[]).includes(encoding)) {
    throw new UsageError(`--encoding must be one of ${encodings.join(", ")}`);
  }
  let map: Map<string, string | null>;
  try {
    map = parseMap(values.map, kind as Kind);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return {
    kind: kind as Kind,
    file,
    format,
    url: values.url ?? "",
    rejectedPath: values.rejected ?? `${file}.${dryRun ? "dry-run.rejected" : "rejected"}.jsonl`,
    restart: values.restart,
    maxRetryAfter,
    dryRun,
    delimiter: delimiter as Delimiter | undefined,
    encoding: encoding as Encoding | undefined,
    map,
  };
}

async function main(): Promise<number> {
  const started = performance.now();
  const options = parseCommandLine(Deno.args);
  const { kind, file, dryRun } = options;
  const credentials = dryRun ? null : (() => {
    try {
      return readSyncCliConfig();
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  })();
  const { action } = kinds[kind];
  const checkpointPath = `${file}.checkpoint.json`;

  const stat = await Deno.stat(file).catch((error) => {
    throw new UsageError(`${file}: ${error.message}`);
  });
  const progress = new Progress(`sync ${kind}`, stat.size, Deno.stderr.isTerminal());

  const zero: Counts = {
    rows: 0,
    rejected: 0,
    batches: 0,
    ...Object.fromEntries((dryRun ? ["valid"] : kinds[kind].counts).map((c) => [c, 0])),
  };
  const input = dryRun ? null : { sha256: await contentHash(file), size: stat.size };
  const checkpoint = dryRun || options.restart || !input
    ? null
    : await readCheckpoint(checkpointPath, { action, input, rejected_file: options.rejectedPath }, (m) =>
      progress.note(m));
  const resumeFrom = checkpoint?.rows_done ?? 0;
  const counts: Counts = { ...(checkpoint?.counts ?? zero) };
  progress.startRows = counts.rows;
  // The counts of the last checkpoint: where a run that stops now would be resumed from.
  let saved: Counts | null = checkpoint ? { ...counts } : null;

  // What a crashed run wrote after its last checkpoint is written again by this one.
  if (checkpoint) {
    await Deno.truncate(options.rejectedPath, checkpoint.rejected_bytes).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound) || checkpoint.rejected_bytes > 0) throw error;
    });
  } else {
    await Deno.remove(options.rejectedPath).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
    if (!dryRun) await Deno.remove(checkpointPath).catch(() => {});
  }
  const rejected = new RejectedFile(options.rejectedPath, checkpoint?.rejected_bytes ?? 0);

  if (checkpoint) progress.note(`resuming after row ${resumeFrom} (${checkpointPath})`);

  const summary = (status: string, totals: Counts, extra: Record<string, unknown> = {}) => ({
    action,
    file,
    status,
    ...totals,
    resumed_after_row: resumeFrom,
    rejected_file: totals.rejected > 0 ? options.rejectedPath : null,
    duration_ms: Math.round(performance.now() - started),
    ...extra,
  });

  // Ctrl-C: what the checkpoint holds is kept, and the operator is told a rerun goes on from there.
  Deno.addSignalListener("SIGINT", () => {
    progress.stopCountdown();
    progress.note(
      dryRun
        ? "interrupted (a dry run: nothing was sent)"
        : saved
        ? `interrupted: run the same command again to resume after row ${saved.rows} (${checkpointPath})`
        : "interrupted before any batch was answered: run the same command again to start over",
    );
    console.log(JSON.stringify(summary("interrupted", saved ?? zero, { checkpoint: saved ? checkpointPath : null })));
    Deno.exit(exitCodes.interrupted);
  });

  const reading = { bytesRead: 0 };
  const fileHandle = await Deno.open(file);
  const text = decodeText(fileHandle.readable, {
    encoding: options.encoding,
    progress: reading,
    onEncoding: (encoding) => {
      if (encoding !== "utf-8") progress.note(`the file is not UTF-8: read as ${encoding} (--encoding to choose)`);
    },
  });
  const rows = options.format === "csv"
    ? csvRows(
      readCsvRecords(text, {
        delimiter: options.delimiter,
        onDelimiter: (d) => d !== "," && progress.note(`delimiter: ${d === "\t" ? "tab" : d}`),
      }),
      kind,
      options.map,
    )
    : jsonlRows(readLines(text));
  const seen = new SeenValues();

  // Rows handed to the client and not answered yet: at most one batch, plus one read ahead.
  const pending: { row: number; line: number; item: Item }[] = [];
  let lastRow = resumeFrom;
  async function* items(): AsyncGenerator<Item> {
    for await (const row of rows) {
      // Rows before the resume point still fill the duplicate check; nothing else is done with them.
      const duplicate = "item" in row ? duplicateOf(kind, seen, row.item, row.line) : null;
      if (row.row <= resumeFrom) continue;
      lastRow = row.row;
      const local = "item" in row && !duplicate && dryRun ? localRejection(kind, row.item) : null;
      if ("error" in row || duplicate || local) {
        await rejected.write({
          row: row.row,
          line: row.line,
          reason: "error" in row ? row.error : duplicate ?? local!.reason,
          ...(local?.details ? { details: local.details } : {}),
          input: "error" in row ? row.input : row.item,
        });
        counts.rejected++;
        progress.update(counts, reading.bytesRead);
        continue;
      }
      pending.push(row);
      yield row.item;
    }
  }

  try {
    if (dryRun) {
      for await (const _ of items()) {
        pending.pop();
        counts.valid++;
      }
      counts.rows = lastRow;
      progress.update(counts, reading.bytesRead, true);
      const clean = counts.rejected === 0;
      console.log(JSON.stringify(summary(clean ? "validated" : "validated_with_rejections", counts)));
      return clean ? exitCodes.ok : exitCodes.rejected;
    }

    const client = new SalesOSClient({
      apiKey: credentials!.apiKey,
      ...(credentials!.secret ? { secret: credentials!.secret } : {}),
      baseUrl: options.url,
      retry: { maxRetryAfterSeconds: options.maxRetryAfter },
      onRetry: (event) => progress.countdown(describeError(event.error), event.delayMs),
    });

    const record = async (
      report: BatchReport<SyncCollaboratorsResult> | BatchReport<SyncActivitiesResult>,
    ) => {
      progress.stopCountdown();
      const answered = pending.splice(0, report.size);
      for (const rejection of report.rejected) {
        const row = rejection.index === null ? null : answered[rejection.index - report.offset];
        await rejected.write({
          row: row?.row ?? null,
          line: row?.line ?? null,
          reason: rejection.reason,
          ...(rejection.details
            ? { details: rejection.details.map(({ field, message }) => ({ field, message })) }
            : {}),
          input: row?.item ?? null,
        });
      }
      const result: Record<string, unknown> = { ...report.result };
      for (const name of kinds[kind].counts) counts[name] += result[name] as number;
      counts.rejected += report.rejected.length;
      counts.batches++;
      const rowsDone = pending.length > 0 ? pending[0].row - 1 : lastRow;
      counts.rows = rowsDone;
      await writeCheckpoint(checkpointPath, {
        version: 2,
        action,
        input: input!,
        rows_done: rowsDone,
        rejected_file: options.rejectedPath,
        rejected_bytes: rejected.bytes,
        counts,
        updated_at: new Date().toISOString(),
      });
      saved = { ...counts };
      progress.update(counts, reading.bytesRead);
    };

    // Rows are sent as the file has them: the service validates every field and says what is wrong.
    const reports = kind === "collaborators"
      ? client.syncCollaboratorsInBatches(items() as AsyncIterable<Collaborator>)
      : client.syncActivitiesInBatches(items() as AsyncIterable<Activity>, { skipInvalid: true });
    for await (const report of reports) await record(report);
  } catch (error) {
    progress.stopCountdown();
    if (error instanceof UsageError) throw error; // such as a file whose columns are not the kind's
    // Anything else (the rejected file or the checkpoint cannot be written) stops the run the same
    // way: a summary line and exit 3, never a stack trace read as "finished with rejections" (1).
    const message = error instanceof Error ? error.message : String(error);
    progress.note(`stopped: ${message}`);
    const api = error instanceof SalesOSApiError
      ? { code: error.code, status: error.status, request_id: error.requestId, retry_after: error.retryAfter }
      : {
        code: error instanceof InputError
          ? "INPUT_ERROR"
          : error instanceof SalesOSError
          ? "CONNECTION_ERROR"
          : "LOCAL_ERROR",
      };
    // What the checkpoint holds; rows read after it are read again by the next run.
    console.log(JSON.stringify(summary("stopped", saved ?? zero, {
      checkpoint: saved ? checkpointPath : null,
      error: { ...api, message },
    })));
    return error instanceof InputError ? exitCodes.usage : exitCodes.stopped;
  } finally {
    rejected.close();
  }

  counts.rows = lastRow;
  progress.update(counts, reading.bytesRead, true);
  await Deno.remove(checkpointPath).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  const complete = counts.rejected === 0;
  console.log(JSON.stringify(summary(complete ? "completed" : "completed_with_rejections", counts)));
  return complete ? exitCodes.ok : exitCodes.rejected;
}

try {
  Deno.exit(await main());
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(error.message);
  Deno.exit(exitCodes.usage);
}

// `deno task sync <collaborators|activities> <file.csv|file.jsonl> --url <base>`: sends a CRM export
// to default-integration with the TypeScript client, streaming the file (bounded memory at any
// size), with a progress display on stderr, a checkpoint to resume from after a crash, rejected
// rows with their reasons in a file, and one JSON summary line on stdout.
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
import { readSyncCliConfig } from "./config.ts";
import { InputError, type Line, readCsvRecords, readLines } from "./sync_records.ts";

const usage = `usage: deno task sync <collaborators|activities> <file.csv|file.jsonl> --url <base>
         [--rejected <path>] [--restart] [--max-retry-after <seconds>]
  The API key is read from SALESOS_API_KEY (never an argument: it would show in ps); with
  SALESOS_API_SECRET (a signed key's secret) every request is signed (P2S-SIGN-V1).
  --url               the project URL, e.g. http://127.0.0.1:54321 or https://<ref>.supabase.co
  --rejected          where rejected rows go (default <file>.rejected.jsonl)
  --restart           ignore <file>.checkpoint.json and start from the first row
  --max-retry-after   longest wait for the hourly rate limit, in seconds (default 3600)`;

/**
 * 0: every row accepted. 1: finished, some rows rejected. 2: usage, configuration or an unreadable
 * file. 3: stopped early by the service or the network; run again to resume.
 */
const exitCodes = { ok: 0, rejected: 1, usage: 2, stopped: 3 } as const;

const kinds = {
  collaborators: {
    action: "sync_collaborators",
    columns: ["external_id", "name", "email", "phone", "document", "team", "role", "metadata"],
    required: ["external_id", "name", "email"],
    jsonColumn: "metadata",
    counts: ["created", "existing"],
  },
  activities: {
    action: "sync_activities",
    columns: ["activity_code", "external_id", "collaborator_email", "data", "occurred_at"],
    required: ["activity_code", "external_id", "collaborator_email"],
    jsonColumn: "data",
    counts: ["processed", "skipped", "duplicates"],
  },
} as const;
type Kind = keyof typeof kinds;

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

async function* csvRows(lines: AsyncIterable<Line>, kind: Kind): AsyncGenerator<InputRow> {
  const { columns, required, jsonColumn } = kinds[kind];
  let header: string[] | null = null;
  let row = 0;
  for await (const record of readCsvRecords(lines)) {
    if (!header) {
      if ("error" in record) throw new UsageError(`header row: ${record.error}`);
      header = record.fields.map((name) => name.trim());
      const unknown = header.filter((name) => !(columns as readonly string[]).includes(name));
      const missing = required.filter((name) => !header!.includes(name));
      const repeated = header.filter((name, i) => header!.indexOf(name) !== i);
      if (unknown.length || missing.length || repeated.length) {
        throw new UsageError(
          [
            unknown.length ? `unknown columns: ${unknown.join(", ")}` : "",
            missing.length ? `missing columns: ${missing.join(", ")}` : "",
            repeated.length ? `repeated columns: ${repeated.join(", ")}` : "",
          ].filter(Boolean).join("; ") + ` (the columns of ${kind}: ${columns.join(", ")})`,
        );
      }
      continue;
    }
    row++;
    if ("error" in record) {
      yield { row, line: record.line, error: record.error, input: null };
      continue;
    }
    if (record.fields.length !== header.length) {
      yield {
        row,
        line: record.line,
        error: `${record.fields.length} fields, the header has ${header.length}`,
        input: record.fields,
      };
      continue;
    }
    const input = Object.fromEntries(header.map((name, i) => [name, record.fields[i]]));
    // An empty cell is "not given": the service then keeps a collaborator's stored value.
    const item: Item = {};
    let error: string | null = null;
    for (const [name, value] of Object.entries(input)) {
      if (value === "") continue;
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
    yield error ? { row, line: record.line, error, input } : { row, line: record.line, item };
  }
  if (!header) throw new UsageError("the file has no header row");
}

interface Counts {
  rows: number;
  rejected: number;
  batches: number;
  [count: string]: number;
}

interface Checkpoint {
  version: 1;
  action: string;
  /** The input as it was: a changed file must not resume from another file's position. */
  input: { size: number; modified: string | null };
  /** Rows (data records, counted from 1) up to which everything was answered and recorded. */
  rows_done: number;
  rejected_file: string;
  /** Length of the rejected file at rows_done: a resumed run cuts off what came after. */
  rejected_bytes: number;
  counts: Counts;
  updated_at: string;
}

async function readCheckpoint(path: string): Promise<Checkpoint | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw new UsageError(`cannot read checkpoint ${path}: ${(error as Error).message}; delete it or pass --restart`);
  }
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

/** A bar redrawn in place on a terminal; elsewhere (a log file, CI) a plain line every few seconds. */
class Progress {
  #lastDraw = 0;
  #started = performance.now();
  #startRows: number;

  constructor(readonly label: string, readonly totalBytes: number, readonly terminal: boolean, startRows: number) {
    this.#startRows = startRows;
  }

  update(counts: Counts, bytesRead: number, final = false) {
    const now = performance.now();
    if (!final && now - this.#lastDraw < (this.terminal ? 100 : 5000)) return;
    this.#lastDraw = now;
    const percent = this.totalBytes === 0 ? 100 : Math.min(100, Math.floor((bytesRead / this.totalBytes) * 100));
    const perSecond = Math.round((counts.rows - this.#startRows) / Math.max((now - this.#started) / 1000, 0.001));
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
    this.#write(`${this.terminal ? "\r\x1b[2K" : ""}${this.label}: ${message}\n`);
    this.#lastDraw = 0;
  }

  #write(text: string) {
    Deno.stderr.writeSync(new TextEncoder().encode(text));
  }
}

function describeRetry({ error, delayMs }: RetryEvent): string {
  const seconds = (delayMs / 1000).toFixed(1);
  return error instanceof SalesOSApiError
    ? `HTTP ${error.status} ${error.code}: retrying in ${seconds} s`
    : `${error.message}: retrying in ${seconds} s`;
}

function parseCommandLine(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: "string" },
      rejected: { type: "string" },
      restart: { type: "boolean", default: false },
      "max-retry-after": { type: "string", default: "3600" },
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
  if (!values.url || !/^https?:\/\/[^/]/.test(values.url) || !URL.canParse(values.url)) {
    throw new UsageError(`--url must be an http(s) URL\n${usage}`);
  }
  const maxRetryAfter = Number(values["max-retry-after"]);
  if (!Number.isInteger(maxRetryAfter) || maxRetryAfter < 0) {
    throw new UsageError("--max-retry-after must be a whole number of seconds");
  }
  return {
    kind: kind as Kind,
    file,
    format,
    url: values.url,
    rejectedPath: values.rejected ?? `${file}.rejected.jsonl`,
    restart: values.restart,
    maxRetryAfter,
  };
}

async function main(): Promise<number> {
  const started = performance.now();
  const options = parseCommandLine(Deno.args);
  const { apiKey, secret } = (() => {
    try {
      return readSyncCliConfig();
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  })();
  const { kind, file } = options;
  const { action } = kinds[kind];
  const checkpointPath = `${file}.checkpoint.json`;

  const stat = await Deno.stat(file).catch((error) => {
    throw new UsageError(`${file}: ${error.message}`);
  });
  const input = { size: stat.size, modified: stat.mtime?.toISOString() ?? null };

  const zero: Counts = {
    rows: 0,
    rejected: 0,
    batches: 0,
    ...Object.fromEntries(kinds[kind].counts.map((c) => [c, 0])),
  };
  const checkpoint = options.restart ? null : await readCheckpoint(checkpointPath);
  if (checkpoint) {
    const sameInput = checkpoint.version === 1 && checkpoint.action === action &&
      checkpoint.input.size === input.size &&
      checkpoint.input.modified === input.modified && checkpoint.rejected_file === options.rejectedPath;
    if (!sameInput) {
      throw new UsageError(
        `${checkpointPath} belongs to another run (a different action, input file version or --rejected path); ` +
          "delete it or pass --restart",
      );
    }
  }
  const resumeFrom = checkpoint?.rows_done ?? 0;
  const counts: Counts = { ...(checkpoint?.counts ?? zero) };
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
  }
  const rejected = new RejectedFile(options.rejectedPath, checkpoint?.rejected_bytes ?? 0);

  const progress = new Progress(`sync ${kind}`, input.size, Deno.stderr.isTerminal(), counts.rows);
  if (checkpoint) progress.note(`resuming after row ${resumeFrom} (${checkpointPath})`);

  const client = new SalesOSClient({
    apiKey,
    ...(secret ? { secret } : {}),
    baseUrl: options.url,
    retry: { maxRetryAfterSeconds: options.maxRetryAfter },
    onRetry: (event) => progress.note(describeRetry(event)),
  });

  const reading = { bytesRead: 0 };
  const fileHandle = await Deno.open(file);
  const lines = readLines(fileHandle.readable, reading);
  const rows = options.format === "csv" ? csvRows(lines, kind) : jsonlRows(lines);

  // Rows handed to the client and not answered yet: at most one batch, plus one read ahead.
  const pending: { row: number; line: number; item: Item }[] = [];
  let lastRow = resumeFrom;
  async function* items(): AsyncGenerator<Item> {
    for await (const row of rows) {
      if (row.row <= resumeFrom) continue;
      lastRow = row.row;
      if ("error" in row) {
        await rejected.write({ row: row.row, line: row.line, reason: row.error, input: row.input });
        counts.rejected++;
        progress.update(counts, reading.bytesRead);
        continue;
      }
      pending.push(row);
      yield row.item;
    }
  }

  async function record(report: BatchReport<SyncCollaboratorsResult> | BatchReport<SyncActivitiesResult>) {
    const answered = pending.splice(0, report.size);
    for (const rejection of report.rejected) {
      const row = rejection.index === null ? null : answered[rejection.index - report.offset];
      await rejected.write({
        row: row?.row ?? null,
        line: row?.line ?? null,
        reason: rejection.reason,
        ...(rejection.details ? { details: rejection.details.map(({ field, message }) => ({ field, message })) } : {}),
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
      version: 1,
      action,
      input,
      rows_done: rowsDone,
      rejected_file: options.rejectedPath,
      rejected_bytes: rejected.bytes,
      counts,
      updated_at: new Date().toISOString(),
    });
    saved = { ...counts };
    progress.update(counts, reading.bytesRead);
  }

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

  try {
    // Rows are sent as the file has them: the service validates every field and says what is wrong.
    const reports = kind === "collaborators"
      ? client.syncCollaboratorsInBatches(items() as AsyncIterable<Collaborator>)
      : client.syncActivitiesInBatches(items() as AsyncIterable<Activity>, { skipInvalid: true });
    for await (const report of reports) await record(report);
  } catch (error) {
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

// Shared by the property tests: each property test records what it held and tried in
// reliability/last-run.json (rendered into RELIABILITY.md by tools/reliability_report.ts), keys
// and tokens the run created are remembered so the log scan can look for them, and small HTTP
// helpers that check the contract's envelope on every answer.
import assert from "node:assert/strict";
import type { JWTPayload } from "jose";
import { hs256, member } from "./api_keys.ts";
import { developmentJwtSecret } from "../../tools/config.ts";
import { errorStatus } from "../../supabase/functions/_shared/errors.ts";
import { isoMs, uuidV4 } from "./patterns.ts";
import { testLogFile } from "./server.ts";
import type { Database } from "../../supabase/functions/_shared/database.ts";
import type { KeySettings } from "../../supabase/functions/api-keys/key_settings.ts";
import { createKey as createFixtureKey, type TestKey } from "./fixtures.ts";

const lastRunFile = new URL("../../reliability/last-run.json", import.meta.url);

// --- figures of the run ---

export type Figures = Record<string, unknown>;

export interface PropertyRecord {
  title: string;
  /** Test file and test name. */
  test: string;
  holds: boolean;
  steps: { name: string; ok: boolean; error?: string }[];
  figures: Figures;
  finished_at: string;
  duration_ms: number;
}

interface LastRun {
  run?: Record<string, unknown>;
  properties: Record<string, PropertyRecord>;
}

async function readLastRun(): Promise<LastRun> {
  try {
    return JSON.parse(await Deno.readTextFile(lastRunFile));
  } catch {
    return { properties: {} };
  }
}

/** Merges one property's record into last-run.json (test files run one after another). */
async function saveProperty(id: string, record: PropertyRecord): Promise<void> {
  const run = await readLastRun();
  run.properties[id] = record;
  const sorted = Object.fromEntries(Object.entries(run.properties).sort(([a], [b]) => Number(a) - Number(b)));
  const temp = `${lastRunFile.pathname}.${crypto.randomUUID()}.tmp`;
  await Deno.mkdir(new URL(".", lastRunFile), { recursive: true });
  await Deno.writeTextFile(temp, `${JSON.stringify({ ...run, properties: sorted }, null, 2)}\n`);
  await Deno.rename(temp, lastRunFile);
}

export interface PropertyContext {
  t: Deno.TestContext;
  /** A named step whose outcome is recorded; false when it failed. */
  step(name: string, fn: () => Promise<void> | void): Promise<boolean>;
  /** Figures of this property, saved whether it holds or not. */
  figures: Figures;
}

/**
 * A Deno test for one property. The figures and the outcome of every step are written
 * to reliability/last-run.json when the test ends, also when it fails (then `holds` is false).
 */
export function propertyTest(
  id: string,
  title: string,
  testFile: string,
  fn: (ctx: PropertyContext) => Promise<void>,
  options: { sanitizeOps?: boolean; sanitizeResources?: boolean } = {},
): void {
  Deno.test({ name: title, ...options }, async (t) => {
    const started = performance.now();
    const figures: Figures = {};
    const steps: { name: string; ok: boolean; error?: string }[] = [];
    const step = async (name: string, body: () => Promise<void> | void) => {
      let error: string | undefined;
      const ok = await t.step(name, async () => {
        try {
          await body();
        } catch (e) {
          error = String((e as Error)?.message ?? e).replace(/\s+/g, " ").trim().slice(0, 400);
          throw e;
        }
      });
      steps.push({ name, ok, ...(error ? { error } : {}) });
      return ok;
    };
    let failure: unknown = null;
    try {
      await fn({ t, step, figures });
    } catch (error) {
      failure = error;
    }
    const file = new URL(testFile).pathname.replace(/^.*\/tests\//, "tests/");
    await saveProperty(id, {
      title,
      test: `${file} › ${title}`,
      holds: failure === null && steps.length > 0 && steps.every((s) => s.ok),
      steps,
      figures,
      finished_at: new Date().toISOString(),
      duration_ms: Math.round(performance.now() - started),
    });
    if (failure !== null) throw failure;
  });
}

// --- secrets the run created, for the log scan ---

/** Where the run's plaintext keys and tokens are noted (next to the log capture), if capturing. */
export const secretsFile = testLogFile ? `${testLogFile}.secrets` : null;

/** Notes plaintext keys / JWTs this run created, so the log scan can look for them exactly. */
export function rememberSecrets(...secrets: string[]): void {
  if (!secretsFile || secrets.length === 0) return;
  Deno.writeTextFileSync(secretsFile, secrets.map((s) => `${s}\n`).join(""), { append: true });
}

// --- tokens ---

/** A token of these claims signed (by default with the development secret `deno task start` verifies with), remembered as a secret. */
export async function signToken(claims: JWTPayload, secret = developmentJwtSecret): Promise<string> {
  const token = await hs256(claims, secret);
  rememberSecrets(token);
  return token;
}

/** A Dashboard user with `role` in the tenant, and their token as `deno task start` accepts it. */
export function dashboardMember(db: Database, tenantId: string, email: string, role: "owner" | "member" = "owner") {
  return member(db, tenantId, role, email, (claims) => signToken(claims));
}

// --- HTTP ---

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  // deno-lint-ignore no-explicit-any
  json: any;
  ms: number;
}

/** fetch with a deadline; the body is read and parsed when it is JSON. */
export async function http(url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<HttpAnswer> {
  const started = performance.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs ?? 30_000) });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch { /* not JSON: the envelope check reports it */ }
  return { status: res.status, headers: res.headers, text, json, ms: Math.round(performance.now() - started) };
}

export function postJson(baseUrl: string, fn: string, token: string | null, body: unknown, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  headers.set("content-type", "application/json");
  return http(`${baseUrl}/functions/v1/${fn}`, { method: "POST", ...init, headers, body: JSON.stringify(body) });
}

const codeOf = Object.fromEntries(Object.entries(errorStatus).map(([code, status]) => [status, code]));

/** The statuses a client may ever see for bad input: success or one of the contract's 4xx. */
export const allowedStatuses = new Set([200, 201, 400, 401, 403, 404, 405, 409, 413, 415, 429]);

/**
 * What is wrong with an answer's envelope ; empty when nothing is. Success:
 * {data, meta}; error: {error: {code, message, details?, retry_after?}, meta}; X-Request-Id
 * equal to meta.request_id (uuid v4); meta.timestamp ISO 8601 UTC with ms.
 */
export function envelopeProblems(status: number, headers: Headers, text: string): string[] {
  const problems: string[] = [];
  // deno-lint-ignore no-explicit-any
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return [`body is not JSON: ${text.slice(0, 80)}`];
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) return ["body is not an object"];
  if (!headers.get("content-type")?.startsWith("application/json")) problems.push("content-type is not JSON");
  const meta = body.meta;
  if (!meta || !uuidV4.test(meta.request_id)) problems.push("meta.request_id is not a uuid v4");
  if (!meta || !isoMs.test(meta.timestamp)) problems.push("meta.timestamp is not ISO 8601 UTC with ms");
  if (headers.get("x-request-id") !== meta?.request_id) problems.push("X-Request-Id differs from meta.request_id");
  if (status < 400) {
    if (!("data" in body) || "error" in body) problems.push("success without data");
    return problems;
  }
  const error = body.error;
  const keys = Object.keys(body).sort().join(",");
  if (keys !== "error,meta") problems.push(`error body has keys ${keys}`);
  if (!error || typeof error !== "object") return [...problems, "no error object"];
  if (error.code !== codeOf[status]) problems.push(`code ${error.code} for status ${status}`);
  if (typeof error.message !== "string" || error.message === "") problems.push("no message");
  const extra = Object.keys(error).filter((k) => !["code", "message", "details", "retry_after", "doc_url"].includes(k));
  if (typeof error.doc_url !== "string" || !error.doc_url.endsWith(`/errors.md#${String(error.code).toLowerCase()}`)) {
    problems.push(`doc_url ${error.doc_url} does not link the code's section`);
  }
  if (extra.length) problems.push(`unexpected error fields ${extra.join(",")}`);
  if ("details" in error) {
    const ok = Array.isArray(error.details) &&
      error.details.every((d: Record<string, unknown>) =>
        typeof d?.field === "string" && typeof d?.message === "string" &&
        (d.index === undefined || Number.isInteger(d.index))
      );
    if (!ok) problems.push("details are not [{index?, field, message}]");
  }
  if (status === 429 || status === 503) {
    if (!Number.isInteger(error.retry_after) || error.retry_after < 1) problems.push("no retry_after");
    if (headers.get("retry-after") !== String(error.retry_after)) problems.push("Retry-After differs from retry_after");
  }
  if (status === 405 && !headers.get("allow")) problems.push("405 without Allow");
  return problems;
}

export function assertEnvelope(answer: { status: number; headers: Headers; text: string }, context = ""): void {
  assert.deepEqual(envelopeProblems(answer.status, answer.headers, answer.text), [], context);
}

// --- small things ---

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts of each value, e.g. of statuses. */
export function tally<T extends string | number>(values: T[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[String(v)] = (out[String(v)] ?? 0) + 1;
  return out;
}

// --- fixtures, remembered ---

/** A key made like tests/support/fixtures.ts does, its plaintext remembered for the log scan. */
export async function createKey(db: Database, tenantId: string, settings: Partial<KeySettings> = {}): Promise<TestKey> {
  const key = await createFixtureKey(db, tenantId, settings);
  rememberSecrets(key.key);
  return key;
}

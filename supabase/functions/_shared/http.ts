// What every function shares over HTTP: the envelope, the request id, one onError that turns
// every failure into the error envelope, one JSON log line per request, and JSON body
// reading with the 5 MiB, media-type and deadline rules.
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { getPathNoStrict } from "hono/utils/url";
import { ApiError, DatabaseUnavailableError, messages } from "./errors.ts";
import { clientIp } from "./client_ip.ts";
import { defaultDocsUrl } from "./config.ts";
import { inSpan, requestCounter, requestDuration } from "./telemetry.ts";
import { apiVersion } from "./version.ts";

export const maxBodyBytes = 5 * 1024 * 1024;
const hostPrefix = "/functions/v1/";
const bodyDeadlineMs = 30_000;
/** Names the API version on every answer (and in both OpenAPI documents' `info.version`). */
export const versionHeader = "SalesOS-Version";
const retryAfterUnavailableSeconds = 5;

/** Fields a handler adds to its request's log line. Never a secret: prefixes, ids and counts. */
export type LogFields = Record<string, string | number | boolean | null | Record<string, number>>;

export type LogSink = (line: Record<string, unknown>) => void;
/** One console.log per line: what Supabase's log explorer reads from hosted functions. */
export const jsonLog: LogSink = (line) => console.log(JSON.stringify(line));

/** The log sink configured by LOG_REQUESTS: one JSON line per request through `sink`, or none. */
export const requestLog = (enabled: boolean, sink: LogSink = jsonLog): LogSink => enabled ? sink : () => {};

export interface ConnInfo {
  remoteAddr?: { hostname?: string };
}

export type AppEnv = {
  Bindings: ConnInfo;
  Variables: {
    requestId: string;
    startedAt: number;
    log: LogFields;
    /** The request's source address (client_ip.ts), as the log line and the allowlist see it. */
    clientIp: string | null;
  };
};

export function meta(requestId: string, extra?: Record<string, unknown>) {
  return { request_id: requestId, timestamp: new Date().toISOString(), ...extra };
}

/** The page of docs/errors.md that explains `code` (its heading's anchor), under the published docs. */
const errorDocUrl = (docsUrl: string, code: string) => `${docsUrl}/errors.md#${code.toLowerCase()}`;

/** The error envelope of `error`; `doc_url` links the page that explains its code. */
export function errorBody(error: ApiError, requestId: string, docsUrl: string) {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details ? { details: error.details } : {}),
      ...(error.retryAfter !== undefined ? { retry_after: error.retryAfter } : {}),
      doc_url: errorDocUrl(docsUrl, error.code),
    },
    meta: meta(requestId),
  };
}

function errorResponse(c: Context<AppEnv>, error: ApiError, docsUrl: string) {
  const log = c.get("log");
  log.error_code = error.code;
  // Every 401 says why in the log (never in the answer): a specific reason where the handler set
  // one (unknown key id, wrong secret, revoked, expired…), else the answer's own message.
  if (error.status === 401) log.auth_failure ??= error.message;
  for (const [name, value] of Object.entries(error.headers ?? {})) c.header(name, value);
  if (error.retryAfter !== undefined) c.header("Retry-After", String(error.retryAfter));
  return c.json(errorBody(error, c.get("requestId"), docsUrl), error.status);
}

/** The longest User-Agent a log line keeps (it is the client's text). */
const maxLoggedUserAgent = 256;

/**
 * A Hono app mounted at `/<functionName>` (the path Supabase hands a function) with the shared
 * behaviour. `trustedProxyHops` says which address is the client's (client_ip.ts).
 */
export function createFunctionApp(
  functionName: string,
  log: LogSink,
  { trustedProxyHops = 0, docsUrl = defaultDocsUrl } = {},
) {
  // The request id, envelope and log line are registered for every path, not only below
  // /<functionName>: a path that normalises to somewhere else (`/default-integration/%2e%2e`) is
  // still a 404 with its X-Request-Id.
  // Paths are read without a trailing slash, and past `/functions/v1` where a host keeps it (the
  // local server does; hosted Supabase hands a function its path without it).
  const root = new OpenAPIHono<AppEnv>({
    getPath: (request) => {
      const path = getPathNoStrict(request);
      return path.startsWith(hostPrefix) ? path.slice(hostPrefix.length - 1) : path;
    },
  });

  root.use((c, next) =>
    inSpan(`${functionName} request`, { "salesos.function": functionName }, async (span) => {
      const requestId = crypto.randomUUID();
      c.set("requestId", requestId);
      c.set("startedAt", performance.now());
      c.set("log", {});
      c.set(
        "clientIp",
        clientIp(c.env?.remoteAddr?.hostname, c.req.header("x-forwarded-for") ?? null, trustedProxyHops),
      );
      c.header("X-Request-Id", requestId);
      c.header(versionHeader, apiVersion);
      await next();
      const fields = c.get("log");
      span.setAttributes({
        "http.request.method": c.req.method,
        "http.response.status_code": c.res.status,
        "salesos.request_id": requestId,
        ...(fields.action ? { "salesos.action": String(fields.action) } : {}),
        ...(fields.error_code ? { "error.type": String(fields.error_code) } : {}),
      });
      const measured = { "salesos.function": functionName, "http.response.status_code": c.res.status };
      requestCounter.add(1, measured);
      requestDuration.record((performance.now() - c.get("startedAt")) / 1000, measured);
      writeLine(c, requestId);
    })
  );

  const writeLine = (c: Context<AppEnv>, requestId: string) =>
    log({
      time: new Date().toISOString(),
      level: c.res.status >= 500 ? "error" : "info",
      function: functionName,
      request_id: requestId,
      method: c.req.method,
      path: redactPath(c.req.path),
      status: c.res.status,
      latency_ms: elapsedMs(c),
      client_ip: c.get("clientIp"),
      user_agent: c.req.header("user-agent")?.slice(0, maxLoggedUserAgent) ?? null,
      ...c.get("log"),
    });

  const app = root.basePath(`/${functionName}`);
  app.notFound((c) => errorResponse(c, new ApiError("NOT_FOUND", messages.notFound), docsUrl));

  app.onError((error, c) => {
    if (error instanceof ApiError) return errorResponse(c, error, docsUrl);
    if (error instanceof DatabaseUnavailableError) {
      c.get("log").error = describe(error.cause);
      return errorResponse(
        c,
        new ApiError("SERVICE_UNAVAILABLE", messages.serviceUnavailable, { retryAfter: retryAfterUnavailableSeconds }),
        docsUrl,
      );
    }
    c.get("log").error = describe(error);
    return errorResponse(c, new ApiError("SERVER_ERROR", messages.serverError), docsUrl);
  });

  return app;
}

/**
 * The request path as logged: a key or token a client put in the URL (by mistake, or probing)
 * never reaches the log. An API key keeps its public key_prefix; a JWT is dropped whole.
 */
function redactPath(path: string): string {
  return path
    .replace(/(sk(?:_|%5f)(?:live|test)(?:_|%5f)[a-z0-9]{8})[a-z0-9]+/gi, "$1[redacted]")
    .replace(/eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){1,2}/g, "[redacted]");
}

/** An error's class, code and message only: driver errors also carry query parameters. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}${code ? ` ${code}` : ""}: ${error.message}`;
}

/** Answers 405 with `Allow` for every method a path does not serve. */
export function methodNotAllowed(allow: string): never {
  throw new ApiError("METHOD_NOT_ALLOWED", messages.methodNotAllowed(allow), { headers: { Allow: allow } });
}

export function elapsedMs(c: Context<AppEnv>): number {
  return Math.round(performance.now() - c.get("startedAt"));
}

/**
 * Reads the body as a JSON value: 413 past 5 MiB (announced or while reading), 400 when it arrives
 * incomplete or too slowly, then as parseJsonBytes.
 */
export async function readJsonBody(request: Request, options: JsonBodyOptions = {}): Promise<unknown> {
  announcedLength(request);
  return await parseJsonBytes(await readBodyBytes(request), request.headers.get("content-type"), options);
}

export interface JsonBodyOptions {
  /** An empty body reads as undefined. */
  optional?: boolean;
  parse?: (text: string) => unknown | Promise<unknown>;
}

/**
 * A body's bytes as a JSON value: 400 unless UTF-8. Under application/json a body that is not JSON
 * is 400; under any other media type (or none: `curl -d` sends a form type) a JSON object is read
 * all the same, anything else is 415.
 */
export async function parseJsonBytes(
  bytes: Uint8Array,
  contentType: string | null | undefined,
  { optional = false, parse = JSON.parse }: JsonBodyOptions = {},
): Promise<unknown> {
  const mediaType = contentType?.split(";")[0].trim().toLowerCase();
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError("VALIDATION_ERROR", "Request body must be UTF-8 encoded JSON");
  }
  // An optional body may be left out however the client sends "nothing" (no body, an empty one,
  // with or without a media type).
  if (optional && text === "") return undefined;
  if (mediaType !== "application/json") {
    const value = await parseOr(text, parse, () => undefined);
    if (isJsonObject(value)) return value;
    throw new ApiError("UNSUPPORTED_MEDIA_TYPE", messages.unsupportedMediaType);
  }
  return await parseOr(text, parse, () => {
    throw new ApiError("VALIDATION_ERROR", messages.invalidJson);
  });
}

/** `parse(text)`, or `otherwise()` when the text is not JSON. */
async function parseOr(
  text: string,
  parse: (text: string) => unknown | Promise<unknown>,
  otherwise: () => unknown,
): Promise<unknown> {
  try {
    return await parse(text);
  } catch (error) {
    if (error instanceof SyntaxError) return otherwise();
    throw error;
  }
}

const isJsonObject = (value: unknown) =>
  value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype;

/** The body's announced Content-Length (null when none or not a number); 413 when over 5 MiB. */
export function announcedLength(request: Request): number | null {
  const header = request.headers.get("content-length");
  const announced = header === null ? NaN : Number(header);
  if (announced > maxBodyBytes) throw new ApiError("PAYLOAD_TOO_LARGE", messages.payloadTooLarge);
  return Number.isSafeInteger(announced) && announced >= 0 ? announced : null;
}

/** The raw body bytes, with the 5 MiB (413) and deadline rules of every body. */
export async function readBodyBytes(request: Request): Promise<Uint8Array<ArrayBuffer>> {
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let tooSlow = false;
  const timer = setTimeout(() => {
    tooSlow = true;
    reader.cancel().catch(() => {});
  }, bodyDeadlineMs);
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (tooSlow) throw new ApiError("VALIDATION_ERROR", "Request body was not received in time");
      if (done) break;
      size += value.byteLength;
      if (size > maxBodyBytes) {
        await reader.cancel().catch(() => {});
        throw new ApiError("PAYLOAD_TOO_LARGE", messages.payloadTooLarge);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError("VALIDATION_ERROR", "Request body could not be read completely");
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

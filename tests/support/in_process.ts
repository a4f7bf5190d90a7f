// A function's app called in process: each call is built as a client would send it and its answer
// read back, and every log line the app writes is kept (and copied to the run's capture file, as
// the servers of server.ts do, so the whole-suite secrets scan sees in-process lines too).
import type { LogSink } from "../../supabase/functions/_shared/http.ts";
import { testLogFile } from "./server.ts";

export interface Answer {
  status: number;
  headers: Headers;
  // deno-lint-ignore no-explicit-any
  json: any;
}

export interface InProcessCall {
  method: string;
  /** Path as the function receives it, e.g. "/default-integration" or "/api-keys/<id>". */
  path: string;
  /** Sent as the Authorization bearer. */
  bearer?: string;
  headers?: Record<string, string>;
  /** A value to send as JSON, or a raw string/stream/bytes body. */
  body?: unknown;
  ip?: string;
}

interface FunctionApp {
  fetch(request: Request, env: { remoteAddr: { hostname: string } }): Response | Promise<Response>;
}

export function inProcess(createApp: (log: LogSink) => FunctionApp) {
  const logs: Record<string, unknown>[] = [];
  const app = createApp((line) => {
    logs.push(line);
    if (testLogFile) Deno.writeTextFileSync(testLogFile, `${JSON.stringify(line)}\n`, { append: true });
  });

  async function call(o: InProcessCall): Promise<Answer> {
    const headers = new Headers(o.headers);
    if (o.bearer !== undefined) headers.set("authorization", `Bearer ${o.bearer}`);
    let body: BodyInit | undefined;
    if (typeof o.body === "string" || o.body instanceof ReadableStream || o.body instanceof Uint8Array) {
      body = o.body as BodyInit;
    } else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
    }
    // As fetch sends it: a body of known size announces its length (a stream's is unknown).
    if (typeof body === "string" || body instanceof Uint8Array) {
      const length = typeof body === "string" ? new TextEncoder().encode(body).byteLength : body.byteLength;
      if (!headers.has("content-length")) headers.set("content-length", String(length));
    }
    const request = new Request(`http://localhost${o.path}`, { method: o.method, headers, body });
    const response = await app.fetch(request, { remoteAddr: { hostname: o.ip ?? "127.0.0.1" } });
    const text = await response.text();
    return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : null };
  }

  return { logs, call };
}

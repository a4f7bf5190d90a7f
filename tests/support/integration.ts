// The default-integration app in process, on a real database, with its log lines captured.
import type { Database } from "../../supabase/functions/_shared/database.ts";
import { createKeyVerifier, type KeyVerifier } from "../../supabase/functions/_shared/key-verifier.ts";
import { createIntegrationApp } from "../../supabase/functions/default-integration/app.ts";
import { testLogFile } from "./server.ts";

export interface CallOptions {
  method?: string;
  path?: string;
  key?: string;
  headers?: Record<string, string>;
  /** A value to send as JSON, or a raw string/stream body. */
  body?: unknown;
  ip?: string;
}

export interface Answer {
  status: number;
  headers: Headers;
  // deno-lint-ignore no-explicit-any
  json: any;
}

export interface IntegrationHarness {
  keys: KeyVerifier;
  logs: Record<string, unknown>[];
  call(options?: CallOptions): Promise<Answer>;
  post(key: string, body: unknown, options?: CallOptions): Promise<Answer>;
}

export function integrationHarness(db: Database, options: { trustedProxyHops?: number } = {}): IntegrationHarness {
  const logs: Record<string, unknown>[] = [];
  const keys = createKeyVerifier(db);
  const app = createIntegrationApp({
    db,
    keys,
    config: { trustedProxyHops: options.trustedProxyHops ?? 0 },
    log: (line) => {
      logs.push(line);
      // The same optional capture as the servers of server.ts: a whole run's log lines in one file.
      if (testLogFile) Deno.writeTextFileSync(testLogFile, `${JSON.stringify(line)}\n`, { append: true });
    },
  });

  async function call(o: CallOptions = {}): Promise<Answer> {
    const headers = new Headers(o.headers);
    if (o.key !== undefined) headers.set("authorization", `Bearer ${o.key}`);
    let body: BodyInit | undefined;
    if (typeof o.body === "string" || o.body instanceof ReadableStream || o.body instanceof Uint8Array) {
      body = o.body as BodyInit;
    } else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
    }
    const request = new Request(`http://localhost${o.path ?? "/default-integration"}`, {
      method: o.method ?? "POST",
      headers,
      body,
    });
    const response = await app.fetch(request, { remoteAddr: { hostname: o.ip ?? "127.0.0.1" } });
    const text = await response.text();
    return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : null };
  }

  return {
    keys,
    logs,
    call,
    post: (key, body, options = {}) => call({ ...options, key, body }),
  };
}

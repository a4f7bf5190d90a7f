// The default-integration app in process, on a real database, with its log lines captured.
import type { Database } from "../../supabase/functions/_shared/database.ts";
import { createKeyVerifier, type KeyVerifier } from "../../supabase/functions/default-integration/key_verifier.ts";
import { createIntegrationApp } from "../../supabase/functions/default-integration/app.ts";
import { type Answer, inProcess } from "./in_process.ts";
import { testSigningSettings } from "./fixtures.ts";

export type { Answer };

export interface CallOptions {
  method?: string;
  path?: string;
  key?: string;
  headers?: Record<string, string>;
  /** A value to send as JSON, or a raw string/stream body. */
  body?: unknown;
  ip?: string;
}

export interface IntegrationHarness {
  keys: KeyVerifier;
  logs: Record<string, unknown>[];
  call(options?: CallOptions): Promise<Answer>;
  post(key: string, body: unknown, options?: CallOptions): Promise<Answer>;
}

export function integrationHarness(db: Database, options: { trustedProxyHops?: number } = {}): IntegrationHarness {
  const keys = createKeyVerifier(db);
  const { logs, call } = inProcess((log) =>
    createIntegrationApp({
      db,
      keys,
      config: { trustedProxyHops: options.trustedProxyHops ?? 0, ...testSigningSettings },
      log,
    })
  );
  const callWithKey = ({ key, method = "POST", path = "/default-integration", ...rest }: CallOptions = {}) =>
    call({ ...rest, method, path, bearer: key });
  return {
    keys,
    logs,
    call: callWithKey,
    post: (key, body, options = {}) => callWithKey({ ...options, key, body }),
  };
}

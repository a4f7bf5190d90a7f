// `deno task start`: serves every function at http://127.0.0.1:$PORT/functions/v1/<name>, as
// `supabase functions serve` would, on the configured Postgres or the embedded one, which it
// starts and stops with itself.
import { bcryptPool } from "../supabase/functions/_shared/bcrypt_pool.ts";
import type { Database } from "../supabase/functions/_shared/database.ts";
import { ApiError, DatabaseUnavailableError, messages } from "../supabase/functions/_shared/errors.ts";
import {
  type ConnInfo,
  errorBody,
  type LogSink,
  requestLog,
  versionHeader,
} from "../supabase/functions/_shared/http.ts";
import { apiVersion } from "../supabase/functions/_shared/version.ts";
import { createKeyVerifier } from "../supabase/functions/default-integration/key_verifier.ts";
import { createIntegrationApp } from "../supabase/functions/default-integration/app.ts";
import { localJwtSecret, readLocalConfig } from "./config.ts";
import { applyMigrations, openDatabase } from "./database.ts";
import { type ConnectionFront, openFileLimit, startConnectionFront } from "./connection_front.ts";
import { portTaken } from "./embedded_postgres.ts";
import { startMaintenance } from "./maintenance.ts";
import { createMetrics } from "./metrics.ts";
import { onFirstUse } from "./on_first_use.ts";

/**
 * The request log of this server: JSON lines on stdout, the lines of up to `delayMs` in one write
 * instead of a write (and a wake-up of the reader) each, worth ~7% of small-request throughput.
 * Hosted functions console.log each line instead. `flush` before exiting; a crash loses at most
 * `delayMs` of lines.
 */
function batchedJsonLog(delayMs = 10): LogSink & { flush(): void } {
  const encoder = new TextEncoder();
  let pending = "";
  const flush = () => {
    let bytes = encoder.encode(pending);
    pending = "";
    try {
      while (bytes.length > 0) bytes = bytes.subarray(Deno.stdout.writeSync(bytes));
    } catch {
      // stdout is gone (a closed pipe): as with console.log, the lines are lost and serving goes on.
    }
  };
  const log: LogSink = (line) => {
    if (pending === "") setTimeout(flush, delayMs);
    pending += `${JSON.stringify(line)}\n`;
  };
  return Object.assign(log, { flush });
}

/**
 * `database`, whose statements wait until its pending migrations are applied, at most `waitMs` (then
 * 503, as for a statement that times out). The server listens meanwhile (the check alone takes
 * ~60 ms on Postgres): what needs no database, such as a 401 for a missing key, is answered at once.
 * With `retryUnanswered` (a Postgres server, which may start after this service), a database that
 * does not answer (refused, silent, shutting down) is tried again, with a warning each time.
 * Migrations that fail otherwise (an error in their SQL, a database that does not exist, longer
 * than the statement timeout) end the process (exit 1), after `beforeExit` (which writes the request
 * log lines of what was already answered and stops the embedded Postgres).
 */
function waitingForMigrations(
  database: Database,
  waitMs: number,
  retryUnanswered: boolean,
  beforeExit: () => Promise<void>,
): Database {
  let applied = false;
  // Each waiting statement is woken once, or leaves on its deadline: nothing piles up on a
  // database that stays away for hours.
  const waiting = new Set<() => void>();
  (async () => {
    for (let attempt = 0;; attempt++) {
      try {
        await applyMigrations(database, (message) => console.log(JSON.stringify({ level: "info", message })));
        applied = true;
        for (const wake of waiting) wake();
        return;
      } catch (error) {
        const cause = error instanceof DatabaseUnavailableError ? error.cause : error;
        const timedOut = (cause as { code?: unknown })?.code === "57014";
        if (!retryUnanswered || !(error instanceof DatabaseUnavailableError) || timedOut) {
          console.error(
            JSON.stringify({ level: "error", message: "migrations could not be applied", error: String(cause) }),
          );
          await beforeExit();
          Deno.exit(1);
        }
        const retryMs = Math.min(250 * 2 ** attempt, 2_000);
        console.error(JSON.stringify({
          level: "warn",
          message: `database not answering: migrations tried again in ${retryMs} ms`,
          error: String(cause),
        }));
        await new Promise((resolve) => setTimeout(resolve, retryMs));
      }
    }
  })();
  const migrated = () =>
    new Promise<void>((resolve, reject) => {
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiting.delete(wake);
        reject(new DatabaseUnavailableError(new Error(`migrations not applied within ${waitMs} ms`)));
      }, waitMs);
      waiting.add(wake);
    });
  return {
    ...database,
    async query<Row>(text: string, params?: readonly unknown[]) {
      if (!applied) await migrated();
      return database.query<Row>(text, params);
    },
  };
}

const usage = `usage: deno task start
  Serves every function at http://127.0.0.1:$PORT/functions/v1/<name> (PORT default 54321) and the API
  reference at /docs/, on the Postgres at DATABASE_URL, else on the embedded one (EMBEDDED_POSTGRES_DIR,
  EMBEDDED_POSTGRES_PORT default 54322). Applies pending migrations first. Settings: docs/configuration.md.`;
if (Deno.args.some((arg) => arg === "--help" || arg === "-h")) {
  console.log(usage);
  Deno.exit(0);
}

/** Exits (1) with one line when `error` is this server's port held by another program; rethrows anything else. */
async function exitIfPortTaken(error: unknown, beforeExit: () => Promise<void>): Promise<never> {
  if (!(error instanceof Deno.errors.AddrInUse)) throw error;
  console.error(JSON.stringify({ level: "error", message: portTaken(config.port, "PORT") }));
  await beforeExit();
  Deno.exit(1);
}

const config = readLocalConfig();
// The port is tried before the database is opened (which may start the embedded one), so a port
// another program holds (`supabase start`) is said at once.
try {
  Deno.listen({ hostname: "127.0.0.1", port: config.port }).close();
} catch (error) {
  await exitIfPortTaken(error, async () => {});
}
const local = await openDatabase(config, { owner: true }).catch((error) => {
  console.error(JSON.stringify({ level: "error", message: "the database could not be opened", error: error.message }));
  Deno.exit(1);
});
const stdoutLog = batchedJsonLog();
/** Set once this process stops on purpose: its cluster stopping then is expected. */
let stopping = false;
const closing = async () => {
  stopping = true;
  await local.db.close().catch(() => {});
  stdoutLog.flush();
};
const db = config.migrateOnStart
  ? waitingForMigrations(local.db, config.dbStatementTimeoutMs, config.databaseUrl !== undefined, closing)
  : local.db;

startMaintenance(db, {
  retentionDays: config.requestLogRetentionDays,
  countsRetentionDays: config.requestCountsRetentionDays,
});

const keys = createKeyVerifier(db);
// The connection front starts later; /metrics is only asked once it listens.
const metrics = createMetrics(keys, () => server.stats);
const requestLine = requestLog(config.logRequests, stdoutLog);
const log: LogSink = (line) => {
  metrics.record(line);
  requestLine(line);
};
/** The error envelope for what this server answers itself, outside the functions' apps. */
function errorAnswer(error: ApiError): Response {
  const requestId = crypto.randomUUID();
  const headers: Record<string, string> = { "X-Request-Id": requestId, [versionHeader]: apiVersion };
  if (error.retryAfter !== undefined) headers["Retry-After"] = String(error.retryAfter);
  return Response.json(errorBody(error, requestId, config.docsUrl), { status: error.status, headers });
}

type FunctionApp = { fetch: (request: Request, info: ConnInfo) => Response | Promise<Response> };

// Hosted, each function is an isolate of its own. Here too the integration function's cold start
// does not pay for the key-management app (jose, its routes and schemas: about a quarter of the
// start-up time), which is loaded on its first request.
const apiKeysApp = onFirstUse(async () => {
  const [{ createApiKeysApp }, { createJwtVerifier }] = await Promise.all([
    import("../supabase/functions/api-keys/app.ts"),
    import("../supabase/functions/api-keys/jwt.ts"),
  ]);
  // Locally, HS256 tokens of `deno task token` verify with the development secret when none is set.
  const jwt = createJwtVerifier({ ...config, jwtSecret: localJwtSecret(config) });
  return createApiKeysApp({ db, jwt, config, log });
});

const functions: Record<string, FunctionApp> = {
  "default-integration": createIntegrationApp({ db, keys, config, log }),
  "api-keys": {
    fetch: (request, info) =>
      apiKeysApp().then((app) => app.fetch(request, info), (error) => {
        console.error(
          JSON.stringify({ level: "error", message: "api-keys could not be loaded", error: String(error) }),
        );
        return errorAnswer(new ApiError("SERVICE_UNAVAILABLE", messages.serviceUnavailable, { retryAfter: 5 }));
      }),
  },
};

// The API reference is loaded on its first request: Swagger UI's package and the OpenAPI
// documents cost start-up time (~30 ms) that no function request needs.
const docs = onFirstUse(() => import("./docs.ts"));
// The Integrations console (tools/console.ts), likewise: bundled on its first request.
const consoleSite = onFirstUse(() => import("./console.ts"));

const prefix = "/functions/v1/";
/**
 * Open files kept for what is not a client connection: the database pool, the runtime's own
 * (modules, pipes, worker threads), log and docs files.
 */
const filesBesidesConnections = config.dbPoolSize + 128;
const fileLimit = openFileLimit();
const maxConnections = Math.max(
  16,
  Math.min(config.maxConnections ?? Infinity, fileLimit === null ? 1_000 : fileLimit - filesBesidesConnections),
);
const server = await listen();
// The first key's bcrypt compare then finds its worker loaded (~35 ms sooner). Creating the worker
// holds this thread ~20 ms: once listening, the first client connects meanwhile.
bcryptPool().warm();
async function listen(): Promise<ConnectionFront> {
  try {
    return startConnectionFront({
      hostname: "127.0.0.1",
      port: config.port,
      limits: { idleTimeoutMs: config.idleTimeoutMs, requestTimeoutMs: config.requestTimeoutMs, maxConnections },
      log: (line) => console.error(JSON.stringify(line)),
      onError: (error) => {
        console.error(JSON.stringify({ level: "error", message: "unhandled error", error: String(error) }));
        return errorAnswer(new ApiError("SERVER_ERROR", messages.serverError));
      },
      timeoutAnswer: () =>
        errorAnswer(new ApiError("SERVICE_UNAVAILABLE", messages.serviceUnavailable, { retryAfter: 1 })),
    }, route);
  } catch (error) {
    // Taken between the check above and now: what was started is stopped first.
    return await exitIfPortTaken(error, closing);
  }
}
console.log(JSON.stringify({
  level: "info",
  message: `serving ${Object.keys(functions).join(", ")} at http://${server.hostname}:${server.port}${prefix}<name>`,
  docs: `http://${server.hostname}:${server.port}/docs/`,
  pid: Deno.pid,
  database: local.description,
  max_connections: maxConnections,
  ...(local.cluster ? { embedded_postgres_dir: config.embeddedPostgresDir } : {}),
}));

function route(request: Request, info: ConnInfo): Response | Promise<Response> {
  const url = new URL(request.url);
  // Local only (this server listens on 127.0.0.1): Prometheus text (tools/metrics.ts). No secrets.
  if (url.pathname === "/metrics") return metrics.response();
  // The API reference (tools/docs.ts), here and not in the functions: hosted Supabase serves a
  // function's HTML as text/plain.
  if (url.pathname === "/docs" || url.pathname.startsWith("/docs/")) {
    return docs().then((m) => m.docsResponse(url.pathname), (error) => {
      console.error(
        JSON.stringify({ level: "error", message: "the API reference could not be loaded", error: String(error) }),
      );
      return new Response("The API reference could not be loaded; try again.\n", {
        status: 503,
        headers: { "Content-Type": "text/plain", "Retry-After": "5" },
      });
    });
  }
  if (url.pathname === "/console" || url.pathname.startsWith("/console/")) {
    return consoleSite().then((m) => m.consoleResponse(url.pathname, config)).catch((error) => {
      console.error(
        JSON.stringify({ level: "error", message: "the console could not be built", error: String(error) }),
      );
      return new Response("The console could not be built; try again.\n", {
        status: 503,
        headers: { "Content-Type": "text/plain", "Retry-After": "5" },
      });
    });
  }
  const name = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length).split("/")[0] : "";
  const app = Object.hasOwn(functions, name) ? functions[name] : undefined;
  if (!app) {
    return errorAnswer(new ApiError("NOT_FOUND", "Function not found"));
  }
  return app.fetch(request, info);
}

async function stop(code: number) {
  stopping = true; // before the server's shutdown, which waits for requests in flight
  await server.shutdown();
  await closing();
  Deno.exit(code);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, () => stop(0));
// Without its database the server is of no use: it stops too.
local.cluster?.exited.then((status) => {
  if (stopping) return;
  console.error(JSON.stringify({
    level: "error",
    message: `the embedded Postgres stopped (exit code ${status.code}): see ${config.embeddedPostgresDir}/log`,
  }));
  return stop(1);
});

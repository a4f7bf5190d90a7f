// The HTTP server of `deno task start`: node:http (with @hono/node-server's fetch adapter) instead of
// Deno.serve, which has no header, request or idle timeout and no connection cap, and which dies
// (`Http: Too many open files`) when accepting a connection fails.
// Rules (docs/reliability.md#connections): a connection must send complete headers within
// `headersTimeoutMs` of opening (or of its previous answer) and its whole request within
// `requestTimeoutMs`, else it is answered 408 and closed; an idle keep-alive connection is closed
// after `keepAliveTimeoutMs`; at most `maxConnections` are open at once. A connection beyond the cap
// makes room by closing the oldest one with no request being handled (silent, sending headers,
// idle between requests), else it is closed itself; so a flood of idle connections never keeps a
// client with a request out.
import { createServer, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { getRequestListener } from "@hono/node-server";
import type { ConnInfo } from "../supabase/functions/_shared/http.ts";

export interface ConnectionLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
}

export interface ListeningServer {
  hostname: string;
  port: number;
  /** Figures: connections closed to make room, or refused at the cap. */
  stats: { evicted: number; refused: number };
  /** Stops accepting, closes idle connections, resolves when requests in flight are answered. */
  shutdown(): Promise<void>;
}

type Handler = (request: Request, info: ConnInfo) => Response | Promise<Response>;

/**
 * Listens on `hostname:port` (0: any free port) and serves `handler` under `limits`. Rejects with the
 * listen error (e.g. EADDRINUSE). `log` receives connection errors.
 */
export function serveWithLimits(
  options: { hostname: string; port: number; limits: ConnectionLimits; log: (line: Record<string, unknown>) => void },
  handler: Handler,
): Promise<ListeningServer> {
  const { limits, log } = options;
  const listener = getRequestListener(
    (request, env) => handler(request, { remoteAddr: { hostname: env.incoming.socket.remoteAddress } }),
    // Global Request/Response stay the runtime's: the functions' code is the same as hosted.
    { overrideGlobalObjects: false },
  );
  const server = createServer({
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often the timeouts above are checked.
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
  }, listener);

  // Open connections in the order they opened; `true` while one of their requests is being handled.
  const open = new Map<Socket, boolean>();
  const stats = { evicted: 0, refused: 0 };
  server.on("connection", (socket: Socket) => {
    open.set(socket, false);
    socket.once("close", () => open.delete(socket));
    if (open.size <= limits.maxConnections) return;
    for (const [other, busy] of open) {
      if (busy || other === socket) continue;
      stats.evicted++;
      other.destroy();
      open.delete(other);
      return;
    }
    stats.refused++;
    socket.destroy();
  });
  server.on("request", (request: IncomingMessage) => {
    const socket = request.socket;
    if (!open.has(socket)) return;
    open.set(socket, true);
    request.once("close", () => {
      if (open.has(socket)) open.set(socket, false);
    });
  });
  // A malformed request or a connection reset: node:http answers 400 or closes; nothing to log.
  server.on("clientError", (_error, socket: Socket) => socket.destroy());
  server.on("error", (error) => log({ level: "error", message: "the HTTP server failed", error: String(error) }));

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      const address = server.address();
      resolve({
        hostname: options.hostname,
        port: typeof address === "object" && address ? address.port : options.port,
        stats,
        shutdown: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeIdleConnections();
          }),
      });
    });
  });
}

/** The soft limit of open files of this process (RLIMIT_NOFILE), or null where it cannot be read. */
export function openFileLimit(): number | null {
  try {
    const line = Deno.readTextFileSync("/proc/self/limits").split("\n").find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    if (soft === "unlimited") return Number.MAX_SAFE_INTEGER;
    if (soft && /^\d+$/.test(soft)) return Number(soft);
  } catch { /* not Linux: ask a shell */ }
  try {
    const out = new Deno.Command("sh", { args: ["-c", "ulimit -n"], stdout: "piped", stderr: "null" }).outputSync();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (text === "unlimited") return Number.MAX_SAFE_INTEGER;
    if (/^\d+$/.test(text)) return Number(text);
  } catch { /* no shell */ }
  return null;
}

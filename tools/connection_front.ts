// The connections of `deno task start`. Deno.serve has no header, request or idle timeout and no
// connection cap, and dies (`Http: Too many open files`) when accepting fails. Here this module
// accepts each connection itself (counted, timed, accept errors survived) and hands it to the same
// HTTP server as Deno.serve's (`serveHttpOnConnection`, Deno's internal per-connection entry point),
// so requests cost what they cost under Deno.serve. Two alternatives were measured and dropped:
// node:http (it has the timeouts, but costs ~35% of small-request throughput here and, on Deno 2.9,
// stops accepting for good after an EMFILE) and relaying bytes to Deno.serve on an internal port
// (~17%). The rules: docs/reliability.md#connections.
import type { ConnInfo } from "../supabase/functions/_shared/http.ts";

interface ConnectionLimits {
  /**
   * A connection with no request being handled (silent, sending its headers, idle between requests)
   * is closed this long after it opened or after its last answer.
   */
  idleTimeoutMs: number;
  /** A request not answered this long after it arrived is answered `timeoutAnswer()` and its connection closed. */
  requestTimeoutMs: number;
  /** Client connections open at once. */
  maxConnections: number;
}

type Handler = (request: Request, info: ConnInfo) => Response | Promise<Response>;

/** Deno's per-connection HTTP server (what Deno.serve runs for each connection it accepts). */
type ServeHttpOnConnection = (
  connection: Deno.Conn,
  signal: AbortSignal,
  handler: (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => Response | Promise<Response>,
  onError: (error: unknown) => Response | Promise<Response>,
  onListen: () => void,
) => { finished: Promise<void> };

const serveHttpOnConnection: ServeHttpOnConnection =
  // deno-lint-ignore no-explicit-any
  (Deno as any)[(Deno as any).internal].serveHttpOnConnection;

interface Connection {
  /** Aborted: the connection is closed once its requests in flight are answered (at once when none). */
  close: AbortController;
  inFlight: number;
  /** When it opened or answered its last request. */
  idleSince: number;
  finished: Promise<void>;
}

export interface ConnectionFront {
  hostname: string;
  port: number;
  /** Connections closed to make room, refused at the cap, closed idle, requests timed out; accept errors survived. */
  stats: { evicted: number; refused: number; idleClosed: number; requestTimeouts: number; acceptErrors: number };
  /** Stops accepting, closes idle connections, resolves when every request in flight is answered. */
  shutdown(): Promise<void>;
}

/**
 * Listens on `hostname:port` (throws Deno.errors.AddrInUse at once when taken) and serves `handler`
 * on each connection under `limits`. `log` gets accept errors; `onError` answers a handler's throw.
 */
export function startConnectionFront(
  options: {
    hostname: string;
    port: number;
    limits: ConnectionLimits;
    log: (line: Record<string, unknown>) => void;
    onError: (error: unknown) => Response;
    timeoutAnswer: () => Response;
  },
  handler: Handler,
): ConnectionFront {
  const { limits, log } = options;
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  // In the order they opened.
  const open = new Set<Connection>();
  const stats = { evicted: 0, refused: 0, idleClosed: 0, requestTimeouts: 0, acceptErrors: 0 };
  let accepting = true;

  /** Connections being closed: still counted until their file is released. */
  let closing = 0;
  const closeIdle = (connection: Connection) => {
    if (connection.close.signal.aborted) return;
    closing++;
    connection.close.abort();
  };

  /**
   * Room for one more connection under the cap: when full, closes the connection idle for longest
   * and waits until it is gone; false when every connection has a request in flight.
   */
  const makeRoom = async (): Promise<boolean> => {
    while (open.size >= limits.maxConnections) {
      if (closing === 0) {
        let idlest: Connection | null = null;
        for (const connection of open) {
          if (connection.inFlight === 0 && (!idlest || connection.idleSince < idlest.idleSince)) idlest = connection;
        }
        if (!idlest) return false;
        stats.evicted++;
        closeIdle(idlest);
      }
      await Promise.race([...open].filter((c) => c.close.signal.aborted).map((c) => c.finished));
    }
    return true;
  };

  const serve = (conn: Deno.Conn) => {
    const connection: Connection = {
      close: new AbortController(),
      inFlight: 0,
      idleSince: performance.now(),
      finished: Promise.resolve(),
    };
    const handle = (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => {
      connection.inFlight++;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<Response>((resolve) => {
        timer = setTimeout(() => {
          stats.requestTimeouts++;
          closeIdle(connection);
          resolve(options.timeoutAnswer());
        }, limits.requestTimeoutMs);
      });
      const answer = (async () => await handler(request, info))();
      return Promise.race([answer, timedOut]).finally(() => {
        clearTimeout(timer);
        connection.inFlight--;
        connection.idleSince = performance.now();
      });
    };
    open.add(connection);
    const server = serveHttpOnConnection(conn, connection.close.signal, handle, options.onError, () => {});
    connection.finished = server.finished.catch(() => {}).finally(() => {
      open.delete(connection);
      if (connection.close.signal.aborted) closing--;
    });
  };

  const sweep = setInterval(() => {
    const now = performance.now();
    for (const connection of open) {
      if (
        connection.inFlight === 0 && now - connection.idleSince > limits.idleTimeoutMs &&
        !connection.close.signal.aborted
      ) {
        stats.idleClosed++;
        closeIdle(connection);
      }
    }
  }, Math.min(1_000, limits.idleTimeoutMs / 4));

  (async () => {
    let failures = 0;
    while (accepting) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (!accepting) return;
        // EMFILE and the like (files taken by something else than connections): logged once per run
        // of failures, and accepting is tried again every 100 ms.
        if (failures++ === 0) {
          log({
            level: "error",
            message: "accepting a connection failed: tried again every 100 ms",
            error: String(error),
          });
        }
        stats.acceptErrors++;
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if (failures > 0) {
        log({ level: "info", message: `accepting connections again after ${failures} failures` });
        failures = 0;
      }
      if (!(await makeRoom())) {
        stats.refused++;
        conn.close();
        continue;
      }
      serve(conn);
    }
  })();

  const address = listener.addr as Deno.NetAddr;
  return {
    hostname: address.hostname,
    port: address.port,
    stats,
    async shutdown() {
      accepting = false;
      listener.close();
      clearInterval(sweep);
      const all = [...open];
      for (const connection of all) closeIdle(connection);
      await Promise.all(all.map((connection) => connection.finished));
    },
  };
}

/** The soft limit of open files of this process (RLIMIT_NOFILE), or null where it cannot be read. */
export function openFileLimit(): number | null {
  const parse = (text: string | undefined) =>
    text === "unlimited" ? Number.MAX_SAFE_INTEGER : text && /^\d+$/.test(text) ? Number(text) : null;
  try {
    const line = Deno.readTextFileSync("/proc/self/limits").split("\n").find((l) => l.startsWith("Max open files"));
    return parse(line?.split(/\s{2,}/)[1]);
  } catch { /* not Linux: a shell says (it inherits the limit) */ }
  try {
    const out = new Deno.Command("sh", { args: ["-c", "ulimit -n"], stdout: "piped", stderr: "null" }).outputSync();
    return parse(new TextDecoder().decode(out.stdout).trim());
  } catch {
    return null;
  }
}

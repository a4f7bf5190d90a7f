// A TCP proxy between the service and Postgres that tests can cut: `refuse` closes every
// connection and refuses new ones (database gone), `blackhole` keeps connections open but
// forwards nothing (a network gone silent), `forward` forwards again. Like TCP over a network that
// comes back, a blackhole holds what it was sent and delivers it in order once restored: it never
// drops bytes from the middle of a stream (that desynchronised the driver from the server, a fault
// no TCP connection can have). A connection made into a blackhole reaches the server only if its
// client still holds it open when the blackhole ends: one given up before is never established, as
// over a network that drops the handshake (delivering what a client sent before giving up, then its
// close, is what no network does, and it crashes PgBouncer 1.18 on a cancel request).
export type ProxyMode = "forward" | "refuse" | "blackhole";

export interface TcpProxy extends AsyncDisposable {
  /** The database URL with host and port replaced by the proxy's. */
  url: string;
  set(mode: ProxyMode): void;
}

/**
 * A proxy in front of the Postgres at `databaseUrl`. `observe` sees each chunk it forwards, from the
 * client or the server, before passing it on.
 */
export function startTcpProxy(
  databaseUrl: string,
  observe: (from: "client" | "server", chunk: Uint8Array) => void = () => {},
): TcpProxy {
  const target = new URL(databaseUrl);
  const targetHost = target.hostname;
  const targetPort = Number(target.port || 5432);
  let mode: ProxyMode = "forward";
  // Resolved when a blackhole ends: what waits on it moves on.
  let blackholeEnded: Promise<void> = Promise.resolve();
  let endBlackhole = () => {};
  const open = new Set<Deno.Conn>();
  let listener: Deno.Listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;

  const closeAll = () => {
    for (const conn of open) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
    open.clear();
  };

  // In a blackhole the pump holds what it read and reads no more: the peers wait for answers.
  async function pump(side: "client" | "server", from: Chunks, to: Deno.Conn, held: Uint8Array[] = []) {
    const forward = (chunk: Uint8Array) => (observe(side, chunk), writeAll(to, chunk));
    try {
      for (const chunk of held) await forward(chunk);
      for (let chunk = await from.next(); chunk !== null; chunk = await from.next()) {
        while (mode === "blackhole") await blackholeEnded;
        await forward(chunk);
      }
    } catch { /* the other side went away */ }
    for (const conn of [from.conn, to]) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  }

  async function handle(client: Deno.Conn) {
    open.add(client);
    const fromClient = chunks(client);
    // Made into a blackhole: what the client sends is held until it ends; a client that closes
    // meanwhile gave up on a connection that was never established.
    const held: Uint8Array[] = [];
    while (mode === "blackhole") {
      const ended = blackholeEnded.then(() => "ended" as const);
      if (await Promise.race([fromClient.started(), ended]) === "ended") continue;
      const chunk = await fromClient.next();
      if (chunk === null) {
        client.close();
        open.delete(client);
        return;
      }
      held.push(chunk);
    }
    if (!open.has(client)) return; // refused meanwhile
    let server: Deno.Conn;
    try {
      server = await Deno.connect({ hostname: targetHost, port: targetPort });
    } catch {
      client.close();
      open.delete(client);
      return;
    }
    open.add(server);
    await Promise.all([pump("client", fromClient, server, held), pump("server", chunks(server), client)]);
    open.delete(client);
    open.delete(server);
  }

  async function acceptLoop(l: Deno.Listener) {
    try {
      for await (const conn of l) handle(conn);
    } catch { /* listener closed */ }
  }
  acceptLoop(listener);

  const proxied = new URL(databaseUrl);
  proxied.hostname = "127.0.0.1";
  proxied.port = String(port);

  return {
    url: proxied.toString(),
    set(next) {
      if (next === mode) return;
      if (next === "refuse") {
        listener.close();
        closeAll();
      } else if (mode === "refuse") {
        listener = Deno.listen({ hostname: "127.0.0.1", port });
        acceptLoop(listener);
      }
      if (next === "blackhole") blackholeEnded = new Promise((resolve) => (endBlackhole = resolve));
      if (mode === "blackhole") endBlackhole();
      mode = next;
    },
    async [Symbol.asyncDispose]() {
      if (mode !== "refuse") listener.close();
      closeAll();
      // What waits in a blackhole moves on and finds its connections closed (with the mode still
      // "blackhole" it would wait again at once, forever).
      mode = "refuse";
      endBlackhole();
      await new Promise((r) => setTimeout(r, 10));
    },
  };
}

/** What `conn` reads, chunk by chunk; a read can be started before its chunk is taken (`started`). */
interface Chunks {
  conn: Deno.Conn;
  started(): Promise<Uint8Array | null>;
  next(): Promise<Uint8Array | null>;
}

function chunks(conn: Deno.Conn): Chunks {
  let pending: Promise<Uint8Array | null> | undefined;
  const started = () =>
    pending ??= (async () => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        const n = await conn.read(buffer);
        return n === null ? null : buffer.subarray(0, n);
      } catch {
        return null; // closed
      }
    })();
  return {
    conn,
    started,
    async next() {
      const chunk = await started();
      pending = undefined;
      return chunk;
    },
  };
}

async function writeAll(to: Deno.Conn, chunk: Uint8Array) {
  let written = 0;
  while (written < chunk.byteLength) written += await to.write(chunk.subarray(written));
}

// The fault-injecting proxy of the reliability and database-fault tests behaves as a network does.
import assert from "node:assert/strict";
import { startTcpProxy } from "./tcp_proxy.ts";

/** An echo server: what it reads, it writes back; `accepted` counts its connections. */
function startEcho() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const echo = { accepted: 0 };
  (async () => {
    for await (const conn of listener) {
      echo.accepted++;
      (async () => {
        const buffer = new Uint8Array(1024);
        try {
          for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
            await conn.write(buffer.subarray(0, n));
          }
        } catch { /* closed */ }
        conn.close();
      })();
    }
  })().catch(() => {});
  return Object.assign(echo, {
    url: `postgres://echo@127.0.0.1:${(listener.addr as Deno.NetAddr).port}/x`,
    close: () => listener.close(),
  });
}

async function readExactly(conn: Deno.Conn, length: number): Promise<string> {
  const bytes = new Uint8Array(length);
  let read = 0;
  while (read < length) {
    const n = await conn.read(bytes.subarray(read));
    if (n === null) throw new Error("closed");
    read += n;
  }
  return new TextDecoder().decode(bytes);
}

Deno.test("test proxy: a blackhole holds what it is sent and delivers it in order once restored", async () => {
  const echo = startEcho();
  await using proxy = startTcpProxy(echo.url);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(proxy.url).port) });
  try {
    await conn.write(new TextEncoder().encode("one;"));
    assert.equal(await readExactly(conn, 4), "one;");
    proxy.set("blackhole");
    await conn.write(new TextEncoder().encode("two;"));
    await conn.write(new TextEncoder().encode("three;"));
    const answer = readExactly(conn, 10);
    let answered = false;
    answer.finally(() => (answered = true)).catch(() => {});
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(answered, false, "nothing crosses a blackhole");
    proxy.set("forward");
    assert.equal(await answer, "two;three;");
  } finally {
    conn.close();
    echo.close();
  }
});

Deno.test("test proxy: a connection made into a blackhole is established only if its client still waits", async () => {
  const echo = startEcho();
  await using proxy = startTcpProxy(echo.url);
  const port = Number(new URL(proxy.url).port);
  try {
    proxy.set("blackhole");
    const gaveUp = await Deno.connect({ hostname: "127.0.0.1", port });
    await gaveUp.write(new TextEncoder().encode("cancel;"));
    gaveUp.close();
    const waits = await Deno.connect({ hostname: "127.0.0.1", port });
    await waits.write(new TextEncoder().encode("query;"));
    await new Promise((r) => setTimeout(r, 50));
    proxy.set("forward");
    assert.equal(await readExactly(waits, 6), "query;", "what the waiting client sent is delivered");
    waits.close();
    assert.equal(echo.accepted, 1, "the client that gave up never reached the server");
  } finally {
    echo.close();
  }
});

Deno.test("test proxy: disposed during a blackhole, it lets go of what waits in it", async () => {
  // In a child process: had the proxy's pumps kept waiting, they would have starved this event loop.
  const echo = startEcho();
  const scenario = `
    import { startTcpProxy } from ${JSON.stringify(new URL("./tcp_proxy.ts", import.meta.url).href)};
    const proxy = startTcpProxy(${JSON.stringify(echo.url)});
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(proxy.url).port) });
    await conn.write(new Uint8Array(4));
    await conn.read(new Uint8Array(4));
    proxy.set("blackhole");
    await conn.write(new Uint8Array(4));
    await new Promise((r) => setTimeout(r, 50)); // the proxy holds the bytes now
    await proxy[Symbol.asyncDispose]();
    console.log(await conn.read(new Uint8Array(4)));`;
  try {
    const child = await new Deno.Command("deno", {
      args: ["eval", "--quiet", scenario],
      signal: AbortSignal.timeout(15_000),
      stderr: "inherit",
    }).output();
    assert.equal(child.success, true, "the proxy did not let go within 15 s");
    assert.equal(new TextDecoder().decode(child.stdout).trim(), "null", "the held connection is closed");
  } finally {
    echo.close();
  }
});

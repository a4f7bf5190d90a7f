// Connections never take the server down (issue 16, finding 3), against `deno task start` under a
// soft limit of 1,024 open files: 2,000 connections that are silent, stop halfway through their
// headers, or stop halfway through their body (headers complete, with a valid key) leave the
// process up; a valid authenticated request is answered within 5 s while they are open and within
// 1 s after they are closed; and each kind of half-open connection, and an idle keep-alive one, is
// closed by the server after its timeout (docs/reliability.md#connections).
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { createTenant } from "../support/fixtures.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { createKey, postJson, propertyTest, sleep, tally } from "../support/properties.ts";

const encoder = new TextEncoder();
const fileLimit = 1024;
const flood = 2000;
/** For the timeouts' step only; the flood meets the defaults (10 s idle, 60 s per request). */
const shortTimeouts = { HTTP_IDLE_TIMEOUT_MS: "2000", HTTP_REQUEST_TIMEOUT_MS: "4000" };

type Kind = "silent" | "half headers" | "half body";
const kinds: Kind[] = ["silent", "half headers", "half body"];

/** What a half-open connection of `kind` sends, then it stays silent. */
function opening(kind: Kind, host: string, key: string): Uint8Array {
  if (kind === "silent") return new Uint8Array();
  const head = `POST /functions/v1/default-integration HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${key}\r\n` +
    `Content-Type: application/json\r\nContent-Length: 1000\r\n`;
  if (kind === "half headers") return encoder.encode(head.slice(0, head.length - 20));
  return encoder.encode(`${head}\r\n{"action":"sync_activities","activities":[`);
}

/** Resolves when the server closes `conn` (or resets it): what it sent first, if anything. */
async function closedByServer(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(1024);
  let first = "";
  try {
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      first ||= new TextDecoder().decode(buffer.subarray(0, n)).split("\r\n")[0];
    }
  } catch { /* reset, or closed by the test */ }
  return first || "closed";
}

propertyTest("11", "connections never take the server down", import.meta.url, async ({ step, figures }) => {
  await using test = await freshDatabase();
  await using server = await startServer(serverEnv(test.url), { fileLimit });
  assert.ok(server.pid, "the server reports its pid");
  const tenant = await createTenant(test.db, "connections");
  const { key } = await createKey(test.db, tenant, { rate_limit_per_hour: 100_000 });
  const { hostname, port } = new URL(server.baseUrl);
  const valid = () =>
    postJson(server.baseUrl, "default-integration", key, { action: "sync_activities", activities: [] });
  const alive = () => {
    try {
      Deno.statSync(`/proc/${server.pid}`);
      return true;
    } catch {
      return false;
    }
  };
  assert.equal((await valid()).status, 200, "the key works before the flood");
  const limits = /"max_connections":(\d+)/.exec(server.output())?.[1];
  figures.setup = { file_limit: fileLimit, connections: flood, kinds, max_connections: Number(limits) };

  await step(`${flood} idle or half-open connections: the process stays up and answers a valid request`, async () => {
    const conns: Deno.Conn[] = [];
    const closings: Promise<string>[] = [];
    const connectErrors: string[] = [];
    const started = performance.now();
    for (let i = 0; i < flood; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, flood - i) }, async (_, j) => {
        try {
          const conn = await Deno.connect({ hostname, port: Number(port) });
          conns.push(conn);
          closings.push(closedByServer(conn));
          const bytes = opening(kinds[(i + j) % kinds.length], hostname, key);
          if (bytes.length) await conn.write(bytes);
        } catch (error) {
          connectErrors.push((error as Error).name);
        }
      }));
    }
    const openedMs = Math.round(performance.now() - started);
    const during = await valid();
    const stillUp = alive();
    let closedByNow = 0;
    await Promise.all(closings.map((c) => Promise.race([c.then(() => closedByNow++), sleep(0)])));
    const closedWhileOpen = closedByNow;
    for (const conn of conns) {
      try {
        conn.close();
      } catch { /* closed by the server */ }
    }
    const firstLines = tally(await Promise.all(closings));
    await sleep(100);
    const after = await valid();
    const metricsText = await (await fetch(`${server.baseUrl}/metrics`)).text();
    const connections = Object.fromEntries(
      [...metricsText.matchAll(/^salesos_connection_events_total\{event="(\w+)"\} (\d+)$/gm)].map((m) => [m[1], +m[2]]),
    );
    figures.flood = {
      opened: conns.length,
      connect_errors: tally(connectErrors),
      opened_in_ms: openedMs,
      closed_by_server_while_open: closedWhileOpen,
      what_the_flood_read: firstLines,
      valid_request_during: { status: during.status, ms: during.ms },
      valid_request_after: { status: after.status, ms: after.ms },
      process_up: stillUp && alive(),
      server_counts: connections,
    };
    assert.ok(stillUp && alive(), `the process is up:\n${server.output().slice(-2000)}`);
    assert.equal(during.status, 200, during.text);
    assert.ok(during.ms <= 5_000, `answered in ${during.ms} ms while the connections were open (≤ 5,000)`);
    assert.equal(after.status, 200, after.text);
    assert.ok(after.ms <= 1_000, `answered in ${after.ms} ms after they were closed (≤ 1,000)`);
  });

  await step("half-open and idle connections are closed by the server after their timeout", async () => {
    await using server = await startServer(serverEnv(test.url, shortTimeouts));
    const { hostname, port } = new URL(server.baseUrl);
    const closedAfter: Record<string, number | string> = {};
    const kept: Record<string, string> = {};
    await Promise.all([...kinds, "idle keep-alive" as const].map(async (kind) => {
      const conn = await Deno.connect({ hostname, port: Number(port) });
      const started = performance.now();
      if (kind === "idle keep-alive") {
        const body = '{"action":"sync_activities","activities":[]}';
        await conn.write(encoder.encode(
          `POST /functions/v1/default-integration HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${key}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        ));
      } else {
        const bytes = opening(kind, hostname, key);
        if (bytes.length) await conn.write(bytes);
      }
      const first = await Promise.race([closedByServer(conn), sleep(30_000).then(() => "still open after 30 s")]);
      kept[kind] = first;
      closedAfter[kind] = first === "still open after 30 s" ? first : Math.round(performance.now() - started);
      try {
        conn.close();
      } catch { /* closed */ }
    }));
    figures.timeouts = { ...shortTimeouts, closed_after_ms: closedAfter, first_line_read: kept };
    for (const [kind, ms] of Object.entries(closedAfter)) {
      assert.ok(typeof ms === "number", `${kind}: ${ms}`);
    }
    assert.ok(kept["idle keep-alive"].startsWith("HTTP/1.1 200"), "the keep-alive connection was answered first");
  });
}, { sanitizeResources: false, sanitizeOps: false });

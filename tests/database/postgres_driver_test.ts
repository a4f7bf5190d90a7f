// The service's Postgres driver settings: parameters arrive whole, prepared or not, and those the
// two would send differently are refused; an unprepared statement takes one round trip; and a
// failure while a connection opens is the failing statement's own error, never one that escapes
// every caller.
import assert from "node:assert/strict";
import { readConfig } from "../../supabase/functions/_shared/config.ts";
import { DatabaseUnavailableError } from "../../supabase/functions/_shared/errors.ts";
import { connectPostgres } from "../../supabase/functions/_shared/postgres.ts";
import { freshDatabase, openTransaction } from "../support/database.ts";
import { startTcpProxy } from "../support/tcp_proxy.ts";

/**
 * The type of each protocol message in a byte stream fed to it chunk by chunk (one letter each), to
 * `record`; `startup`: the stream opens with a startup message, which has no type.
 */
function messageTypes(startup: boolean, record: (type: string) => void) {
  let pending = new Uint8Array(0);
  return (chunk: Uint8Array) => {
    pending = new Uint8Array([...pending, ...chunk]);
    for (;;) {
      const header = startup ? 0 : 1;
      if (pending.length < header + 4) break;
      const length = new DataView(pending.buffer).getUint32(header);
      if (pending.length < header + length) break;
      if (!startup) record(String.fromCharCode(pending[0]));
      pending = pending.slice(header + length);
      startup = false;
    }
  };
}

/**
 * A proxy to `databaseUrl` that records, in the order it forwards them, the type of every message the
 * client sends after its startup message (P Parse, D Describe, B Bind, E Execute, H Flush, S Sync)
 * and of the server's ReadyForQuery (Z), each recorded before it is passed on. One connection.
 */
function recordingProxy(databaseUrl: string) {
  const sent: string[] = [];
  const fromClient = messageTypes(true, (type) => sent.push(type));
  const fromServer = messageTypes(false, (type) => type === "Z" && sent.push(type));
  const proxy = startTcpProxy(databaseUrl, (from, chunk) => (from === "client" ? fromClient : fromServer)(chunk));
  return { url: proxy.url, sent, close: () => proxy[Symbol.asyncDispose]() };
}

Deno.test("postgres driver", async (t) => {
  await using test = await freshDatabase();

  await t.step("text, integer and cidr array parameters arrive element for element", async () => {
    const texts = ['a"b', "c\\d", "e,f", "{g}", "", " h ", "NULL", null, "é ✓"];
    const [row] = await test.db.query<{ texts: unknown; integers: unknown; cidrs: unknown; empty: number }>(
      `select to_json($1::text[]) as texts, to_json($2::integer[]) as integers,
              to_json($3::cidr[]::text[]) as cidrs, cardinality($4::text[]) as empty`,
      [texts, [1, -2, 2147483647], ["10.0.0.0/8", "2001:db8::/32"], []],
    );
    assert.deepEqual(row, {
      texts,
      integers: [1, -2, 2147483647],
      cidrs: ["10.0.0.0/8", "2001:db8::/32"],
      empty: 0,
    });
  });

  await t.step("unprepared, a statement goes out in one round trip, every kind of parameter whole", async () => {
    // Described first, the statement would go out as Parse, Describe, Flush, then (once answered)
    // Bind, Execute, Sync: a round trip more, holding a pooler's server connection across it.
    const proxy = recordingProxy(test.url);
    const unprepared = connectPostgres(proxy.url, readConfig({ DB_PREPARE: "false", DB_POOL_SIZE: "1" }));
    try {
      // What opening the connection took (authentication with a password, say) is not counted.
      await unprepared.query("select 1 as ok");
      proxy.sent.length = 0;
      const at = new Date("2026-12-06T21:30:00.123Z");
      const [row] = await unprepared.query<Record<string, unknown>>(
        `select $1::text as text, $2::integer as integer, $3::boolean as boolean, $4::text as absent,
                $5::timestamptz = '2026-12-06T21:30:00.123Z' as at, encode($6::bytea, 'hex') as bytes,
                $7::text::json as json, to_json($8::text[]) as texts`,
        ["é'\\", 42, true, null, at, new Uint8Array([0, 1, 254, 255]), JSON.stringify({ a: [1, "b"] }), ['a"b', null]],
      );
      assert.deepEqual(row, {
        text: "é'\\",
        integer: 42,
        boolean: true,
        absent: null,
        at: true,
        bytes: "0001feff",
        json: { a: [1, "b"] },
        texts: ['a"b', null],
      });
      assert.equal(proxy.sent.join(""), "PDBESZ");
    } finally {
      await unprepared.close();
      await proxy.close();
    }
  });

  await t.step("through a pooler, a connection takes the next statement only once the last is answered", async () => {
    // Supavisor's transaction mode can give the server connection back after the first of several
    // pipelined statements and never relay the rest; the statement timeout's cancel could reach the
    // statement after the one it was meant for.
    const proxy = recordingProxy(test.url);
    const pooled = connectPostgres(
      proxy.url,
      readConfig({ DB_TRANSACTION_POOLER: "true", DB_POOL_SIZE: "1" }),
    );
    try {
      await pooled.query("select 1 as ok");
      proxy.sent.length = 0;
      const answers = await Promise.all(
        [1, 2, 3].map((n) => pooled.query<{ n: number }>("select $1::integer as n", [n])),
      );
      assert.deepEqual(answers.map(([row]) => row.n), [1, 2, 3]);
      assert.equal(proxy.sent.join(""), "PDBESZ".repeat(3));
    } finally {
      await pooled.close();
      await proxy.close();
    }
  });

  await t.step("undefined and plain objects are the caller's mistake, refused before anything is sent", async () => {
    // Prepared, postgres.js would write an object as JSON and refuse undefined; unprepared, both would
    // go out as text: refused in both modes alike, and never answered as the database's fault (503).
    for (const value of [undefined, { a: 1 }]) {
      const error = await test.db.query("select $1::text::jsonb as v", [value]).catch((error) => error);
      assert.ok(error instanceof TypeError && !(error instanceof DatabaseUnavailableError), String(error));
    }
    assert.deepEqual([...await test.db.query("select $1::text::jsonb as v", ['{"a":1}'])], [{ v: { a: 1 } }]);
  });

  await t.step("a timeout while a connection opens is that statement's 503; nothing escapes", async () => {
    // With pg_type locked, whatever a new connection runs first waits until its statement timeout.
    // The driver once ran a catalog query there on a promise no caller held: its failure was an
    // unhandled rejection, which ends the isolate (and fails this file as an uncaught error).
    await using lock = await openTransaction(test.url);
    await lock.query("lock table pg_catalog.pg_type in access exclusive mode");
    const opening = connectPostgres(test.url, readConfig({ DB_STATEMENT_TIMEOUT_MS: "200", DB_POOL_SIZE: "1" }));
    const error = await opening.query("select 1 as ok").catch((error) => error);
    assert.ok(error instanceof DatabaseUnavailableError, String(error));
    await lock.finish("rollback");
    assert.deepEqual([...await opening.query("select 1 as ok")], [{ ok: 1 }]);
    await opening.close();
  });
});

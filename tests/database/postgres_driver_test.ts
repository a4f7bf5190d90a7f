// The service's Postgres driver settings: array parameters arrive whole, and a failure while a
// connection opens is the failing statement's own error, never one that escapes every caller.
import assert from "node:assert/strict";
import { readConfig } from "../../supabase/functions/_shared/config.ts";
import { DatabaseUnavailableError } from "../../supabase/functions/_shared/errors.ts";
import { connectPostgres } from "../../supabase/functions/_shared/postgres.ts";
import { freshDatabase, openTransaction } from "../support/database.ts";

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

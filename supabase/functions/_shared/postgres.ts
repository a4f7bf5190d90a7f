// The Postgres implementation of Database, on postgres.js (what Supabase recommends for edge
// functions). Each call has a hard deadline so a silent network never turns into a hang.
//
// Direct to Postgres, the statement timeout is a startup parameter of each connection: the server
// cancels a slower statement itself. Through a transaction pooler (Supabase's Supavisor on port
// 6543, PgBouncer) a connection is shared by every client between transactions, so nothing may be
// session state: no startup parameter or session SET (PgBouncer refuses `statement_timeout` at
// startup), no prepared statement (DB_PREPARE defaults off there). There the client cancels a
// statement still running at the timeout (a CancelRequest, which the pooler forwards to the server
// connection the statement runs on): the server answers 57014 as it would for its own timeout, 503.
import postgres from "postgres";
import { inSpan } from "./telemetry.ts";
import { classifyDatabaseError, type Database } from "./database.ts";
import type { Config } from "./config.ts";
import { DatabaseUnavailableError } from "./errors.ts";

/**
 * A connection attempt into a silent network gives up after this long and is retried, so the pool is
 * back within seconds once the network answers again. A cancel request's connection gives up after it too.
 */
const connectTimeoutSeconds = 2;

type PostgresConfig =
  & Pick<Config, "dbPoolSize" | "dbStatementTimeoutMs" | "dbPrepare">
  & Partial<Pick<Config, "dbTransactionPooler">>;

/** A one-dimensional array parameter as a Postgres array literal: each element quoted, `\` and `"` escaped. */
function arrayLiteral(elements: readonly unknown[]): string {
  return `{${elements.map((e) => e === null ? "NULL" : `"${String(e).replace(/[\\"]/g, "\\$&")}"`).join(",")}}`;
}

/** The array types the service's statements take as parameters, by the oid Postgres describes them with. */
const arrayParameterTypes = Object.fromEntries(
  Object.entries({ text_array: 1009, integer_array: 1007, cidr_array: 651 }).map(([name, oid]) => [
    name,
    { to: oid, from: [], serialize: arrayLiteral, parse: (literal: string) => literal },
  ]),
);

/**
 * A parameter as the text Postgres reads it from, for a statement sent unprepared (below): what
 * postgres.js writes for it when prepared. An array is a Postgres array.
 */
function parameterText(value: unknown): string | null {
  if (value === null) return null;
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return `\\x${Array.from(value, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  if (Array.isArray(value)) return arrayLiteral(value);
  return String(value);
}

/**
 * Throws for a parameter that prepared and unprepared statements would send differently: undefined
 * (postgres.js refuses it) or an object other than a Date, bytes or an array (postgres.js writes it
 * as JSON only when told the parameter's type). JSON is passed as text: `$n::text::jsonb`.
 */
function checkParameters(params: readonly unknown[]): void {
  params.forEach((value, index) => {
    if (value === undefined) throw new TypeError(`parameter $${index + 1} is undefined: pass null`);
    if (
      typeof value === "object" && value !== null && !(value instanceof Date) && !(value instanceof Uint8Array) &&
      !Array.isArray(value)
    ) {
      throw new TypeError(`parameter $${index + 1} is an object: pass JSON as text ($${index + 1}::text::jsonb)`);
    }
  });
}

/** A pooler's refusal of a startup parameter (PgBouncer: "unsupported startup parameter: …"). */
function refusedStartupParameter(error: unknown): boolean {
  const message = (error as { message?: unknown })?.message;
  return typeof message === "string" &&
    /unsupported startup parameter/i.test(message);
}

export function connectPostgres(url: string, config: PostgresConfig): Database {
  let pooled = config.dbTransactionPooler ?? new URL(url).port === "6543";
  const prepareFor = (pooled: boolean) => config.dbPrepare ?? !pooled;

  const open = (pooled: boolean) =>
    postgres(url, {
      max: config.dbPoolSize,
      // Through a pooler, one statement at a time per connection. Supavisor's transaction mode can hand
      // the server connection back after the first of several pipelined statements and never relay
      // the rest (porsager/postgres#970); and the statement timeout is a cancel request, which
      // postgres.js sends for a pipelined statement only once it starts, when it may reach the next.
      // (max_pipeline is an option postgres.js's types leave out, hence the spread.)
      ...{ max_pipeline: pooled ? 0 : 100 } as object,
      prepare: prepareFor(pooled),
      connect_timeout: connectTimeoutSeconds,
      idle_timeout: 60,
      // postgres.js waits 3^failures/100 s (up to 20 s) before reconnecting after failed connects: after
      // an outage the pool would stay closed for seconds after the database is back. At most 1 s here.
      backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
      onnotice: () => {},
      // No catalog query for array types when a connection opens: postgres.js runs it on a promise
      // nobody holds, so its failure (a database cut or a statement timeout while a connection
      // starts) is an unhandled rejection, which ends the isolate. The array types the statements
      // take are serialized here instead (results carry no arrays: the functions answer json).
      fetch_types: false,
      types: arrayParameterTypes,
      connection: pooled ? { application_name: "salesos-integration" } : {
        application_name: "salesos-integration",
        statement_timeout: config.dbStatementTimeoutMs,
      },
    });
  let sql = open(pooled);

  /**
   * A URL not known as a pooler whose server refused the startup parameter is one: the pool is
   * opened again without session state, once. True when the call should be tried again.
   */
  const switchedToPooled = (error: unknown): boolean => {
    if (pooled || !refusedStartupParameter(error)) return false;
    pooled = true;
    const refused = sql;
    sql = open(true);
    refused.end({ timeout: 0 }).catch(() => {});
    return true;
  };

  async function once<Row>(
    text: string,
    params: readonly unknown[],
  ): Promise<Row[]> {
    const timeoutMs = config.dbStatementTimeoutMs;
    // The server cancels slow statements first when it has the timeout (through a pooler, the cancel
    // below); this deadline only covers a network that went silent. It comes after that cancel's own
    // connection was answered or gave up, so the two never race.
    const deadlineMs = timeoutMs + connectTimeoutSeconds * 1000 + 500;
    // The connection the statement went out on, so a silent one can be dropped (below). postgres.js
    // names it only to a statement that leaves room for another behind it: never through a pooler.
    let connection: { terminate(): void } | undefined;
    const prepare = prepareFor(pooled);
    const pending = sql.unsafe(
      text,
      (prepare ? params : []) as postgres.ParameterOrJSON<never>[],
      {
        prepare,
        // Without arguments postgres.js would use the simple protocol, which takes no parameters.
        simple: false,
        onexecute: (c: { terminate(): void }) => ((connection = c), true),
      } as postgres.UnsafeQueryOptions,
    );
    // Unprepared, a statement goes out in one round trip (Parse, Describe, Bind, Execute, Sync) with
    // its parameters already text. Given them as arguments, postgres.js would first describe it to
    // learn their types and send the rest only once answered: a round trip more, holding a pooler's
    // server connection across it. It sends a query's own `parameters` as they are (3.4.9, pinned;
    // tests/database/postgres_driver_test.ts checks the messages).
    if (!prepare) Object.assign(pending, { parameters: params.map(parameterText) });
    // Settled by the race below; once the deadline has won, its late rejection is no one's to handle.
    pending.catch(() => {});
    // Through a pooler, the statement timeout is this cancel: the server answers 57014.
    const cancelTimer = pooled ? setTimeout(() => pending.cancel(), timeoutMs) : undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // No answer, not even to the statement timeout: the connection is dead or silent. Drop it,
        // with whatever else was queued on it, so the pool reconnects instead of queueing later
        // statements behind an answer that will never come; a statement not sent yet is only taken
        // out of the queue (a cancel request sent into the silence would be given up, and PgBouncer
        // 1.18 crashes on a cancel whose client goes away first: pgbouncer/pgbouncer#801). Through a
        // pooler, where the connection is not named, the statement is cancelled.
        if (connection) connection.terminate();
        else pending.cancel();
        reject(
          new DatabaseUnavailableError(
            new Error(`no answer within ${deadlineMs} ms`),
          ),
        );
      }, deadlineMs);
    });
    try {
      return (await Promise.race([pending, deadline])) as unknown as Row[];
    } finally {
      clearTimeout(cancelTimer);
      clearTimeout(timer);
    }
  }

  return {
    query<Row>(
      text: string,
      params: readonly unknown[] = [],
    ): Promise<Row[]> {
      // The span names the function called (never a parameter): the statements are calls into salesos.
      const called = /salesos\.([a-z_]+)/.exec(text)?.[1] ?? "statement";
      return inSpan(`sql ${called}`, { "db.system.name": "postgresql", "db.query.summary": called }, async () => {
        // A caller's mistake: thrown as it is (a 500), never classified as the database's fault.
        checkParameters(params);
        try {
          try {
            return await once<Row>(text, params);
          } catch (error) {
            if (!switchedToPooled(error)) throw error;
            return await once<Row>(text, params);
          }
        } catch (error) {
          throw classifyDatabaseError(error);
        }
      });
    },
    async exec(script: string): Promise<void> {
      // Scripts (migrations) are simple-protocol, one implicit transaction each: through a pooler
      // too. They set their own `set local statement_timeout`, and have no client deadline.
      try {
        try {
          await sql.unsafe(script);
        } catch (error) {
          if (!switchedToPooled(error)) throw error;
          await sql.unsafe(script);
        }
      } catch (error) {
        throw classifyDatabaseError(error);
      }
    },
    async close(): Promise<void> {
      await sql.end({ timeout: 5 });
    },
  };
}

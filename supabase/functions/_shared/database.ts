// One small interface over the service's database (Postgres, through postgres.js in postgres.ts):
// the SQL it runs is calls into the functions of the migrations.
import { DatabaseUnavailableError } from "./errors.ts";

export interface Database {
  /** Runs one parameterised statement and returns its rows. */
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs a script of statements without parameters (migrations). */
  exec(script: string): Promise<void>;
  close(): Promise<void>;
}

// SQLSTATE classes and codes that mean "the database is not answering now", not "your SQL is
// wrong": connection exceptions, shutdown, cancellation by statement_timeout, no free slot,
// and transient concurrency aborts. They are answered with 503; anything else is a bug (500).
const unavailableStates = /^(08...|57P0[1-3]|57014|53300|53400|40001|40P01)$/;

/** Wraps driver failures: connection-level and transient ones become DatabaseUnavailableError. */
export function classifyDatabaseError(error: unknown): unknown {
  if (error instanceof DatabaseUnavailableError) return error;
  // A server's error carries a severity (postgres.js copies it from the protocol);
  // a socket's does not, though its code can look like a SQLSTATE (EPIPE).
  const { code, severity } = (error ?? {}) as { code?: unknown; severity?: unknown };
  const isServerError = typeof code === "string" && typeof severity === "string";
  if (!isServerError || unavailableStates.test(code)) return new DatabaseUnavailableError(error);
  return error;
}

/** What `work` gives, or DatabaseUnavailableError(`message`) once `ms` have passed without it. */
export async function withinDeadline<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseUnavailableError(new Error(message))), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

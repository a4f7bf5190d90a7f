// The configuration (supabase/functions/_shared/config.ts, and tools/config.ts for the local tools):
// defaults, and values refused with a message that names the setting and never repeats a secret.
import assert from "node:assert/strict";
import { readConfig } from "../../supabase/functions/_shared/config.ts";
import {
  developmentSigningKek,
  isLocalDatabase,
  readDeveloperToolsConfig,
  readLocalConfig,
} from "../../tools/config.ts";

const refusal = (env: Record<string, string>, read: (env: Record<string, string>) => unknown = readConfig) => {
  try {
    read(env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(env)}`);
};

Deno.test("defaults, and whole numbers, postgres and http(s) URLs as given", () => {
  const defaults = readConfig({});
  assert.deepEqual([defaults.dbPoolSize, defaults.databaseUrl], [8, undefined]);
  const local = readLocalConfig({});
  assert.deepEqual([local.port, local.embeddedPostgresPort, local.embeddedPostgresDir, local.dbPoolSize], [
    54321,
    54322,
    ".data/postgres",
    8,
  ]);
  const embedded = readLocalConfig({ EMBEDDED_POSTGRES_DIR: "/tmp/pg", EMBEDDED_POSTGRES_PORT: "5433", PORT: "0" });
  assert.deepEqual([embedded.embeddedPostgresDir, embedded.embeddedPostgresPort, embedded.port], ["/tmp/pg", 5433, 0]);
  const set = readLocalConfig({
    PORT: "0",
    DB_POOL_SIZE: "16",
    DATABASE_URL: "postgresql://user:p%23ss@db.example.com:6543/postgres",
    SUPABASE_URL: "https://project.supabase.co",
  });
  assert.deepEqual([set.port, set.dbPoolSize, set.databaseUrl, set.supabaseUrl], [
    0,
    16,
    "postgresql://user:p%23ss@db.example.com:6543/postgres",
    "https://project.supabase.co",
  ]);
});

Deno.test("numbers are digits only: hex, exponents, signs and spaces are refused", () => {
  for (const value of [" 0x10 ", "1e1", "-1", "+8", "8.0", "eight"]) {
    assert.equal(refusal({ DB_POOL_SIZE: value }), "Invalid configuration: dbPoolSize: must be a whole number", value);
  }
  assert.match(refusal({ PORT: "70000" }, readLocalConfig), /^Invalid configuration: port: /);
});

Deno.test("a database URL that does not parse is refused without repeating it (it holds the password)", () => {
  for (const url of ["postgres://postgres:s3cr3t#pw@127.0.0.1:5432/postgres", "mysql://u:s3cr3t@h/d", "s3cr3t"]) {
    const message = refusal({ DATABASE_URL: url });
    assert.match(message, /databaseUrl: must be a postgres:\/\/ URL/, url);
    assert.doesNotMatch(message, /s3cr3t/, url);
  }
});

Deno.test("Supabase and JWKS URLs must be http(s); the embedded Postgres port may not be 0", () => {
  assert.match(refusal({ SUPABASE_URL: "javascript:alert(1)" }), /supabaseUrl: must be an http\(s\) URL/);
  assert.match(refusal({ SUPABASE_JWKS_URL: "file:///etc/passwd" }), /jwksUrl: must be an http\(s\) URL/);
  assert.match(refusal({ EMBEDDED_POSTGRES_PORT: "0" }, readLocalConfig), /embeddedPostgresPort: /);
  // The local tools refuse what the functions refuse.
  assert.match(refusal({ DB_POOL_SIZE: "0x10" }, readLocalConfig), /dbPoolSize: must be a whole number/);
});

Deno.test("the test tools prefer TEST_DATABASE_URL, db:diff DATABASE_URL; a bad URL is refused unrepeated", () => {
  const direct = "postgres://postgres@127.0.0.1:5432/postgres";
  const pooled = "postgres://postgres@127.0.0.1:6543/postgres";
  assert.deepEqual(readDeveloperToolsConfig({ DATABASE_URL: direct, TEST_DATABASE_URL: pooled }), {
    testServerUrl: pooled,
    scratchServerUrl: direct,
    testLogFile: undefined,
  });
  assert.deepEqual(readDeveloperToolsConfig({ TEST_DATABASE_URL: "", SALESOS_TEST_LOG_FILE: "/tmp/x.log" }), {
    testServerUrl: undefined,
    scratchServerUrl: undefined,
    testLogFile: "/tmp/x.log",
  });
  const message = refusal({ TEST_DATABASE_URL: "mysql://root:hunter2@db/x" }, readDeveloperToolsConfig);
  assert.match(message, /testServerUrl: must be a postgres:\/\/ URL/);
  assert.doesNotMatch(message, /hunter2/);
});

Deno.test("the local tools use the public development SIGNING_KEK only with a local database", () => {
  const remote = "postgresql://user:s3cr3t@db.example.com:6543/postgres";
  // Local: the embedded database, loopback hosts, a Unix socket.
  for (
    const url of [
      undefined,
      "postgres://postgres@127.0.0.1:5432/postgres",
      "postgres://postgres@localhost/postgres",
      "postgres://postgres@[::1]:5432/postgres",
      "postgres:///postgres?host=/var/run/postgresql",
    ]
  ) {
    const config = readLocalConfig(url ? { DATABASE_URL: url } : {});
    assert.equal(config.signingKek, developmentSigningKek, String(url));
    assert.equal(isLocalDatabase(url), true, String(url));
  }
  // Any other database: no fallback (signed keys are refused, as by a deployment without SIGNING_KEK) ...
  for (const url of [remote, "postgres://u@127.example.com/db", "postgres://u@localhost/db?host=db.example.com"]) {
    assert.equal(isLocalDatabase(url), false, url);
    assert.equal(readLocalConfig({ DATABASE_URL: url }).signingKek, undefined, url);
  }
  assert.equal(readLocalConfig({ SUPABASE_DB_URL: remote }).signingKek, undefined);
  // ... and the development key given explicitly is refused, naming the setting, never the URL.
  const message = refusal({ DATABASE_URL: remote, SIGNING_KEK: developmentSigningKek }, readLocalConfig);
  assert.match(message, /^Invalid configuration: signingKek: the public development key is accepted only with a local/);
  assert.doesNotMatch(message, /s3cr3t|db\.example\.com/);
  // A key of its own is used wherever the database is.
  const own = "b3duLWtleS1vZi1pdHMtb3duLTAxMjM0NTY3ODlhYmM=";
  assert.equal(readLocalConfig({ DATABASE_URL: remote, SIGNING_KEK: own }).signingKek, own);
  // The deployed functions never fall back.
  assert.equal(readConfig({ DATABASE_URL: "postgres://postgres@127.0.0.1:5432/postgres" }).signingKek, undefined);
});

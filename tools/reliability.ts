// `deno task test:reliability`: the reliability and security properties, proven by the
// tests in tests/properties on the Postgres at TEST_DATABASE_URL / DATABASE_URL (each test file on
// a fresh database), with every server's output captured to one log file for the secrets scan,
// which runs last. The figures each test records land in reliability/last-run.json; RELIABILITY.md
// is rendered from them (tools/reliability_report.ts). Exit code: the tests'.
//
// SALESOS_TEST_LOG_FILE=<file> appends the capture to that file instead of a fresh temporary one:
// set it around `deno task test` too, then run this, and the secrets scan covers the whole suite.
// Arguments are passed to `deno test` (e.g. --filter).
import postgres from "postgres";
import { readDeveloperToolsConfig } from "./config.ts";
import { renderReport } from "./reliability_report.ts";

const root = new URL("../", import.meta.url);
const testsDir = new URL("tests/properties/", root);
const lastRun = new URL("reliability/last-run.json", root);
const lastScan = "no_secrets_in_logs_test.ts";

const files: string[] = [];
for await (const entry of Deno.readDir(testsDir)) {
  if (entry.isFile && entry.name.endsWith("_test.ts")) files.push(entry.name);
}
// The log scan runs last, so it sees what every other test's servers printed.
files.sort((a, b) => Number(a === lastScan) - Number(b === lastScan) || a.localeCompare(b));

const config = readDeveloperToolsConfig();
const logFile = config.testLogFile ||
  `${await Deno.makeTempDir({ prefix: "salesos-reliability-" })}/server.log`;
await Deno.writeTextFile(logFile, "", { append: true });
/** What the capture held before this run (e.g. a whole `deno task test`): the scan covers it too. */
const capturedBefore = (await Deno.stat(logFile)).size;

const databaseUrl = config.testServerUrl ?? "postgres://postgres@127.0.0.1:5432/postgres";
let postgresVersion = "unknown";
try {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  postgresVersion = (await sql`select current_setting('server_version') as v`)[0].v;
  await sql.end();
} catch { /* the tests will say why */ }

const startedAt = new Date();
const run = {
  command: "deno task test:reliability",
  started_at: startedAt.toISOString(),
  finished_at: null as string | null,
  duration_s: null as number | null,
  exit_code: null as number | null,
  test_files: files.map((f) => `tests/properties/${f}`),
  log_capture: logFile,
  log_capture_bytes_before_run: capturedBefore,
  machine: {
    cpus: navigator.hardwareConcurrency,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
    postgres: postgresVersion,
  },
};
await Deno.mkdir(new URL("reliability/", root), { recursive: true });
await Deno.writeTextFile(lastRun, `${JSON.stringify({ run, properties: {} }, null, 2)}\n`);

const status = await new Deno.Command("deno", {
  args: [
    "test",
    "--config",
    "tests/deno.json",
    "--allow-all",
    ...Deno.args,
    ...files.map((f) => new URL(f, testsDir).pathname),
  ],
  cwd: root.pathname,
  env: { SALESOS_TEST_LOG_FILE: logFile },
  stdout: "inherit",
  stderr: "inherit",
}).spawn().status;

const recorded = JSON.parse(await Deno.readTextFile(lastRun));
recorded.run = {
  ...run,
  finished_at: new Date().toISOString(),
  duration_s: Math.round((Date.now() - startedAt.getTime()) / 1000),
  exit_code: status.code,
};
await Deno.writeTextFile(lastRun, `${JSON.stringify(recorded, null, 2)}\n`);
await renderReport();
console.log(`\nfigures: reliability/last-run.json; report: RELIABILITY.md; service logs: ${logFile}`);
Deno.exit(status.code);

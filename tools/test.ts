// `deno task test`: `deno test` with these arguments, on the Postgres server at TEST_DATABASE_URL or
// DATABASE_URL. With neither set, on a throwaway embedded Postgres started for the run and removed
// afterwards, so a machine with only Deno runs the suite. Each test file makes its own database on
// the server (tests/support/database.ts). Exit code: the tests'.
import { readDeveloperToolsConfig } from "./config.ts";
import { startCluster } from "./embedded_postgres.ts";

const configured = readDeveloperToolsConfig().testServerUrl;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function runTests(databaseUrl: string | undefined): Promise<number> {
  const child = new Deno.Command("deno", {
    args: ["test", ...Deno.args],
    env: databaseUrl ? { TEST_DATABASE_URL: databaseUrl } : {},
  }).spawn();
  // Ctrl-C reaches the test run too, and SIGTERM is passed on: this process waits for it, then cleans up.
  Deno.addSignalListener("SIGINT", () => {});
  Deno.addSignalListener("SIGTERM", () => child.kill("SIGTERM"));
  return (await child.status).code;
}

if (configured) {
  Deno.exit(await runTests(undefined));
}

// Readable to the `postgres` user, which runs the cluster when this is root.
const folder = await Deno.makeTempDir({ prefix: "salesos-test-postgres-" });
await Deno.chmod(folder, 0o755);
let code = 1;
try {
  const started = performance.now();
  const cluster = await startCluster({ dataDir: `${folder}/data`, port: freePort(), durable: false });
  console.error(`embedded Postgres for this run: ${cluster.url} (${Math.round(performance.now() - started)} ms)`);
  try {
    code = await runTests(cluster.url);
  } finally {
    await cluster.stop();
  }
} finally {
  await Deno.remove(folder, { recursive: true });
}
Deno.exit(code);

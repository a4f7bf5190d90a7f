// A PgBouncer in transaction mode in front of the test Postgres server, as Supabase's transaction
// pooler (Supavisor, port 6543) stands in front of a hosted database: no prepared statements kept
// across transactions, refuses unknown startup parameters, and any database name passes through
// (`* =`), so each test file's scratch database is reachable. Started as the `postgres` user when
// this process is root (PgBouncer refuses to run as root). `pgbouncerInstalled` is false when the
// binary is missing (CI installs it).

/** Where the pgbouncer binary is, if anywhere. */
export const pgbouncerBinary = [
  "/usr/sbin/pgbouncer",
  "/usr/bin/pgbouncer",
  "/usr/local/bin/pgbouncer",
].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
export const pgbouncerInstalled = pgbouncerBinary !== undefined;

export interface PgBouncer extends AsyncDisposable {
  /** `serverUrl` with host and port replaced by the pooler's. */
  url: string;
  port: number;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Starts a pooler in front of the Postgres at `serverUrl`; `poolSize` server connections per database. */
export async function startPgBouncer(
  serverUrl: string,
  { poolSize = 10 } = {},
): Promise<PgBouncer> {
  if (!pgbouncerBinary) throw new Error("pgbouncer is not installed");
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username || "postgres");
  const dir = await Deno.makeTempDir({ prefix: "salesos-pgbouncer-" });
  await Deno.chmod(dir, 0o777);
  const port = freePort();
  // Clients are trusted; the password here is the one the pooler logs in to the server with.
  const password = decodeURIComponent(server.password);
  await Deno.writeTextFile(`${dir}/userlist.txt`, `"${user}" "${password}"\n`);
  await Deno.writeTextFile(
    `${dir}/pgbouncer.ini`,
    `[databases]
* = host=${server.hostname} port=${server.port || 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${dir}/userlist.txt
pool_mode = transaction
default_pool_size = ${poolSize}
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits
logfile = ${dir}/pgbouncer.log
pidfile = ${dir}/pgbouncer.pid
`,
  );
  // Its log is the file (read back when it does not start).
  const quiet = { stdin: "null", stdout: "null", stderr: "null" } as const;
  const asRoot = Deno.uid() === 0;
  const command = asRoot
    ? new Deno.Command("runuser", {
      args: [
        "-u",
        "postgres",
        "--",
        pgbouncerBinary,
        "-q",
        `${dir}/pgbouncer.ini`,
      ],
      ...quiet,
    })
    : new Deno.Command(pgbouncerBinary, {
      args: ["-q", `${dir}/pgbouncer.ini`],
      ...quiet,
    });
  const child = command.spawn();
  const stop = async () => {
    try {
      const pid = Number(
        (await Deno.readTextFile(`${dir}/pgbouncer.pid`)).trim(),
      );
      if (pid > 0) Deno.kill(pid, "SIGTERM");
    } catch {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
    }
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  // Ready once it accepts connections.
  for (const deadline = Date.now() + 10_000;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        const log = await Deno.readTextFile(`${dir}/pgbouncer.log`).catch(() => "");
        await stop();
        throw new Error(`pgbouncer did not start: ${log}`, { cause: error });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const url = new URL(serverUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return { url: url.toString(), port, [Symbol.asyncDispose]: stop };
}

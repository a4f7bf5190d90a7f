// Runs the real commands of the README as subprocesses: `deno task start` and `deno task keys`.
const root = new URL("../../", import.meta.url).pathname;

/**
 * The environment a new user's shell would have, plus `env`; nothing else leaks in. That includes
 * how the shell reaches the npm registry (proxy, extra CA certificates): Deno asks it for a
 * package's metadata the first time a process loads that package, and without them it prints a
 * failed "Download" line at every start.
 */
export function environment(env: Record<string, string>): Record<string, string> {
  const network = ["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"];
  const certificates = ["NODE_EXTRA_CA_CERTS", "DENO_CERT", "DENO_TLS_CA_STORE"];
  const keep = ["PATH", "HOME", "DENO_DIR", "TMPDIR", "NO_COLOR", ...network, ...certificates];
  const base = Object.fromEntries(keep.flatMap((name) => (Deno.env.get(name) ? [[name, Deno.env.get(name)!]] : [])));
  return { ...base, NO_COLOR: "1", ...env };
}

/**
 * Optional log capture: when the test run has SALESOS_TEST_LOG_FILE set, every server started here
 * appends what it prints (stdout and stderr, whole lines) to that file, so a test can scan the
 * service's logs of a whole run (tests/properties/no_secrets_in_logs_test.ts). Unset: nothing is written.
 */
export const testLogFile = Deno.env.get("SALESOS_TEST_LOG_FILE") || null;

/** Appends whole lines of `text` to the capture file; returns what is left of an unfinished line. */
function appendLines(pending: string, flush = false): string {
  const end = flush ? pending.length : pending.lastIndexOf("\n") + 1;
  if (testLogFile && end > 0) {
    const text = pending.slice(0, end);
    Deno.writeTextFileSync(testLogFile, text.endsWith("\n") ? text : `${text}\n`, { append: true });
  }
  return pending.slice(end);
}

export interface RunningServer extends AsyncDisposable {
  baseUrl: string;
  /** Pid of the server process itself (`deno task` runs it as a child process). */
  pid: number | null;
  /** Everything the server printed so far. */
  output(): string;
  /** Resolves when the server process tree has exited (e.g. after it was killed). */
  exited: Promise<Deno.CommandStatus>;
  /** Stops the server (SIGTERM: it flushes its log) and resolves to everything it printed. */
  stop(): Promise<string>;
}

/** The environment of a server under test on this database: fast bcrypt, plus `extra`. */
export function serverEnv(databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: databaseUrl, BCRYPT_COST: "4", ...extra };
}

/** `deno task start` with `env`; with `fileLimit`, under that limit of open files (`ulimit -n`: soft and hard, since Deno raises its soft limit to the hard one). */
export async function startServer(
  env: Record<string, string>,
  options: { fileLimit?: number } = {},
): Promise<RunningServer> {
  const task = ["task", "--quiet", "start"];
  const [program, args] = options.fileLimit === undefined
    ? ["deno", task]
    : ["bash", ["-c", `ulimit -n ${options.fileLimit} && exec deno ${task.join(" ")}`]];
  const child = new Deno.Command(program, {
    args,
    cwd: root,
    env: environment({ PORT: "0", ...env }),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    let pending = "";
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      output += text;
      pending = appendLines(pending + text);
    }
    appendLines(pending, true);
  };
  const collecting = Promise.all([collect(child.stdout), collect(child.stderr)]);

  const deadline = Date.now() + 60_000;
  let baseUrl: string | undefined;
  while (!baseUrl) {
    baseUrl = /at (http:\/\/127\.0\.0\.1:\d+)\/functions\/v1\//.exec(output)?.[1];
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`server did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = /"pid":(\d+)/.exec(output)?.[1];
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already exited (stopped, or killed by the test) */ }
    await child.status;
    await collecting;
    return output;
  };
  return {
    baseUrl,
    pid: pid ? Number(pid) : null,
    output: () => output,
    exited: child.status,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}

export async function runTask(task: string, args: string[], env: Record<string, string>) {
  const result = await new Deno.Command("deno", {
    args: ["task", "--quiet", task, ...args],
    cwd: root,
    env: environment(env),
    clearEnv: true,
  }).output();
  const decoder = new TextDecoder();
  return { code: result.code, stdout: decoder.decode(result.stdout), stderr: decoder.decode(result.stderr) };
}

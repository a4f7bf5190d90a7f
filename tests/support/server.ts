// Runs the real commands of the README as subprocesses: `deno task start` and `deno task keys`.
const root = new URL("../../", import.meta.url).pathname;

/** The environment a new user's shell would have, plus `env`; nothing else leaks in. */
function environment(env: Record<string, string>): Record<string, string> {
  const keep = ["PATH", "HOME", "DENO_DIR", "TMPDIR", "NO_COLOR"];
  const base = Object.fromEntries(keep.flatMap((name) => (Deno.env.get(name) ? [[name, Deno.env.get(name)!]] : [])));
  return { ...base, NO_COLOR: "1", ...env };
}

export interface RunningServer extends AsyncDisposable {
  baseUrl: string;
  /** Everything the server printed so far. */
  output(): string;
}

export async function startServer(env: Record<string, string>): Promise<RunningServer> {
  const child = new Deno.Command("deno", {
    args: ["task", "--quiet", "start"],
    cwd: root,
    env: environment({ PORT: "0", ...env }),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
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
  return {
    baseUrl,
    output: () => output,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
      await collecting;
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

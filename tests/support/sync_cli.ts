// `deno task sync` as the CLI tests run it: as its task, or as one process (for signals and memory).
import { runTask } from "./server.ts";

const root = new URL("../../", import.meta.url).pathname;
/** The task's command after `deno`: its flags, then the script. */
const [, ...taskArgs] = (JSON.parse(await Deno.readTextFile(`${root}deno.json`)).tasks.sync as string).split(" ");

// deno-lint-ignore no-explicit-any
type Summary = Record<string, any>;

export const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
export const readJsonl = async (path: string) =>
  (await Deno.readTextFile(path)).split("\n").filter(Boolean).map((l) => JSON.parse(l));

/** Runs the task (with a signed key's secret when given); `summary` is its stdout when that is one JSON line. */
export async function sync(args: string[], apiKey?: string, secret?: string) {
  const env = {
    ...(apiKey === undefined ? {} : { SALESOS_API_KEY: apiKey }),
    ...(secret ? { SALESOS_API_SECRET: secret } : {}),
  };
  const result = await runTask("sync", args, env);
  const lines = result.stdout.split("\n").filter(Boolean);
  return { ...result, lines, summary: (lines.length === 1 ? JSON.parse(lines[0]) : null) as Summary | null };
}

/**
 * The task's own command (`deno run <flags> tools/sync.ts`) as one process, so a signal reaches
 * the CLI itself and /proc shows its memory; `runtimeFlags` go before the script.
 */
export function spawnSync(args: string[], env: Record<string, string>, runtimeFlags: string[] = []) {
  return new Deno.Command(Deno.execPath(), {
    args: [...taskArgs.slice(0, -1), ...runtimeFlags, ...taskArgs.slice(-1), ...args],
    cwd: root,
    env: { NO_COLOR: "1", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** The task's command line run by `script` on a pseudo-terminal, as an operator's shell would; its output. */
export async function syncOnTerminal(args: string[], env: Record<string, string>) {
  const command = [Deno.execPath(), ...taskArgs, ...args].join(" ");
  const output = await new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    cwd: root,
    env: { NO_COLOR: "1", TERM: "xterm", ...env },
    clearEnv: true,
  }).output();
  return { code: output.code, text: new TextDecoder().decode(output.stdout) };
}

let scriptFound: Promise<boolean> | undefined;
/** Whether `script` (util-linux) is installed, for the terminal tests; asked once, when first needed. */
export function hasScript(): Promise<boolean> {
  scriptFound ??= new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" })
    .output().then((o) => o.success, () => false);
  return scriptFound;
}

/** The checkpoint's rows_done once it reaches `rows` (polled: the run writes it after each batch). */
export async function waitForCheckpoint(path: string, rows: number): Promise<number> {
  for (;;) {
    const done = await Deno.readTextFile(path).then((text) => JSON.parse(text).rows_done as number, () => 0);
    if (done >= rows) return done;
    await new Promise((r) => setTimeout(r, 5));
  }
}

// The README's quick start, run as written with bash against a server on a fresh database: its sh
// blocks are taken from README.md, only the host:port is the test server's. Each curl's answer must
// match the `# {…}` line written under it (`…` stands for anything).
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { environment, serverEnv, startServer } from "../support/server.ts";

const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));

/** The sh code blocks of the README section `title`. */
function shBlocks(title: string): string[] {
  const section = readme.split(/^## /m).find((part) => part.startsWith(`${title}\n`));
  assert.ok(section, `README has no "## ${title}" section`);
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

/** The answer written under a curl (`# {…}`), as a pattern: `…` is anything; a trailing `  (note)` is dropped. */
function expected(comment: string): RegExp {
  const text = comment.replace(/^# /, "").replace(/ {2}\(.*\)$/, "");
  return new RegExp(`^${text.split("…").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
}

Deno.test("the README's quick start, run as written, answers what it says", async () => {
  const script = shBlocks("Quick start").join("\n");
  const answers = script.split("\n").filter((line) => line.startsWith("# {")).map(expected);
  assert.ok(answers.length >= 2, "the quick start shows the curls' answers");
  assert.match(script, /--output key/, "the key is taken with --output key");
  assert.doesNotMatch(script, /> *\S|tee /, "the walk-through writes nothing (no plaintext) to a file");

  await using test = await freshDatabase();
  const env = serverEnv(test.url);
  await using server = await startServer(env);
  const run = await new Deno.Command("bash", {
    // Each curl's answer on a line of its own (curl ends none with a newline); a failed command stops it.
    args: [
      "-c",
      `set -e\ncurl() { command curl -sS "$@"; echo; }\n${script.replaceAll("http://127.0.0.1:54321", server.baseUrl)}`,
    ],
    cwd: new URL("../../", import.meta.url).pathname,
    env: environment(env),
    clearEnv: true,
  }).output();
  const stdout = new TextDecoder().decode(run.stdout);
  const stderr = new TextDecoder().decode(run.stderr);
  assert.equal(run.code, 0, stderr);
  const lines = stdout.trim().split("\n");
  assert.equal(lines.length, answers.length, stdout);
  for (const [i, pattern] of answers.entries()) assert.match(lines[i], pattern, `curl ${i + 1}`);
});

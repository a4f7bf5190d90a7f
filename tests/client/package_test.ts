// The package as an integrator gets it, from a clean directory: the repository's files of
// clients/typescript copied (no node_modules, no build step), installed with `npm install <path>`
// and `npm install <tarball>` (and Bun's and Deno's own installs), then run under Node, Bun and Deno
// against the running service. dist/ is committed, so it must be the build of src/.
import assert from "node:assert/strict";
import { startService } from "../support/client_service.ts";
import { uuidV4 } from "../support/patterns.ts";

const root = new URL("../../", import.meta.url).pathname;
const packageDir = `${root}clients/typescript/`;
const manifest = JSON.parse(await Deno.readTextFile(`${packageDir}package.json`));
const packageName = "@salesos/integration-client";

async function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
) {
  const output = await new Deno.Command(command, { args, ...options, stdout: "piped", stderr: "piped" }).output();
  const decoder = new TextDecoder();
  const result = { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
  assert.equal(result.code, 0, `${command} ${args.join(" ")}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) names.push(...await listFiles(`${dir}/${entry.name}`, `${prefix}${entry.name}/`));
    else names.push(`${prefix}${entry.name}`);
  }
  return names.sort();
}

/** Ensures the package's dev dependencies (tsc), as its developer would have them. */
async function tsc(): Promise<string> {
  const path = `${packageDir}node_modules/.bin/tsc`;
  if (!await Deno.stat(path).then(() => true, () => false)) {
    await run("npm", ["ci", "--no-audit", "--no-fund"], { cwd: packageDir });
  }
  return path;
}

Deno.test("the committed dist/ is exactly what `npm run build` makes of src/", async () => {
  const out = await Deno.makeTempDir({ prefix: "salesos-client-build-" });
  try {
    await run(await tsc(), ["-p", "tsconfig.json", "--outDir", out], { cwd: packageDir });
    const built = await listFiles(out);
    assert.deepEqual(await listFiles(`${packageDir}dist`), built, "the same files");
    for (const file of built) {
      assert.equal(
        await Deno.readTextFile(`${packageDir}dist/${file}`),
        await Deno.readTextFile(`${out}/${file}`),
        `dist/${file} is stale: run npm run build in clients/typescript`,
      );
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("installed from a path and from a tarball, from clean directories, run on Node, Bun and Deno", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "salesos-client-consumer-" });
  const recorded: { run: string; userAgent: string | null; idempotencyKey: string | null }[] = [];
  // Answers each run's first request 503, its retry 200: what a retry sends again is seen here.
  const recording = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const body = await request.json();
    const run = body.collaborators[0].external_id;
    recorded.push({
      run,
      userAgent: request.headers.get("user-agent"),
      idempotencyKey: request.headers.get("idempotency-key"),
    });
    const meta = { request_id: crypto.randomUUID(), timestamp: new Date().toISOString() };
    return recorded.filter((r) => r.run === run).length === 1
      ? Response.json({ error: { code: "SERVICE_UNAVAILABLE", message: "down", details: [] }, meta }, { status: 503 })
      : Response.json({ data: { created: 1, existing: 0, errors: [], total: 1 }, meta });
  });
  try {
    // The package as a clone of the repository has it: its committed files only.
    const checkout = `${work}/checkout/clients/typescript`;
    const tracked = (await run("git", ["ls-files", "-z", "clients/typescript"], { cwd: root })).stdout
      .split("\0").filter(Boolean);
    for (const file of tracked) {
      const target = `${work}/checkout/${file}`;
      await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
      await Deno.copyFile(`${root}${file}`, target);
    }
    assert.ok(tracked.includes("clients/typescript/dist/index.js"), "dist/ is committed");

    let tarball = "";
    await t.step("npm pack (no build step) ships dist, README and package.json only", async () => {
      const packed = JSON.parse(
        (await run("npm", ["pack", "--json", "--pack-destination", work], { cwd: checkout }))
          .stdout,
      );
      const files: string[] = packed[0].files.map((f: { path: string }) => f.path);
      for (const file of ["dist/index.js", "dist/index.d.ts", "README.md", "package.json"]) {
        assert.ok(files.includes(file), `${file} not in ${files}`);
      }
      assert.deepEqual(files.filter((f) => !/^dist\/|^(README\.md|package\.json)$/.test(f)), []);
      tarball = `${work}/${packed[0].filename}`;
    });

    const consumers: { name: string; dir: string; runtimes: string[] }[] = [];
    const consumer = async (name: string, dependencies?: Record<string, string>) => {
      const dir = `${work}/${name}`;
      await Deno.mkdir(dir);
      await Deno.writeTextFile(
        `${dir}/package.json`,
        JSON.stringify({ name: "consumer", private: true, type: "module", ...(dependencies ? { dependencies } : {}) }),
      );
      await Deno.copyFile(`${packageDir}test/smoke.mjs`, `${dir}/smoke.mjs`);
      return dir;
    };
    await t.step("npm install <path>, npm install <tarball>, bun add <path|tarball>, deno install", async () => {
      for (const [name, source] of [["npm-path", checkout], ["npm-tarball", tarball]]) {
        const dir = await consumer(name);
        await run("npm", ["install", "--no-audit", "--no-fund", source], { cwd: dir });
        const installed = JSON.parse(await Deno.readTextFile(`${dir}/node_modules/${packageName}/package.json`));
        assert.equal(installed.dependencies, undefined, "no runtime dependencies");
        consumers.push({ name, dir, runtimes: ["node", "bun", "deno"] });
      }
      for (const [name, source] of [["bun-path", checkout], ["bun-tarball", tarball]]) {
        const dir = await consumer(name);
        await run("bun", ["add", source], { cwd: dir });
        consumers.push({ name, dir, runtimes: ["bun"] });
      }
      const dir = await consumer("deno-path", { [packageName]: `file:${checkout}` });
      await run(Deno.execPath(), ["install"], { cwd: dir });
      consumers.push({ name: "deno-path", dir, runtimes: ["deno"] });
    });

    await t.step("a TypeScript consumer type-checks against the installed types", async () => {
      const dir = consumers.find((c) => c.name === "npm-tarball")!.dir;
      await Deno.writeTextFile(
        `${dir}/consumer.ts`,
        `import { SalesOSClient, SalesOSApiError, type Activity, type SyncActivitiesSummary } from "${packageName}";
const client = new SalesOSClient({ apiKey: "sk_test_x", baseUrl: "http://127.0.0.1:54321", retry: { maxRetryAfterSeconds: 30 } });
const items: Activity[] = [{ activity_code: "001", external_id: "a", collaborator_email: "a@b.co" }];
export const run = async (): Promise<number> => {
  try {
    const summary: SyncActivitiesSummary = await client.syncActivities(items);
    return summary.processed;
  } catch (error) {
    if (error instanceof SalesOSApiError && error.code === "RATE_LIMITED") return error.retryAfter ?? 0;
    throw error;
  }
};
// @ts-expect-error activity_code is required
export const wrong: Activity = { external_id: "a", collaborator_email: "a@b.co" };
`,
      );
      await run(await tsc(), [
        "--noEmit",
        "--strict",
        "--skipLibCheck",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--lib",
        "es2022,dom",
        "consumer.ts",
      ], { cwd: dir });
    });

    await using service = await startService();
    const key = await service.key();
    const commands: Record<string, string[]> = {
      node: ["node", "smoke.mjs"],
      bun: ["bun", "smoke.mjs"],
      deno: [Deno.execPath(), "run", "--allow-net", "--allow-env", "--allow-read", "smoke.mjs"],
    };
    const versions: Record<string, string> = {
      node: (await run("node", ["--version"], { cwd: work })).stdout.trim().replace(/^v/, ""),
      bun: (await run("bun", ["--version"], { cwd: work })).stdout.trim(),
      deno: Deno.version.deno,
    };
    for (const { name, dir, runtimes } of consumers) {
      for (const runtime of runtimes) {
        await t.step(`${name} on ${runtime}: batches, counts, mapped indexes, typed errors, headers`, async () => {
          const runId = `${name}-${runtime}`;
          const [command, ...args] = commands[runtime];
          const env = {
            SALESOS_URL: service.baseUrl,
            SALESOS_API_KEY: key.key,
            SALESOS_RUN: runId,
            RECORDING_URL: `http://127.0.0.1:${recording.addr.port}`,
          };
          const { stdout } = await run(command, args, { cwd: dir, env });
          const seen = JSON.parse(stdout);
          assert.deepEqual(seen.collaborators, {
            created: 600,
            existing: 0,
            errors: [],
            total: 600,
            rejected: [],
            batches: 2,
          });
          assert.deepEqual(seen.invalid, {
            type: "SalesOSApiError",
            status: 400,
            details: [{
              index: 1234,
              field: "activity_code",
              message: 'Required 3-digit string (001-999), e.g. "001"',
            }],
            completed: 1000,
          });
          // Batch 1 was stored before batch 2 was refused: the second call finds it stored.
          assert.deepEqual(
            [
              seen.activities.processed,
              seen.activities.duplicates,
              seen.activities.rejected.map((r: { index: number }) => r.index),
            ],
            [499, 1000, [1234]],
          );
          assert.deepEqual(seen.unauthorized, {
            isApiError: true,
            status: 401,
            code: "UNAUTHORIZED",
            message: "Invalid or expired API key",
          });
          assert.equal(seen.rateLimit.limit, 100_000);

          assert.equal(seen.retried.created, 1);
          const attempts = recorded.filter((r) => r.run === runId);
          assert.equal(attempts.length, 2, "a 503, then its retry");
          assert.deepEqual(attempts.map((a) => a.userAgent), [
            `salesos-client/${manifest.version} (${runtime}/${versions[runtime]})`,
            `salesos-client/${manifest.version} (${runtime}/${versions[runtime]})`,
          ]);
          assert.match(attempts[0].idempotencyKey ?? "", uuidV4);
          assert.equal(attempts[1].idempotencyKey, attempts[0].idempotencyKey, "the retry reuses the batch's key");
        });
      }
    }
    const keys = new Set(recorded.map((r) => r.idempotencyKey));
    assert.equal(keys.size, recorded.length / 2, "each batch has a key of its own");
  } finally {
    await recording.shutdown();
    await Deno.remove(work, { recursive: true });
  }
});

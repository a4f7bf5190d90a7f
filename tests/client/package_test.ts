// The package as npm would publish it: built with tsc, packed, installed into an empty project,
// its types resolved through `exports` by tsc, and run under Node 20+ (and Bun, when installed)
// against the running service.
import assert from "node:assert/strict";
import { startService } from "../support/client_service.ts";

const packageDir = new URL("../../clients/typescript/", import.meta.url).pathname;
const smokeScript = `${packageDir}test/smoke.mjs`;

async function run(command: string, args: string[], options: { cwd: string; env?: Record<string, string> }) {
  const output = await new Deno.Command(command, { args, ...options, stdout: "piped", stderr: "piped" }).output();
  const decoder = new TextDecoder();
  const result = { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
  assert.equal(result.code, 0, `${command} ${args.join(" ")}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

async function installed(command: string): Promise<boolean> {
  try {
    return (await new Deno.Command(command, { args: ["--version"], stdout: "null", stderr: "null" }).output()).success;
  } catch {
    return false;
  }
}

Deno.test("npm package: built with tsc, installed from its tarball, run on Node and Bun against the service", async (t) => {
  const project = await Deno.makeTempDir({ prefix: "salesos-client-consumer-" });
  try {
    await t.step("npm pack builds dist with tsc and ships dist, src and README only", async () => {
      const hasTsc = await Deno.stat(`${packageDir}node_modules/.bin/tsc`).then(() => true, () => false);
      if (!hasTsc) await run("npm", ["ci", "--no-audit", "--no-fund"], { cwd: packageDir });
      const packed = JSON.parse(
        (await run("npm", ["pack", "--json", "--pack-destination", project], { cwd: packageDir })).stdout,
      );
      const files: string[] = packed[0].files.map((f: { path: string }) => f.path);
      for (const file of ["dist/index.js", "dist/index.d.ts", "README.md"]) {
        assert.ok(files.includes(file), `${file} not in ${files}`);
      }
      assert.deepEqual(files.filter((f) => !/^(dist|src)\/|^(README\.md|package\.json)$/.test(f)), []);
      await Deno.writeTextFile(
        `${project}/package.json`,
        JSON.stringify({ name: "consumer", private: true, type: "module" }),
      );
      await run("npm", ["install", "--no-audit", "--no-fund", `./${packed[0].filename}`], { cwd: project });
      const manifest = JSON.parse(
        await Deno.readTextFile(`${project}/node_modules/@salesos/integration-client/package.json`),
      );
      assert.equal(manifest.dependencies, undefined, "no runtime dependencies");
    });

    await t.step("a TypeScript consumer type-checks against the published types", async () => {
      await Deno.writeTextFile(
        `${project}/consumer.ts`,
        `import { SalesOSClient, SalesOSApiError, type Activity, type SyncActivitiesSummary } from "@salesos/integration-client";
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
      await run(`${packageDir}node_modules/.bin/tsc`, [
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
      ], { cwd: project });
    });

    await using service = await startService();
    const key = await service.key();
    const env = { SALESOS_URL: service.baseUrl, SALESOS_API_KEY: key.key };
    await Deno.copyFile(smokeScript, `${project}/smoke.mjs`);

    // Node is required (npm installs Deno here); Bun is optional, and its step is reported as ignored.
    assert.ok(await installed("node"), "node is installed");
    let runs = 0;
    for (const runtime of ["node", "bun"]) {
      const available = await installed(runtime);
      await t.step({
        name: `${runtime}: batches, counts, the mapped index of an invalid activity, typed errors`,
        ignore: !available,
        fn: async () => {
          const { stdout } = await run(runtime, ["smoke.mjs"], { cwd: project, env });
          const seen = JSON.parse(stdout);
          const firstRun = runs++ === 0;
          assert.deepEqual(seen.collaborators, {
            created: firstRun ? 600 : 0,
            existing: firstRun ? 0 : 600,
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
          assert.deepEqual(
            [
              seen.activities.processed,
              seen.activities.duplicates,
              seen.activities.rejected.map((r: { index: number }) => r.index),
            ],
            // The first runtime stored batch 1 before batch 2 was refused; the second finds everything stored.
            firstRun ? [499, 1000, [1234]] : [0, 1499, [1234]],
          );
          assert.deepEqual(seen.unauthorized, {
            isApiError: true,
            status: 401,
            code: "UNAUTHORIZED",
            message: "Invalid or expired API key",
          });
          assert.equal(seen.rateLimit.limit, 100_000);
        },
      });
      if (!available) console.log(`${runtime} is not installed: its step is skipped`);
    }
  } finally {
    await Deno.remove(project, { recursive: true });
  }
});

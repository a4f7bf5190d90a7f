// What `supabase functions deploy` takes: each function's own deno.json maps exactly the packages
// its code imports (no test or tooling package travels with it), at the versions the root deno.json
// pins for local runs, and supabase/config.toml points each function at its deno.json. The tests'
// own deno.json (test-only packages, and a lock of their own so that `deno task start` never
// downloads them) pins the same versions as the root.
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url);
const functions = ["default-integration", "api-keys"];

const readJson = async (path: string) => JSON.parse(await Deno.readTextFile(new URL(path, root)));

/** The bare specifiers (packages, not relative files or node: built-ins) the function's code imports. */
async function importedPackages(name: string): Promise<string[]> {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", `supabase/functions/${name}/index.ts`],
    cwd: root.pathname,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.ok(success, `deno info of ${name} failed`);
  const graph = JSON.parse(new TextDecoder().decode(stdout)) as {
    modules: { dependencies?: { specifier: string }[] }[];
  };
  const specifiers = graph.modules.flatMap((m) => m.dependencies ?? []).map((
    d,
  ) => d.specifier)
    .filter((s) => !s.startsWith(".") && !s.startsWith("node:"));
  return [...new Set(specifiers)].sort();
}

/** The import-map entry that resolves `specifier`: itself, or the longest "prefix/" entry. */
const entryFor = (imports: Record<string, string>, specifier: string) =>
  specifier in imports
    ? specifier
    : Object.keys(imports).filter((k) => k.endsWith("/") && specifier.startsWith(k)).sort((a, b) =>
      b.length - a.length
    )[0];

Deno.test("each function deploys with its own deno.json", async (t) => {
  const rootImports: Record<string, string> = (await readJson("deno.json")).imports;
  const configToml = await Deno.readTextFile(
    new URL("supabase/config.toml", root),
  );

  for (const name of functions) {
    await t.step(
      `${name}: its deno.json maps exactly what its code imports, at the root's versions`,
      async () => {
        const own: Record<string, string> = (await readJson(`supabase/functions/${name}/deno.json`)).imports;
        const needed = new Set(
          (await importedPackages(name)).map((s) => entryFor(own, s) ?? `unmapped: ${s}`),
        );
        assert.deepEqual([...needed].sort(), Object.keys(own).sort());
        for (const [entry, target] of Object.entries(own)) {
          assert.equal(target, rootImports[entry], entry);
        }
      },
    );

    await t.step(
      `${name}: supabase/config.toml deploys it with that deno.json`,
      () => {
        const section = configToml.split(`[functions.${name}]`)[1]?.split("\n[")[0] ?? "";
        assert.match(
          section,
          new RegExp(`import_map = "\\./functions/${name}/deno\\.json"`),
        );
        assert.match(
          section,
          new RegExp(`entrypoint = "\\./functions/${name}/index\\.ts"`),
        );
      },
    );
  }

  await t.step(
    "tests/deno.json pins every package of the root at the same version, with the same fmt, lint and allowScripts",
    async () => {
      const [rootConfig, testConfig] = await Promise.all([readJson("deno.json"), readJson("tests/deno.json")]);
      for (const [entry, target] of Object.entries(rootImports)) assert.equal(testConfig.imports[entry], target, entry);
      assert.deepEqual([testConfig.fmt, testConfig.lint, testConfig.allowScripts], [
        rootConfig.fmt,
        rootConfig.lint,
        rootConfig.allowScripts,
      ]);
    },
  );
});

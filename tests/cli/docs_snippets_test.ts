// The API reference page's TypeScript and Python snippets (tools/docs_snippets.ts), for every
// operation of both OpenAPI documents with its documented example: the TypeScript type-checks
// against the client's own source, the Python parses, and neither carries a credential.
import assert from "node:assert/strict";
import { functionDocuments } from "../../tools/docs.ts";
import { pythonSnippet, type SnippetRequest, typescriptSnippet } from "../../tools/docs_snippets.ts";

const root = new URL("../../", import.meta.url);
const client = new URL("clients/typescript/src/index.ts", root).href;
const secret = "sk_live_secretsecretsecretsecret000000";

/** One request per documented operation, as Swagger UI builds it from the operation's example. */
async function operations(): Promise<[string, SnippetRequest][]> {
  const requests: [string, SnippetRequest][] = [];
  for (const document of Object.values(await functionDocuments())) {
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item as Record<string, any>)) {
        const content = operation.requestBody?.content?.["application/json"];
        const examples = Object.values(content?.examples ?? {}) as { value: unknown }[];
        const bodies = examples.length ? examples.map((e) => JSON.stringify(e.value)) : [undefined];
        for (const body of bodies) {
          requests.push([`${method.toUpperCase()} ${path}`, {
            method: method.toUpperCase(),
            url: `http://127.0.0.1:54321/functions/v1${path.replace("{id}", crypto.randomUUID())}`,
            headers: { Authorization: `Bearer ${secret}`, ...(body ? { "Content-Type": "application/json" } : {}) },
            ...(body ? { body } : {}),
          }]);
        }
      }
    }
  }
  return requests;
}

Deno.test("API reference snippets: TypeScript (the client) and Python for every operation", async (t) => {
  const requests = await operations();
  const dir = await Deno.makeTempDir({ prefix: "salesos_snippets_" });
  try {
    await t.step("every operation has both, and no credential from the page", () => {
      assert.ok(requests.length >= 14, `${requests.length} operations`);
      for (const [name, request] of requests) {
        for (const snippet of [typescriptSnippet(request), pythonSnippet(request)]) {
          assert.ok(!snippet.includes(secret), `${name}: the key is read from the environment`);
        }
      }
      const sync = requests.find(([name, r]) =>
        name === "POST /default-integration" && r.body?.includes("activities")
      )!;
      assert.match(typescriptSnippet(sync[1]), /client\.syncActivities\(/);
      const create = requests.find(([name]) => name === "POST /api-keys")!;
      assert.match(typescriptSnippet(create[1]), /keys\.create\(/);
    });

    await t.step("the TypeScript type-checks against the client's source", async () => {
      const files = await Promise.all(requests.map(async ([, request], i) => {
        const file = `${dir}/snippet_${i}.ts`;
        const source = typescriptSnippet(request).replaceAll('"@salesos/integration-client"', JSON.stringify(client));
        await Deno.writeTextFile(file, `${source}\nexport {};\n`);
        return file;
      }));
      const checked = await new Deno.Command(Deno.execPath(), {
        args: ["check", "--no-config", "--quiet", ...files],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(checked.code, 0, new TextDecoder().decode(checked.stderr));
    });

    await t.step("the Python parses", async () => {
      const files = await Promise.all(requests.map(async ([, request], i) => {
        const file = `${dir}/snippet_${i}.py`;
        await Deno.writeTextFile(file, pythonSnippet(request));
        return file;
      }));
      const parsed = await new Deno.Command("python3", {
        args: ["-c", "import ast, sys\nfor f in sys.argv[1:]: ast.parse(open(f).read(), f)", ...files],
        stderr: "piped",
      }).output();
      assert.equal(parsed.code, 0, new TextDecoder().decode(parsed.stderr));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// What an integrator reads beside the API: every error code explained on docs/errors.md, which each
// error answer links (`doc_url`); one API version in the SalesOS-Version header, both OpenAPI
// documents and CHANGELOG.md.
import assert from "node:assert/strict";
import { errorStatus } from "../../supabase/functions/_shared/errors.ts";
import { apiVersion } from "../../supabase/functions/_shared/version.ts";
import { readConfig } from "../../supabase/functions/_shared/config.ts";
import { createIntegrationApp } from "../../supabase/functions/default-integration/app.ts";
import { createApiKeysApp } from "../../supabase/functions/api-keys/app.ts";
import { openApiDocumentOf } from "../../supabase/functions/_shared/openapi.ts";

const root = new URL("../../", import.meta.url);
const errorsPage = await Deno.readTextFile(new URL("docs/errors.md", root));
const none = {} as never;
const versionOf = (document: Record<string, unknown>) => (document.info as { version: string }).version;

Deno.test("integrators' docs: error pages and the API version", async (t) => {
  await t.step("every error code has its section on docs/errors.md and a row in its table", () => {
    for (const [code, status] of Object.entries(errorStatus)) {
      assert.match(errorsPage, new RegExp(`^## ${code}\\n\\n${status}\\. `, "m"), `section of ${code}`);
      assert.match(errorsPage, new RegExp(`^\\| ${status} \\| \\[\`${code}\`\\]\\(#${code.toLowerCase()}\\) \\|`, "m"));
    }
    const sections = [...errorsPage.matchAll(/^## ([A-Z_]+)$/gm)].map((m) => m[1]).sort();
    assert.deepEqual(sections, Object.keys(errorStatus).sort(), "no section for a code that does not exist");
  });

  await t.step("an error answer links its code's section under SALESOS_DOCS_URL", async () => {
    const config = readConfig({ SALESOS_DOCS_URL: "https://docs.example.com/salesos/" });
    assert.equal(config.docsUrl, "https://docs.example.com/salesos");
    const app = createIntegrationApp({ db: none, keys: none, config, log: () => {} });
    const res = await app.request("/default-integration", { method: "POST" });
    assert.equal(res.status, 401);
    const body = await res.json();
    assert.equal(body.error.doc_url, "https://docs.example.com/salesos/errors.md#unauthorized");
    const missing = await app.request("/default-integration/nowhere");
    assert.equal((await missing.json()).error.doc_url, "https://docs.example.com/salesos/errors.md#not_found");

    const local = createApiKeysApp({ db: none, jwt: none, config: readConfig({}), log: () => {} });
    const unauthorized = await (await local.request("/api-keys")).json();
    assert.equal(unauthorized.error.doc_url, "http://127.0.0.1:54321/docs/errors.md#unauthorized", "the default");
  });

  await t.step("one version: SalesOS-Version on every answer, info.version, and a CHANGELOG entry", async () => {
    assert.match(apiVersion, /^\d+\.\d+\.\d+$/);
    const config = readConfig({});
    const integration = createIntegrationApp({ db: none, keys: none, config, log: () => {} });
    const keys = createApiKeysApp({ db: none, jwt: none, config, log: () => {} });
    for (const res of [await integration.request("/default-integration"), await keys.request("/api-keys")]) {
      assert.equal(res.headers.get("SalesOS-Version"), apiVersion);
      await res.body?.cancel();
    }
    assert.equal(
      versionOf(await openApiDocumentOf(integration, "default-integration")),
      apiVersion,
    );
    assert.equal(versionOf(await openApiDocumentOf(keys, "api-keys")), apiVersion);
    const changelog = await Deno.readTextFile(new URL("CHANGELOG.md", root));
    assert.match(changelog, new RegExp(`^## ${apiVersion.replaceAll(".", "\\.")} `, "m"), "the version has an entry");
  });
});

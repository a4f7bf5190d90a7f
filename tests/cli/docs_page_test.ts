// The API reference page, in headless Chromium (Debian's chromium, driven by
// playwright-core): served by `deno task start` at /docs and built by `deno task docs:build`, it
// loads with no console error, sends no request beyond 127.0.0.1, shows every operation of both
// functions (each one opens without a resolver error), and sends requests with "Try it out".
import assert from "node:assert/strict";
import type { BrowserContext, Page } from "playwright-core";
import { launchChromium } from "../support/chromium.ts";
import { functionDocuments } from "../../tools/docs.ts";
import { freshDatabase } from "../support/database.ts";
import { createKey, createTenant, testSigningEnv } from "../support/fixtures.ts";
import { runTask, startServer } from "../support/server.ts";
import { serveFolder } from "../support/static_folder.ts";

const documents = await functionDocuments();

function documentedOperations(name: keyof typeof documents): string[] {
  return Object.entries(documents[name].paths).flatMap(([path, item]) =>
    Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`)
  ).sort();
}

interface Visit {
  page: Page;
  errors: string[];
  outside: string[];
  requested: string[];
}

/** Opens `url` recording console errors, page errors, failed loads and any request not to 127.0.0.1. */
async function visit(context: BrowserContext, url: string): Promise<Visit> {
  const visit: Visit = { page: await context.newPage(), errors: [], outside: [], requested: [] };
  const { page } = visit;
  page.on("console", (message) => {
    if (message.type() === "error") visit.errors.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => visit.errors.push(`page: ${error.message}`));
  page.on("requestfailed", (request) => visit.errors.push(`failed: ${request.url()} ${request.failure()?.errorText}`));
  await page.route("**/*", (route) => {
    const target = new URL(route.request().url());
    visit.requested.push(target.href);
    if (target.hostname === "127.0.0.1") return route.continue();
    visit.outside.push(target.href);
    return route.abort();
  });
  await page.goto(url, { waitUntil: "load" });
  for (const name of Object.keys(documents)) {
    await page.waitForSelector(`#swagger-${name} .opblock`, { timeout: 30_000 });
  }
  return visit;
}

/** The operations Swagger UI shows for a function, as "METHOD /path". */
async function shownOperations(page: Page, name: string): Promise<string[]> {
  const shown = await page.$$eval(`#swagger-${name} .opblock`, (blocks) =>
    blocks.map((block) => {
      const method = block.querySelector(".opblock-summary-method")?.textContent?.trim() ?? "";
      const path = block.querySelector(".opblock-summary-path")?.getAttribute("data-path") ?? "";
      return `${method} ${path}`;
    }));
  return shown.sort();
}

/** Opens every operation of the page, so that Swagger UI resolves every $ref it shows. */
async function openEveryOperation(page: Page) {
  const summaries = await page.$$(".opblock .opblock-summary-control");
  for (const summary of summaries) await summary.click();
  await page.waitForTimeout(500);
  await page.waitForFunction(
    `document.querySelectorAll(".opblock.is-open .opblock-body").length === ${summaries.length}`,
  );
}

async function assertCleanPage(visit: Visit) {
  for (const name of Object.keys(documents) as (keyof typeof documents)[]) {
    assert.deepEqual(await shownOperations(visit.page, name), documentedOperations(name), `${name}: operations shown`);
  }
  await openEveryOperation(visit.page);
  const resolverErrors = await visit.page.$$eval(".errors-wrapper", (els) => els.map((e) => e.textContent));
  assert.deepEqual(resolverErrors, [], "Swagger UI shows no error");
  assert.deepEqual(visit.errors, [], "no console error, page error or failed load");
  assert.deepEqual(visit.outside, [], "no request beyond 127.0.0.1");
  assert.ok(visit.requested.length > 0);
}

Deno.test("API reference page", async (t) => {
  await using test = await freshDatabase();
  const tenant = await createTenant(test.db);
  const key = await createKey(test.db, tenant);
  const signedKey = await createKey(test.db, tenant, { auth_scheme: "signed" });
  await using server = await startServer({ DATABASE_URL: test.url, LOG_REQUESTS: "false", ...testSigningEnv });
  const out = await Deno.makeTempDir({ prefix: "salesos-docs-" });
  const context = await launchChromium({ width: 1400, height: 1000 });

  try {
    await t.step("deno task start serves /docs/ and every asset it names from itself", async () => {
      const redirect = await fetch(`${server.baseUrl}/docs`, { redirect: "manual" });
      await redirect.body?.cancel();
      assert.deepEqual([redirect.status, redirect.headers.get("location")], [301, "/docs/"]);
      const page = await fetch(`${server.baseUrl}/docs/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
      const html = await page.text();
      const assets = [...html.matchAll(/(?:src|href)="([^"#]+)"/g)].map((m) => m[1]);
      assert.ok(assets.includes("swagger-ui/swagger-ui-bundle.js") && assets.includes("swagger-ui/swagger-ui.css"));
      for (const asset of assets) {
        assert.doesNotMatch(asset, /^(https?:)?\/\//, `${asset}: every asset is local`);
        const res = await fetch(`${server.baseUrl}/docs/${asset}`);
        await res.body?.cancel();
        assert.equal(res.status, 200, asset);
      }
      const missing = await fetch(`${server.baseUrl}/docs/nope.js`);
      await missing.body?.cancel();
      assert.equal(missing.status, 404);
    });

    await t.step("the documents the page loads are the ones the functions serve", async () => {
      for (const name of Object.keys(documents)) {
        const fromPage = await (await fetch(`${server.baseUrl}/docs/openapi/${name}.json`)).json();
        const fromFunction = await (await fetch(`${server.baseUrl}/functions/v1/${name}/openapi.json`)).json();
        assert.deepEqual(fromPage, fromFunction, name);
        assert.deepEqual(fromFunction, documents[name as keyof typeof documents], name);
      }
    });

    await t.step("in Chromium, /docs shows every operation of both functions with no error", async () => {
      const page = await visit(context, `${server.baseUrl}/docs/`);
      await assertCleanPage(page);
      await page.page.close();
    });

    await t.step("Try it out: GET health and an authorized POST sync are sent from the page", async () => {
      const { page, errors, outside } = await visit(context, `${server.baseUrl}/docs/`);
      const execute = async (operation: string) => {
        const block = page.locator(operation);
        await block.locator(".opblock-summary-control").click();
        await block.locator(".try-out__btn").click();
        await block.locator(".execute").click();
        const status = block.locator(".live-responses-table .response .response-col_status").first();
        await status.waitFor({ timeout: 15_000 });
        return (await status.textContent())?.trim();
      };
      assert.equal(
        await execute("#swagger-default-integration .opblock-get:has([data-path='/default-integration/health'])"),
        "200",
      );

      const integration = page.locator("#swagger-default-integration");
      await integration.locator(".auth-wrapper .authorize").click();
      await page.locator(".dialog-ux input[type=text], .dialog-ux input[type=password]").first().fill(key.key);
      await page.locator(".dialog-ux form").filter({ hasText: "(http, Bearer)" }).locator(
        ".auth-btn-wrapper .authorize",
      )
        .click();
      await page.locator(".dialog-ux .close-modal").click();
      assert.equal(await execute("#swagger-default-integration .opblock-post"), "200");
      const body = await page.locator(
        "#swagger-default-integration .opblock-post .live-responses-table .response-col_description pre",
      ).first().textContent();
      assert.match(body ?? "", /"created": 1/);
      // Beside curl, the TypeScript (the client) and Python snippets of the request just sent.
      const snippets = page.locator("#swagger-default-integration .opblock-post .request-snippets").first();
      await snippets.getByText("TypeScript (client)").click();
      assert.match(await snippets.locator("pre, code").first().textContent() ?? "", /client\.syncCollaborators\(/);
      await snippets.getByText("Python (requests)").click();
      assert.match(await snippets.locator("pre, code").first().textContent() ?? "", /requests\.post\(/);
      assert.deepEqual(errors, []);
      assert.deepEqual(outside, []);
      await page.close();
    });

    await t.step("Try it out with a signed key: the page signs with WebCrypto, the server answers 200", async () => {
      const { page, errors, outside } = await visit(context, `${server.baseUrl}/docs/`);
      const sent: { authorization: string; body: string }[] = [];
      page.on("request", (request) => {
        if (request.method() === "POST" && request.url().endsWith("/functions/v1/default-integration")) {
          sent.push({ authorization: request.headers()["authorization"] ?? "", body: request.postData() ?? "" });
        }
      });
      const authorize = async (secret: string) => {
        await page.locator("#swagger-default-integration .auth-wrapper .authorize").click();
        const form = page.locator(".dialog-ux form").filter({ has: page.locator(".signed-auth") });
        const logout = form.locator(".auth-btn-wrapper button:has-text('Logout')");
        if (await logout.count()) await logout.click();
        await form.locator("#signed-key").fill(signedKey.key);
        await form.locator("#signed-secret").fill(secret);
        await form.locator(".auth-btn-wrapper .authorize").click();
        await page.locator(".dialog-ux .close-modal").click();
      };
      const post = page.locator("#swagger-default-integration .opblock-post");
      const status = post.locator(".live-responses-table .response .response-col_status").first();
      const execute = async () => {
        const before = sent.length;
        await post.locator(".execute").click();
        await page.waitForFunction(
          `document.querySelector("#swagger-default-integration .opblock-post .live-responses-table .response .response-col_status")`,
        );
        await page.waitForTimeout(200);
        await status.waitFor({ timeout: 15_000 });
        assert.equal(sent.length, before + 1, "one request sent");
        return (await status.textContent())?.trim();
      };

      await authorize(signedKey.secret!);
      await post.locator(".opblock-summary-control").click();
      await post.locator(".try-out__btn").click();
      assert.equal(await execute(), "200");
      const [request] = sent;
      assert.match(request.authorization, /^P2S-SIGN-V1 sk_live_[a-z0-9]{32}:\d+:[0-9a-f]{64}$/);
      assert.ok(request.authorization.startsWith(`P2S-SIGN-V1 ${signedKey.key}:`));
      assert.ok(!JSON.stringify(sent).includes(signedKey.secret!), "the secret is never sent");
      const answer = await post.locator(".live-responses-table .response-col_description pre").first().textContent();
      assert.match(answer ?? "", /"total": 1/);

      // A wrong secret: the page signs, the server refuses the signature.
      await authorize("0".repeat(64));
      await post.locator(".btn-clear").click();
      assert.equal(await execute(), "401");
      assert.match(
        (await post.locator(".live-responses-table .response-col_description pre").first().textContent()) ?? "",
        /Invalid request signature/,
      );
      // The browser reports the refused request's 401 as a failed load; nothing else went wrong.
      assert.deepEqual(errors, [
        "console: Failed to load resource: the server responded with a status of 401 (Unauthorized)",
      ]);
      assert.deepEqual(outside, []);
      await page.close();
    });

    await t.step("deno task docs:build writes a static folder with every asset in it", async () => {
      const built = await runTask("docs:build", ["--out", out], {});
      assert.equal(built.code, 0, built.stderr);
      const { files } = JSON.parse(built.stdout.trim().split("\n").at(-1)!);
      for (
        const file of [
          "index.html",
          "docs.js",
          "docs.css",
          "swagger-ui/swagger-ui-bundle.js",
          "swagger-ui/swagger-ui.css",
        ]
      ) {
        assert.ok(files.includes(file), file);
        assert.ok((await Deno.stat(`${out}/${file}`)).size > 0, file);
      }
      for (const name of Object.keys(documents)) {
        const written = JSON.parse(await Deno.readTextFile(`${out}/openapi/${name}.json`));
        assert.deepEqual(written, documents[name as keyof typeof documents], name);
      }
      const html = await Deno.readTextFile(`${out}/index.html`);
      assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, "no remote asset");
    });

    await t.step("in Chromium, the static folder on any web server shows the same, with no error", async () => {
      const files = serveFolder(out);
      try {
        const page = await visit(context, `http://127.0.0.1:${files.addr.port}/`);
        await assertCleanPage(page);
        await page.page.close();
      } finally {
        await files.shutdown();
      }
    });
  } finally {
    await context.close();
    await Deno.remove(out, { recursive: true });
  }
});

// How the console is served and built: `deno task start` serves index.html, app.js and app.css at
// /console/ with nothing from elsewhere; the JavaScript stays within its budget (150 KB gzipped, all
// chunks together); `deno task console:build --api-url --supabase-url --anon-key` writes a static
// folder that, hosted on another origin, signs in with email and password through Supabase Auth
// (supabase-js, against a stand-in for the Auth server's password grant) and lists keys through
// CORS once the API lists that origin in CONSOLE_ORIGINS.
import assert from "node:assert/strict";
import { maxGzippedJsBytes } from "../../tools/console.ts";
import { freshDatabase } from "../support/database.ts";
import { createKey } from "../support/fixtures.ts";
import { runTask, serverEnv, startServer } from "../support/server.ts";
import { serveFolder } from "../support/static_folder.ts";
import { assertAccessible, launch, openConsole, screenshot, tokenFor } from "./browser.ts";

async function gzippedSize(bytes: Uint8Array<ArrayBuffer>): Promise<number> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

const anonKey = "test-anon-key";
const password = "correct horse battery staple";

/**
 * A stand-in for Supabase Auth's password grant (POST /auth/v1/token?grant_type=password), with the
 * answers and CORS headers of the real one: `token` for `email` and the password above, sent with
 * the anon key; GoTrue's 400 invalid_credentials otherwise.
 */
function authServer(email: string, token: () => string) {
  const cors = (request: Request) => ({
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": request.headers.get("access-control-request-headers") ?? "",
  });
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    if (request.method === "OPTIONS") return new Response(null, { status: 204, headers: cors(request) });
    const url = new URL(request.url);
    const body = await request.json().catch(() => ({}));
    const granted = url.pathname === "/auth/v1/token" && url.searchParams.get("grant_type") === "password" &&
      request.headers.get("apikey") === anonKey && body.email === email && body.password === password;
    if (!granted) {
      return Response.json(
        { code: 400, error_code: "invalid_credentials", msg: "Invalid login credentials" },
        { status: 400, headers: cors(request) },
      );
    }
    const now = Math.floor(Date.now() / 1000);
    return Response.json({
      access_token: token(),
      token_type: "bearer",
      expires_in: 3600,
      expires_at: now + 3600,
      refresh_token: "not-used",
      user: {
        id: crypto.randomUUID(),
        aud: "authenticated",
        role: "authenticated",
        email,
        app_metadata: {},
        user_metadata: {},
        created_at: new Date().toISOString(),
      },
    }, { headers: cors(request) });
  });
}

Deno.test("console: served by deno task start, within budget, built for a static host", async (t) => {
  await using test = await freshDatabase();
  const out = await Deno.makeTempDir({ prefix: "salesos-console-build-" });
  const files = serveFolder(out);
  const staticOrigin = `http://127.0.0.1:${files.addr.port}`;
  const env = serverEnv(test.url, { LOG_REQUESTS: "false", CONSOLE_ORIGINS: staticOrigin });
  await using server = await startServer(env);
  const owner = await tokenFor(env, "acme", { email: "owner@acme.example" });
  const auth = authServer("owner@acme.example", () => owner.token);
  let built: string[] = [];
  await createKey(test.db, owner.tenant_id, { name: "Hosted elsewhere" });
  const context = await launch();
  try {
    await t.step("/console/ serves the page and its two assets, all from itself", async () => {
      const redirect = await fetch(`${server.baseUrl}/console`, { redirect: "manual" });
      await redirect.body?.cancel();
      assert.deepEqual([redirect.status, redirect.headers.get("location")], [301, "/console/"]);
      const page = await fetch(`${server.baseUrl}/console/`);
      assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
      const html = await page.text();
      const assets = [...html.matchAll(/(?:src|href)="([^"#]+)"/g)].map((m) => m[1]).sort();
      assert.deepEqual(assets, ["app.css", "app.js"]);
      for (const asset of assets) {
        const res = await fetch(`${server.baseUrl}/console/${asset}`);
        await res.body?.cancel();
        assert.equal(res.status, 200, asset);
        assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      }
      const missing = await fetch(`${server.baseUrl}/console/nope.js`);
      await missing.body?.cancel();
      assert.equal(missing.status, 404);
    });

    await t.step("deno task console:build writes the static files, pointed at the API and Supabase Auth", async () => {
      const result = await runTask("console:build", [
        "--out",
        out,
        "--api-url",
        `${server.baseUrl}/functions/v1`,
        "--supabase-url",
        `http://127.0.0.1:${auth.addr.port}`,
        "--anon-key",
        anonKey,
      ], {});
      assert.equal(result.code, 0, result.stderr);
      built = JSON.parse(result.stdout.trim().split("\n").at(-1)!).files.sort();
      assert.deepEqual(built.filter((name) => !/^[\w-]+\.js$/.test(name) || name === "app.js"), [
        "app.css",
        "app.js",
        "index.html",
      ]);
      const html = await Deno.readTextFile(`${out}/index.html`);
      assert.ok(html.includes(`<meta name="salesos-api-url" content="${server.baseUrl}/functions/v1">`));
      assert.ok(html.includes(`<meta name="salesos-supabase-anon-key" content="${anonKey}">`));
      for (const wrong of [["--api-url", "javascript:alert(1)"], ["--supabase-url", "http://127.0.0.1:1"], ["--x"]]) {
        assert.equal((await runTask("console:build", wrong, {})).code, 2, wrong.join(" "));
      }
    });

    await t.step(`all of its JavaScript weighs at most ${maxGzippedJsBytes / 1024} KB gzipped`, async () => {
      let total = 0;
      for (const name of built.filter((name) => name.endsWith(".js"))) {
        const js = await Deno.readFile(`${out}/${name}`);
        total += await gzippedSize(js);
        assert.doesNotMatch(new TextDecoder().decode(js), /(src|href)=["']?https?:/, `${name}: no remote asset`);
      }
      const served = new Uint8Array(await (await fetch(`${server.baseUrl}/console/app.js`)).arrayBuffer());
      assert.deepEqual(served, await Deno.readFile(`${out}/app.js`), "deno task start serves the same bundle");
      console.log(`JavaScript: ${total} bytes gzipped`);
      assert.ok(total <= maxGzippedJsBytes, `${total} bytes gzipped`);
    });

    await t.step(
      "hosted on another origin, it signs in with email and password and lists keys through CORS",
      async () => {
        const { page, problems } = await openConsole(context, `${staticOrigin}/`);
        await assertAccessible(page, "sign in with email");
        await screenshot(page, "sign_in_email");
        await page.getByLabel("Email", { exact: true }).fill("owner@acme.example");
        await page.getByLabel("Password", { exact: true }).fill("wrong password");
        await page.getByRole("button", { name: "Sign in with email" }).click();
        await page.getByRole("alert").getByText("Sign-in refused: Invalid login credentials").waitFor();
        await page.getByLabel("Password", { exact: true }).fill(password);
        await page.getByRole("button", { name: "Sign in with email" }).click();
        await page.getByRole("row", { name: /Hosted elsewhere/ }).waitFor();
        await assertAccessible(page, "keys on a static host");
        assert.deepEqual(problems, []);
        await page.close();
      },
    );
  } finally {
    await context.close();
    await files.shutdown();
    await auth.shutdown();
    await Deno.remove(out, { recursive: true });
  }
});

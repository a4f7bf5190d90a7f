// How the console is served and built: `deno task start` serves index.html, app.js and app.css at
// /console/ with nothing from elsewhere; the JavaScript stays within its budget (150 KB gzipped);
// `deno task console:build --api-url` writes a static folder that, hosted on another origin, signs in
// and lists keys through CORS once the API lists that origin in CONSOLE_ORIGINS.
import assert from "node:assert/strict";
import { maxGzippedJsBytes } from "../../tools/console.ts";
import { freshDatabase } from "../support/database.ts";
import { createKey } from "../support/fixtures.ts";
import { runTask, serverEnv, startServer } from "../support/server.ts";
import { assertAccessible, launch, openConsole, signIn, tokenFor } from "./browser.ts";

async function gzippedSize(bytes: Uint8Array<ArrayBuffer>): Promise<number> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

/** A plain static file server for a folder, as any static host would serve it. */
function serveFolder(root: string) {
  const types: Record<string, string> = { html: "text/html; charset=utf-8", js: "text/javascript", css: "text/css" };
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const path = new URL(request.url).pathname;
    const file = path === "/" ? "/index.html" : path;
    if (!/^\/[\w.-]+$/.test(file)) return new Response("not found", { status: 404 });
    try {
      const body = await Deno.readFile(`${root}${file}`);
      return new Response(body, { headers: { "Content-Type": types[file.split(".").pop()!] ?? "text/plain" } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

Deno.test("console: served by deno task start, within budget, built for a static host", async (t) => {
  await using test = await freshDatabase();
  const out = await Deno.makeTempDir({ prefix: "salesos-console-build-" });
  const files = serveFolder(out);
  const staticOrigin = `http://127.0.0.1:${files.addr.port}`;
  const env = serverEnv(test.url, { LOG_REQUESTS: "false", CONSOLE_ORIGINS: staticOrigin });
  await using server = await startServer(env);
  const owner = await tokenFor(env, "acme");
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

    await t.step(`the JavaScript weighs at most ${maxGzippedJsBytes / 1024} KB gzipped`, async () => {
      const js = new Uint8Array(await (await fetch(`${server.baseUrl}/console/app.js`)).arrayBuffer());
      const size = await gzippedSize(js);
      console.log(`app.js: ${js.byteLength} bytes, ${size} gzipped`);
      assert.ok(size <= maxGzippedJsBytes, `${size} bytes gzipped`);
      assert.doesNotMatch(new TextDecoder().decode(js), /https?:\/\/(?!www\.w3\.org)[a-z0-9.-]+\.[a-z]{2,}\//i);
    });

    await t.step("deno task console:build writes the static files, pointed at the API", async () => {
      const built = await runTask("console:build", ["--out", out, "--api-url", `${server.baseUrl}/functions/v1`], {});
      assert.equal(built.code, 0, built.stderr);
      assert.deepEqual(JSON.parse(built.stdout.trim().split("\n").at(-1)!).files.sort(), [
        "app.css",
        "app.js",
        "index.html",
      ]);
      const html = await Deno.readTextFile(`${out}/index.html`);
      assert.ok(html.includes(`<meta name="salesos-api-url" content="${server.baseUrl}/functions/v1">`));
      const wrong = await runTask("console:build", ["--api-url", "javascript:alert(1)"], {});
      assert.equal(wrong.code, 2);
    });

    await t.step("hosted on another origin, the built console signs in and lists keys through CORS", async () => {
      const { page, problems } = await openConsole(context, `${staticOrigin}/`);
      await signIn(page, owner.token);
      await page.getByRole("row", { name: /Hosted elsewhere/ }).waitFor();
      await assertAccessible(page, "keys on a static host");
      assert.deepEqual(problems, []);
      await page.close();
    });
  } finally {
    await context.close();
    await files.shutdown();
    await Deno.remove(out, { recursive: true });
  }
});

// The interactive API reference of both functions: Swagger UI (swagger-ui-dist from npm, its files
// served from here, nothing from a CDN) over the two generated OpenAPI documents.
//   `deno task start` serves it at /docs (docsResponse below; never by the functions: hosted
//   Supabase rewrites HTML answers of functions to text/plain).
//   `deno task docs:build [--out docs/dist]` writes the same files as a static folder.
import getAbsoluteFSPath from "swagger-ui-dist/absolute-path.js";
import { type OpenApiDocument, openApiDocumentOf } from "../supabase/functions/_shared/openapi.ts";
import { createApiKeysApp } from "../supabase/functions/api-keys/app.ts";
import { createIntegrationApp } from "../supabase/functions/default-integration/app.ts";
import { signedPath, signedScheme } from "../supabase/functions/_shared/signing.ts";
import { pythonSnippet, typescriptSnippet } from "./docs_snippets.ts";
import { escapeHtml, type SiteFile, siteFile, siteResponse, writeSite } from "./static_site.ts";

const documentedFunctions = [
  { name: "default-integration", title: "Sync collaborators and activities with an API key" },
  { name: "api-keys", title: "Manage API keys with a Dashboard access token" },
] as const;

/**
 * Both functions' OpenAPI documents, as their apps serve them at openapi.json. Serving the
 * document touches no dependency: the apps get none.
 */
export async function functionDocuments(): Promise<Record<"default-integration" | "api-keys", OpenApiDocument>> {
  const none = {} as never;
  const config = { trustedProxyHops: 0, maxActiveKeysPerTenant: 100, bcryptCost: 10 };
  return {
    "default-integration": await openApiDocumentOf(
      createIntegrationApp({ db: none, keys: none, config, log: () => {} }),
      "default-integration",
    ),
    "api-keys": await openApiDocumentOf(createApiKeysApp({ db: none, jwt: none, config, log: () => {} }), "api-keys"),
  };
}

/** What the page takes from swagger-ui-dist, copied as is (with its license). */
const swaggerUiFiles = ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE", "NOTICE"];

function indexHtml(): string {
  const nav = documentedFunctions.map((f) => `<a href="#${f.name}">${f.name}</a>`).join("\n      ");
  const sections = documentedFunctions.map((f) => `
    <section class="function" id="${f.name}" aria-labelledby="${f.name}-title">
      <h2 id="${f.name}-title"><code>/functions/v1/${f.name}</code> <span>${escapeHtml(f.title)}</span></h2>
      <p class="downloads">OpenAPI 3.1: <a href="openapi/${f.name}.json" download>${f.name}.json</a>
        (also served by the function at <code>/functions/v1/${f.name}/openapi.json</code>)</p>
      <div class="swagger" id="swagger-${f.name}" data-openapi="openapi/${f.name}.json"></div>
    </section>`).join("\n");
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>SalesOS Integration API reference</title>
    <link rel="icon" type="image/png" href="swagger-ui/favicon-32x32.png">
    <link rel="stylesheet" href="swagger-ui/swagger-ui.css">
    <link rel="stylesheet" href="docs.css">
  </head>
  <body>
    <header class="page">
      <h1>SalesOS Integration API</h1>
      <nav>
      ${nav}
      </nav>
      <p>Two functions under <code>/functions/v1</code>. Open an operation to see its parameters, body,
        answers and examples. To send requests from this page, choose <b>Authorize</b> (an API key
        <code>sk_live_…</code> / <code>sk_test_…</code> for default-integration, or a signed key and its
        secret: the page then signs each request with WebCrypto and never sends the secret; a Dashboard
        access token for api-keys), then <b>Try it out</b>. The API sends no CORS headers, so requests work from the page
        that <code>deno task start</code> serves at <code>/docs</code> (same origin); from a copy hosted
        elsewhere, use the curl command each operation shows. After <b>Execute</b>, the request is also shown
        in TypeScript (with the client, <code>clients/typescript</code>) and Python (requests). Every error code, and what to do about it:
        <a href="errors.md">errors.md</a> (each error answer's <code>doc_url</code> links its section).</p>
    </header>
    <main>
${sections}
    </main>
    <script src="swagger-ui/swagger-ui-bundle.js"></script>
    <script src="docs.js"></script>
  </body>
</html>
`;
}

/**
 * One Swagger UI per function, each loading its document by URL: Swagger UI resolves the
 * document's $refs against that URL (an inline document would make it fetch the page instead).
 * The P2S-SIGN-V1 scheme (which Swagger UI does not know) gets its own Authorize form, key and
 * secret, kept in the page only; "Try it out" then signs each request to the function in the
 * browser with WebCrypto (docs/authentication.md has the chain) and never sends the secret.
 */
const docsJs = `"use strict";
const encoder = new TextEncoder();
const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
async function hmac(key, message) {
  const imported = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", imported, encoder.encode(message)));
}
async function signedAuthorization(apiKey, secret, method, body) {
  const timestamp = String(Math.floor(Date.now() / 1000));
  let k = await hmac(encoder.encode(secret), apiKey);
  for (const part of [timestamp, method.toUpperCase(), ${JSON.stringify(signedPath)}]) k = await hmac(k, part);
  const payload = hex(await crypto.subtle.digest("SHA-256", encoder.encode(body)));
  return ${JSON.stringify(signedScheme)} + " " + apiKey + ":" + timestamp + ":" + hex(await hmac(k, payload));
}

// The Authorize dialog's form for the signed scheme: the key and its secret.
const SignedAuthPlugin = () => ({
  wrapComponents: {
    HttpAuth: (Original, system) => (props) => {
      const h = system.React.createElement;
      if ((props.schema.get("scheme") || "").toLowerCase() !== ${JSON.stringify(signedScheme.toLowerCase())}) {
        return h(Original, props);
      }
      const [value, setValue] = system.React.useState({ key: "", secret: "" });
      const saved = props.authorized && props.authorized.getIn([props.name, "value"]);
      const onChange = (event) => {
        const next = { ...value, [event.target.name]: event.target.value.trim() };
        setValue(next);
        props.onChange({ name: props.name, schema: props.schema, value: next });
      };
      const field = (name, label, type) =>
        h("div", { className: "wrapper" }, h("label", { htmlFor: "signed-" + name }, label),
          saved ? h("code", null, name === "key" ? " " + saved.get("key").slice(0, 16) + "… " : " ****** ")
                : h("input", { id: "signed-" + name, name, type, autoComplete: "off", onChange }));
      return h("div", { className: "signed-auth" },
        h("h4", null, h("code", null, props.name), "  (P2S-SIGN-V1: signed in this page, the secret is never sent)"),
        saved ? h("h6", null, "Authorized") : null,
        field("key", "API key:", "text"),
        field("secret", "Secret:", "password"));
    },
  },
});

// TypeScript (the client) and Python snippets beside curl: tools/docs_snippets.ts, as is.
const typescriptSnippet = ${typescriptSnippet.toString()};
const pythonSnippet = ${pythonSnippet.toString()};
const plainRequest = (request) => ({
  method: request.get("method"),
  url: request.get("url"),
  headers: request.get("headers") ? request.get("headers").toJS() : {},
  body: typeof request.get("body") === "string" ? request.get("body") : undefined,
});
const SnippetsPlugin = () => ({
  fn: {
    requestSnippetGenerator_typescript: (request) => typescriptSnippet(plainRequest(request)),
    requestSnippetGenerator_python: (request) => pythonSnippet(plainRequest(request)),
  },
});
window.salesosDocs = {};
for (const element of document.querySelectorAll(".swagger[data-openapi]")) {
  const name = element.id.replace(/^swagger-/, "");
  window.salesosDocs[name] = SwaggerUIBundle({
    domNode: element,
    url: element.dataset.openapi,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SignedAuthPlugin, SnippetsPlugin],
    // With a signed key authorized, a request to the function is signed over the body it sends.
    requestInterceptor: async (request) => {
      const signed = window.salesosDocs[name]?.authSelectors.authorized().getIn(["signedRequest", "value"]);
      const path = new URL(request.url, location.href).pathname;
      if (!signed || !signed.get("key") || !path.endsWith(${JSON.stringify(signedPath)})) return request;
      const body = typeof request.body === "string" ? request.body : "";
      request.headers.Authorization = await signedAuthorization(signed.get("key"), signed.get("secret"), request.method, body);
      return request;
    },
    deepLinking: false,
    validatorUrl: null,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    displayRequestDuration: true,
    persistAuthorization: false,
    tryItOutEnabled: false,
    requestSnippetsEnabled: true,
    requestSnippets: {
      generators: {
        curl_bash: { title: "cURL (bash)", syntax: "bash" },
        typescript: { title: "TypeScript (client)", syntax: "javascript" },
        python: { title: "Python (requests)", syntax: "python" },
        curl_powershell: { title: "cURL (PowerShell)", syntax: "powershell" },
      },
      defaultExpanded: true,
    },
  });
}
`;

const docsCss = `body { margin: 0; background: #fafafa; font-family: system-ui, sans-serif; color: #1f2328; }
header.page, section.function > h2, section.function > p.downloads { max-width: 1460px; margin: 0 auto; padding: 0 20px; }
header.page { padding-top: 24px; }
header.page h1 { margin: 0 0 8px; font-size: 28px; }
header.page nav a { margin-right: 16px; font-weight: 600; color: #0b5cad; }
header.page p { max-width: 80ch; line-height: 1.5; }
section.function { border-top: 1px solid #d0d7de; margin-top: 16px; padding-top: 24px; }
section.function > h2 { font-size: 22px; }
section.function > h2 span { font-weight: 400; color: #57606a; font-size: 16px; margin-left: 8px; }
section.function > p.downloads { margin-top: 8px; color: #57606a; }
`;

const encode = (text: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(text);

/** Every file of the page, by path relative to the page. */
async function docsFiles(): Promise<Map<string, SiteFile>> {
  const file = (path: string, body: Uint8Array<ArrayBuffer>) => siteFile(path, body, "text/plain; charset=utf-8");
  const documents = await functionDocuments();
  const assets = getAbsoluteFSPath();
  const files = new Map<string, SiteFile>([
    file("index.html", encode(indexHtml())),
    file("docs.js", encode(docsJs)),
    file("docs.css", encode(docsCss)),
    // What every error answer's doc_url links: <published docs>/errors.md#<code>.
    file("errors.md", await Deno.readFile(new URL("../docs/errors.md", import.meta.url))),
    ...Object.entries(documents).map(([name, document]) =>
      file(`openapi/${name}.json`, encode(`${JSON.stringify(document, null, 2)}\n`))
    ),
  ]);
  for (const name of swaggerUiFiles) {
    files.set(...file(`swagger-ui/${name}`, await Deno.readFile(`${assets}/${name}`)));
  }
  return files;
}

let cached: Promise<Map<string, SiteFile>> | undefined;

/** `deno task start`'s answer below /docs: the page, its assets, 404 for anything else. */
export function docsResponse(pathname: string): Promise<Response> {
  return siteResponse("/docs", pathname, () => cached ??= docsFiles(), {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
  });
}

/** `deno task docs:build [--out <folder>]`: writes the page as a static folder (default docs/dist). */
export async function buildDocs(out: string): Promise<string[]> {
  const files = await docsFiles();
  // Written over, never emptied first: --out may name a folder that holds other things.
  await writeSite(out, files);
  return [...files.keys()].sort();
}

if (import.meta.main) {
  const args = [...Deno.args];
  const at = args.indexOf("--out");
  const out = at >= 0 ? args[at + 1] : "docs/dist";
  if (!out || args.some((a, i) => a !== "--out" && i !== at + 1)) {
    console.error("usage: deno task docs:build [--out <folder>]");
    Deno.exit(2);
  }
  const written = await buildDocs(out);
  console.log(JSON.stringify({ out, files: written }));
}

// The Integrations console (console/): Preact screens and a uPlot chart, bundled by `deno bundle`
// (console/deno.json: its imports, JSX settings and lock file) into three static files:
// index.html, app.js, app.css. Nothing is fetched from elsewhere at run time.
//   `deno task start` serves them at /console/ (consoleResponse below; the bundle is made on the
//   first request and kept), pointed at its own /functions/v1.
//   `deno task console:build [--out console/dist] [--api-url https://<ref>.supabase.co/functions/v1]`
//   writes them for any static host (docs/console.md).
import { onFirstUse } from "./on_first_use.ts";

const consoleDir = new URL("../console/", import.meta.url).pathname;

/** What the console's JavaScript may weigh, gzipped (docs/console.md). */
export const maxGzippedJsBytes = 150 * 1024;

const types: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};

interface ConsoleFile {
  contentType: string;
  body: Uint8Array<ArrayBuffer>;
}

export interface ConsoleSettings {
  /** The functions' base URL (`…/functions/v1`); empty: the page's own origin + /functions/v1. */
  apiUrl?: string;
}

const escapeAttribute = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll('"', "&quot;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/** The console's files, by name: app.js and app.css from `deno bundle`, and index.html. */
export async function consoleFiles(settings: ConsoleSettings = {}): Promise<Map<string, ConsoleFile>> {
  const out = await Deno.makeTempDir({ prefix: "salesos-console-" });
  try {
    const bundled = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--config",
        `${consoleDir}deno.json`,
        "--platform",
        "browser",
        "--minify",
        "--output",
        `${out}/app.js`,
        `${consoleDir}src/main.tsx`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!bundled.success) {
      throw new Error(`deno bundle failed: ${new TextDecoder().decode(bundled.stderr).trim()}`);
    }
    const html = (await Deno.readTextFile(`${consoleDir}index.html`)).replace(
      '<meta name="salesos-api-url" content="">',
      `<meta name="salesos-api-url" content="${escapeAttribute(settings.apiUrl ?? "")}">`,
    );
    const file = (name: string, body: Uint8Array<ArrayBuffer>): [string, ConsoleFile] => [
      name,
      { contentType: types[name.split(".").pop()!], body },
    ];
    return new Map([
      file("index.html", new TextEncoder().encode(html)),
      file("app.js", await Deno.readFile(`${out}/app.js`)),
      file("app.css", await Deno.readFile(`${out}/app.css`)),
    ]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

const served = onFirstUse(() => consoleFiles());

/** `deno task start`'s answer below /console: the page, its two assets, 404 for anything else. */
export async function consoleResponse(pathname: string): Promise<Response> {
  if (pathname === "/console") return new Response(null, { status: 301, headers: { Location: "/console/" } });
  const found = (await served()).get(pathname.slice("/console/".length) || "index.html");
  if (!found) return new Response("Not found\n", { status: 404, headers: { "Content-Type": "text/plain" } });
  return new Response(found.body, {
    headers: {
      "Content-Type": found.contentType,
      "Cache-Control": "no-cache",
      "X-Content-Type-Options": "nosniff",
      "X-Frame-Options": "DENY",
    },
  });
}

/** Writes the console's files into `out` (created if missing); returns their names. */
export async function buildConsole(out: string, settings: ConsoleSettings = {}): Promise<string[]> {
  const files = await consoleFiles(settings);
  await Deno.mkdir(out, { recursive: true });
  for (const [name, { body }] of files) await Deno.writeFile(`${out}/${name}`, body);
  return [...files.keys()];
}

const usage = `usage: deno task console:build [--out <folder>] [--api-url <https://<ref>.supabase.co/functions/v1>]
  Writes index.html, app.js and app.css of the Integrations console into <folder> (default console/dist).
  --api-url: where the page finds the functions (default: the origin that serves the page + /functions/v1).`;

if (import.meta.main) {
  const args = [...Deno.args];
  const options: Record<string, string> = {};
  while (args.length) {
    const [flag, value] = args.splice(0, 2);
    if ((flag !== "--out" && flag !== "--api-url") || value === undefined) {
      console.error(usage);
      Deno.exit(2);
    }
    options[flag] = value;
  }
  const apiUrl = options["--api-url"];
  if (apiUrl !== undefined && !/^https?:\/\/[^\s"<>]+$/.test(apiUrl)) {
    console.error(`--api-url must be an http(s) URL\n${usage}`);
    Deno.exit(2);
  }
  const out = options["--out"] ?? "console/dist";
  const files = await buildConsole(out, { apiUrl });
  console.log(JSON.stringify({ out, files }));
}

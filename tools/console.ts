// The Integrations console (console/): Preact screens and a uPlot chart, bundled by `deno bundle`
// (console/deno.json: its imports, JSX settings and lock file) into static files: index.html,
// app.js, app.css, and the chunk of supabase-js that email sign-in loads when it is configured.
// Nothing is fetched from elsewhere at run time.
//   `deno task start` serves them at /console/ (consoleResponse below; the bundle is made on the
//   first request and kept), pointed at its own /functions/v1 and at SUPABASE_URL's Auth if set.
//   `deno task console:build` writes them for any static host (docs/console.md).
import { onFirstUse } from "./on_first_use.ts";
import { escapeHtml, type SiteFile, siteFile, siteResponse, writeSite } from "./static_site.ts";

const consoleDir = new URL("../console/", import.meta.url).pathname;

/** What the console's JavaScript may weigh, gzipped (docs/console.md). */
export const maxGzippedJsBytes = 150 * 1024;

/** The page's settings, in its <meta> tags (index.html). */
const metaNames = {
  apiUrl: "salesos-api-url",
  supabaseUrl: "salesos-supabase-url",
  supabaseAnonKey: "salesos-supabase-anon-key",
} as const;

export interface ConsoleSettings {
  /** The functions' base URL (`…/functions/v1`); empty: the page's own origin + /functions/v1. */
  apiUrl?: string;
  /** The project's URL and anon (publishable) key: with both, email + password sign-in is offered. */
  supabaseUrl?: string;
  supabaseAnonKey?: string;
}

/** The console's files, by name: what `deno bundle` writes (app.js, app.css, chunks), and index.html. */
async function consoleFiles(settings: ConsoleSettings = {}): Promise<Map<string, SiteFile>> {
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
        "--code-splitting",
        "--outdir",
        out,
        `${consoleDir}src/app.tsx`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!bundled.success) {
      throw new Error(`deno bundle failed: ${new TextDecoder().decode(bundled.stderr).trim()}`);
    }
    let html = await Deno.readTextFile(`${consoleDir}index.html`);
    for (const [setting, name] of Object.entries(metaNames)) {
      const value = settings[setting as keyof ConsoleSettings] ?? "";
      html = html.replace(
        `<meta name="${name}" content="">`,
        `<meta name="${name}" content="${escapeHtml(value)}">`,
      );
    }
    const file = (name: string, body: Uint8Array<ArrayBuffer>) => siteFile(name, body, "application/octet-stream");
    const files = new Map([file("index.html", new TextEncoder().encode(html))]);
    for await (const entry of Deno.readDir(out)) {
      if (entry.isFile) files.set(...file(entry.name, await Deno.readFile(`${out}/${entry.name}`)));
    }
    return files;
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

let served: (() => Promise<Map<string, SiteFile>>) | undefined;

/**
 * `deno task start`'s answer below /console: the page and its assets, 404 for anything else.
 * `settings`: the server's own; its first call's are kept with the files.
 */
export function consoleResponse(pathname: string, settings: ConsoleSettings): Promise<Response> {
  return siteResponse("/console", pathname, served ??= onFirstUse(() => consoleFiles(settings)), {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
  });
}

/** Writes the console's files into `out` (created if missing); returns their names. */
export async function buildConsole(out: string, settings: ConsoleSettings = {}): Promise<string[]> {
  const files = await consoleFiles(settings);
  await writeSite(out, files);
  return [...files.keys()];
}

const usage = `usage: deno task console:build [--out <folder>] [--api-url <url>] [--supabase-url <url> --anon-key <key>]
  Writes the Integrations console (index.html, app.js, app.css, chunks) into <folder> (default console/dist).
  --api-url       where the functions are, e.g. https://<ref>.supabase.co/functions/v1
                  (default: the origin that serves the page + /functions/v1)
  --supabase-url  the project's URL and --anon-key its anon (publishable) key: email + password sign-in
                  through Supabase Auth (without them: access token sign-in only)`;

if (import.meta.main) {
  const fail = (message: string): never => {
    console.error(`${message}\n${usage}`);
    Deno.exit(2);
  };
  const flags = ["--out", "--api-url", "--supabase-url", "--anon-key"];
  const args = [...Deno.args];
  const options: Record<string, string> = {};
  while (args.length) {
    const [flag, value] = args.splice(0, 2);
    if (!flags.includes(flag) || value === undefined) fail(`unknown flag or missing value: ${flag}`);
    options[flag] = value;
  }
  for (const flag of ["--api-url", "--supabase-url"]) {
    if (options[flag] !== undefined && !/^https?:\/\/[^\s"<>]+$/.test(options[flag])) {
      fail(`${flag} must be an http(s) URL`);
    }
  }
  if ((options["--supabase-url"] === undefined) !== (options["--anon-key"] === undefined)) {
    fail("--supabase-url and --anon-key go together");
  }
  const out = options["--out"] ?? "console/dist";
  const files = await buildConsole(out, {
    apiUrl: options["--api-url"],
    supabaseUrl: options["--supabase-url"],
    supabaseAnonKey: options["--anon-key"],
  });
  console.log(JSON.stringify({ out, files }));
}

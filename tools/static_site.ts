// What the API reference (tools/docs.ts) and the Integrations console (tools/console.ts) share: a
// site of files held in memory, served by `deno task start` below its path and written by their
// build tasks for a static host.

export interface SiteFile {
  contentType: string;
  body: Uint8Array<ArrayBuffer>;
}

const contentTypes: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  png: "image/png",
  md: "text/markdown; charset=utf-8",
};

/** A file of the site at `path`, typed by its extension (else `otherType`). */
export function siteFile(path: string, body: Uint8Array<ArrayBuffer>, otherType: string): [string, SiteFile] {
  return [path, { contentType: contentTypes[path.split(".").pop() ?? ""] ?? otherType, body }];
}

/** Text made safe inside HTML, an attribute's value included. */
export const escapeHtml = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

/**
 * The answer below `base` (e.g. "/docs"): `base` itself redirects to `base/`, a file is answered
 * with `headers` (its own type added), anything else is 404. `files` is only read for a file.
 */
export async function siteResponse(
  base: string,
  pathname: string,
  files: () => Promise<Map<string, SiteFile>>,
  headers: Record<string, string>,
): Promise<Response> {
  if (pathname === base) return new Response(null, { status: 301, headers: { Location: `${base}/` } });
  const found = (await files()).get(pathname.slice(base.length + 1) || "index.html");
  if (!found) return new Response("Not found\n", { status: 404, headers: { "Content-Type": "text/plain" } });
  return new Response(found.body, { headers: { "Content-Type": found.contentType, ...headers } });
}

/** Writes the files into `out`, their folders created. */
export async function writeSite(out: string, files: Map<string, SiteFile>): Promise<void> {
  for (const [path, { body }] of files) {
    const target = `${out}/${path}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(target, body);
  }
}

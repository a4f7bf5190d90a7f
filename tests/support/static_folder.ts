// A folder served as any static host would serve it: the built docs page and console in Chromium.

/** A static file server for `root` (a path ending in / serves its index.html); unknown types are text/plain. */
export function serveFolder(root: string) {
  const types: Record<string, string> = {
    html: "text/html; charset=utf-8",
    js: "text/javascript",
    css: "text/css",
    json: "application/json",
    png: "image/png",
  };
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    const file = path.endsWith("/") ? `${path}index.html` : path;
    if (file.includes("..")) return new Response("no", { status: 400 });
    try {
      const body = await Deno.readFile(`${root}${file}`);
      return new Response(body, { headers: { "Content-Type": types[file.split(".").pop() ?? ""] ?? "text/plain" } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

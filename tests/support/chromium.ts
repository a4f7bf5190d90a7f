// Debian's Chromium through playwright-core, as the browser tests drive it: a fresh profile per
// run, nothing that phones home (updates, sync, background networking). CHROMIUM_PATH overrides
// where it is.
import { type BrowserContext, chromium } from "playwright-core";

const chromiumPath = Deno.env.get("CHROMIUM_PATH") || "/usr/bin/chromium";

export async function launchChromium(viewport: { width: number; height: number }): Promise<BrowserContext> {
  try {
    await Deno.stat(chromiumPath);
  } catch {
    throw new Error(`Chromium not found at ${chromiumPath}: apt-get install chromium (or set CHROMIUM_PATH)`);
  }
  return await chromium.launchPersistentContext(await Deno.makeTempDir({ prefix: "salesos-chromium-" }), {
    executablePath: chromiumPath,
    headless: true,
    viewport,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

// What the console's browser tests share: Debian's Chromium through playwright-core (a fresh
// profile, nothing that phones home), a page that records script errors and any request beyond
// 127.0.0.1, axe-core's check, and the screenshots docs/console.md shows.
import assert from "node:assert/strict";
import AxeBuilder from "@axe-core/playwright";
import type { BrowserContext, Page } from "playwright-core";
import { launchChromium } from "../support/chromium.ts";
import { runTask } from "../support/server.ts";

const screenshots = new URL("../../docs/console/", import.meta.url).pathname;

export const launch = (): Promise<BrowserContext> => launchChromium({ width: 1280, height: 860 });

export interface ConsolePage {
  page: Page;
  /** Script errors, failed loads, alert() calls and requests beyond 127.0.0.1. */
  problems: string[];
}

export async function openConsole(context: BrowserContext, url: string): Promise<ConsolePage> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && !/status of 4\d\d/.test(message.text())) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.on("dialog", (dialog) => {
    problems.push(`a script opened a ${dialog.type()}: ${dialog.message()}`);
    dialog.dismiss();
  });
  await page.route("**/*", (route) => {
    const target = new URL(route.request().url());
    if (target.hostname === "127.0.0.1") return route.continue();
    problems.push(`request beyond 127.0.0.1: ${target.href}`);
    return route.abort();
  });
  await page.goto(url, { waitUntil: "load" });
  await page.getByLabel("Access token", { exact: true }).waitFor();
  return { page, problems };
}

/** axe-core finds no serious or critical violation on what the page shows now. */
export async function assertAccessible(page: Page, screen: string) {
  const { violations } = await new AxeBuilder({ page }).analyze();
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  assert.deepEqual(serious, [], `${screen}: axe-core`);
}

/** A screenshot for docs/console.md. */
export async function screenshot(page: Page, name: string) {
  await Deno.mkdir(screenshots, { recursive: true });
  await page.screenshot({ path: `${screenshots}${name}.png` });
}

export interface DashboardUser {
  token: string;
  user_id: string;
  tenant_id: string;
}

/** A Dashboard token from `deno task token`, as an admin would make one locally. */
export async function tokenFor(
  env: Record<string, string>,
  tenant: string,
  options: { role?: string; email?: string } = {},
): Promise<DashboardUser> {
  const args = ["--tenant", tenant, "--role", options.role ?? "owner"];
  if (options.email) args.push("--email", options.email);
  const result = await runTask("token", args, env);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout.trim().split("\n").at(-1)!);
}

export async function signIn(page: Page, token: string, tenantId = "") {
  await page.getByLabel("Access token", { exact: true }).fill(token);
  if (tenantId) await page.getByLabel(/^Tenant ID/).fill(tenantId);
  await page.getByRole("button", { name: "Sign in" }).click();
}

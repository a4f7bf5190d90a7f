// Who sees what in the Integrations console, in headless Chromium against `deno task start`: an
// admin of one tenant never sees another's keys; a user of several tenants picks one; a member is
// told they lack the permission; a refused or expired token returns to sign-in with the reason; a
// key's name is shown as text, never run as HTML; a signed key's secret is shown once; and the
// keyboard alone creates and revokes a key.
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { developmentJwtSecret } from "../../tools/config.ts";
import { hs256, userClaims } from "../support/api_keys.ts";
import { freshDatabase } from "../support/database.ts";
import { createKey, testSigningEnv } from "../support/fixtures.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { assertAccessible, launch, openConsole, screenshot, signIn, tokenFor } from "./browser.ts";

/** Presses Tab until the focused element's name is `name`; fails after `max` presses. */
async function tabTo(page: Page, name: string, max = 60) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(
      `(() => { const e = document.activeElement; return e && (e.getAttribute("aria-label") || e.textContent || "").trim(); })()`,
    );
    if (focused === name) return;
  }
  throw new Error(`${name}: not reached with Tab`);
}

const focusedId = (page: Page) =>
  page.evaluate("document.activeElement && document.activeElement.id") as Promise<string>;

Deno.test("console: tenants, permissions, tokens, text and keyboard", async (t) => {
  await using test = await freshDatabase();
  const env = serverEnv(test.url, { LOG_REQUESTS: "false", ...testSigningEnv });
  await using server = await startServer(env);
  const acme = await tokenFor(env, "acme");
  const beta = await tokenFor(env, "beta");
  const acmeMember = await tokenFor(env, "acme", { role: "member" });
  const both = await tokenFor(env, "acme", { email: "both@example.com", role: "admin" });
  await tokenFor(env, "beta", { email: "both@example.com", role: "owner" });
  await createKey(test.db, acme.tenant_id, { name: "Acme CRM" });
  const betaKey = await createKey(test.db, beta.tenant_id, { name: "Beta warehouse" });
  const context = await launch();
  const api = (token: string, path = "") =>
    fetch(`${server.baseUrl}/functions/v1/api-keys${path}`, { headers: { Authorization: `Bearer ${token}` } })
      .then((r) => r.json());

  try {
    await t.step("an admin of tenant A never sees tenant B's keys", async () => {
      const { page, problems } = await openConsole(context, `${server.baseUrl}/console/`);
      await signIn(page, acme.token);
      await page.getByRole("row", { name: /Acme CRM/ }).waitFor();
      assert.doesNotMatch(await page.locator("main").textContent() ?? "", /Beta warehouse/);
      // Not by its address either (a change of the hash, still signed in): the API answers 404.
      await page.goto(`${server.baseUrl}/console/#/keys/${betaKey.id}`);
      await page.getByRole("alert").getByText("API key not found").waitFor();
      assert.doesNotMatch(await page.locator("main").textContent() ?? "", /Beta warehouse/);
      assert.deepEqual(problems, []);
      await page.close();
    });

    await t.step("a user of several tenants picks one with its tenant ID", async () => {
      const { page, problems } = await openConsole(context, `${server.baseUrl}/console/`);
      await signIn(page, both.token);
      await page.getByRole("alert").getByText("several tenants").waitFor();
      await assertAccessible(page, "tenant choice");
      await signIn(page, both.token, beta.tenant_id);
      await page.getByRole("row", { name: /Beta warehouse/ }).waitFor();
      assert.doesNotMatch(await page.locator("main").textContent() ?? "", /Acme CRM/);
      assert.match(await page.locator("header").textContent() ?? "", new RegExp(beta.tenant_id));
      assert.deepEqual(problems, []);
      await page.close();
    });

    await t.step("a member is told they lack the permission", async () => {
      const { page, problems } = await openConsole(context, `${server.baseUrl}/console/`);
      await signIn(page, acmeMember.token);
      const alert = page.getByRole("alert");
      await alert.getByText("You lack the permission to manage API keys").waitFor();
      assert.match(await alert.textContent() ?? "", /Missing capability admin\.integrations in this tenant/);
      assert.equal(await page.getByRole("heading", { name: "API keys" }).count(), 0);
      await assertAccessible(page, "member refused");
      await screenshot(page, "member_refused");
      assert.deepEqual(problems, []);
      await page.close();
    });

    await t.step(
      "a refused token, and one that expires while signed in, return to sign-in with the reason",
      async () => {
        const { page, problems } = await openConsole(context, `${server.baseUrl}/console/`);
        await signIn(page, "not-a-token");
        await page.getByRole("alert").getByText("Invalid or expired access token").waitFor();

        const expiresAt = Math.floor(Date.now() / 1000) + 20;
        const shortLived = await hs256(
          userClaims(acme.user_id, { email: "owner@acme.local", exp: expiresAt }),
          developmentJwtSecret,
        );
        await signIn(page, shortLived);
        await page.getByRole("row", { name: /Acme CRM/ }).waitFor();
        while (Date.now() < (expiresAt + 1) * 1000) await new Promise((resolve) => setTimeout(resolve, 250));
        await page.getByRole("link", { name: "Audit log" }).click();
        await page.getByRole("alert").getByText("You were signed out: Invalid or expired access token.").waitFor();
        await page.getByLabel("Access token", { exact: true }).waitFor();
        assert.deepEqual(problems, []);
        await page.close();
      },
    );

    await t.step("a key named <img src=x onerror=alert(1)> is shown as text; no script runs", async () => {
      const name = "<img src=x onerror=alert(1)>";
      const { page, problems } = await openConsole(context, `${server.baseUrl}/console/`);
      await signIn(page, acme.token);
      await page.getByRole("button", { name: "Create API key" }).click();
      await page.getByLabel("Name").fill(name);
      await page.getByRole("button", { name: "Create", exact: true }).click();
      await page.getByLabel("Your new API key").waitFor();
      await page.getByRole("button", { name: "Done" }).click();
      const link = page.getByRole("link", { name, exact: true });
      await link.waitFor();
      assert.equal(await link.textContent(), name);
      await link.click();
      await page.getByRole("heading", { name, exact: true }).waitFor();
      await page.getByRole("link", { name: "Audit log" }).click();
      await page.getByRole("table", { name: "Audit log" }).waitFor();
      assert.equal(await page.locator("img").count(), 0, "no <img> element was made");
      assert.deepEqual(problems, [], "no alert(), no script error");
      await page.close();
    });

    await t.step("a signed key's secret is shown once, beside the key", async () => {
      const { page, problems } = await openConsole(context, `${server.baseUrl}/console/`);
      await signIn(page, acme.token);
      await page.getByRole("button", { name: "Create API key" }).click();
      await page.getByLabel("Name").fill("Signed ERP");
      await page.getByLabel("Authentication").selectOption("signed");
      await page.getByRole("button", { name: "Create", exact: true }).click();
      const secret = page.getByLabel("Your signing secret");
      await secret.waitFor();
      assert.match(await secret.inputValue(), /^[0-9a-f]{64}$/);
      assert.match(await page.getByLabel("Your new API key").inputValue(), /^sk_live_[a-z0-9]{32}$/);
      await page.getByRole("button", { name: "Done" }).click();
      assert.match(await page.getByRole("row", { name: /Signed ERP/ }).textContent() ?? "", /signed \(P2S-SIGN-V1\)/);
      assert.deepEqual(problems, []);
      await page.close();
    });

    await t.step("edit a key (its field error beside the field), then delete one after confirmation", async () => {
      const { page, problems } = await openConsole(context, `${server.baseUrl}/console/`);
      await signIn(page, acme.token);
      await page.getByRole("button", { name: "Edit Acme CRM" }).click();
      const dialog = page.getByRole("dialog", { name: "Edit Acme CRM" });
      await dialog.getByLabel("Rate limit per hour").fill("0");
      await dialog.getByRole("button", { name: "Save" }).click();
      await dialog.locator("#key-rate-limit-error").getByText("rate_limit_per_hour must be an integer").waitFor();
      await dialog.getByLabel("Rate limit per hour").fill("5000");
      await dialog.getByRole("checkbox", { name: "leads:read" }).check();
      await dialog.getByRole("button", { name: "Save" }).click();
      await dialog.waitFor({ state: "detached" });
      const row = page.getByRole("row", { name: /Acme CRM/ });
      await row.getByText("default:sync, leads:read").waitFor();
      assert.match(await row.textContent() ?? "", /5000/);

      await page.getByRole("button", { name: "Delete Acme CRM" }).click();
      const confirm = page.getByRole("dialog", { name: "Delete Acme CRM?" });
      await confirm.getByRole("button", { name: "Cancel" }).click();
      await confirm.waitFor({ state: "detached" });
      assert.equal(await row.count(), 1, "Cancel deletes nothing");
      await page.getByRole("button", { name: "Delete Acme CRM" }).click();
      await confirm.getByRole("button", { name: "Delete key" }).click();
      await confirm.waitFor({ state: "detached" });
      await row.waitFor({ state: "detached" });
      const { data } = await api(acme.token);
      assert.ok(!data.some((key: { name: string }) => key.name === "Acme CRM"));
      assert.deepEqual(problems, []);
      await page.close();
    });

    await t.step("keys come 20 a page, by the API's cursor, in the chosen environment", async () => {
      const gamma = await tokenFor(env, "gamma");
      for (let i = 1; i <= 22; i++) {
        await createKey(test.db, gamma.tenant_id, {
          name: `Test key ${String(i).padStart(2, "0")}`,
          environment: "test",
        });
      }
      await createKey(test.db, gamma.tenant_id, { name: "The live one" });
      const { page, problems } = await openConsole(context, `${server.baseUrl}/console/`);
      await signIn(page, gamma.token);
      await page.getByRole("row", { name: /The live one/ }).waitFor();
      await page.getByText("Test", { exact: true }).click();
      const names = page.locator("table tbody th");
      await page.getByRole("row", { name: /Test key 22/ }).waitFor();
      assert.equal(await names.count(), 20);
      assert.equal(await names.first().textContent(), "Test key 22");
      await page.getByRole("button", { name: "Next page" }).click();
      await page.getByRole("row", { name: /Test key 01/ }).waitFor();
      assert.deepEqual(await names.allTextContents(), ["Test key 02", "Test key 01"]);
      assert.ok(await page.getByRole("button", { name: "Next page" }).isDisabled());
      await page.getByRole("button", { name: "Previous page" }).click();
      await page.getByRole("row", { name: /Test key 22/ }).waitFor();
      assert.equal(await names.count(), 20);
      assert.deepEqual(problems, []);
      await page.close();
    });

    await t.step("the keyboard alone signs in, creates a key and revokes it", async () => {
      const { page, problems } = await openConsole(context, `${server.baseUrl}/console/`);
      assert.equal(await focusedId(page), "access-token");
      await page.keyboard.type(acme.token);
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { name: "API keys" }).waitFor();
      await tabTo(page, "Create API key");
      await page.keyboard.press("Enter");
      await page.getByRole("dialog", { name: "Create API key" }).waitFor();
      assert.equal(await focusedId(page), "key-name");
      await page.keyboard.type("Keyboard key");
      await page.keyboard.press("Enter");
      await page.getByLabel("Your new API key").waitFor();
      assert.equal(await focusedId(page), "new-api-key");
      await page.keyboard.press("Escape");
      await page.getByRole("dialog").waitFor({ state: "detached" });
      await page.getByRole("row", { name: /Keyboard key/ }).waitFor();

      await tabTo(page, "Revoke Keyboard key");
      await page.keyboard.press("Enter");
      await page.getByRole("dialog", { name: "Revoke Keyboard key?" }).waitFor();
      await tabTo(page, "Revoke key", 3);
      await page.keyboard.press("Enter");
      await page.getByRole("dialog").waitFor({ state: "detached" });
      await page.getByRole("row", { name: /Keyboard key/ }).getByText("revoked").waitFor();
      const { data } = await api(acme.token, "?status=revoked");
      assert.deepEqual(data.map((key: { name: string }) => key.name), ["Keyboard key"]);
      assert.deepEqual(problems, []);
      await page.close();
    });
  } finally {
    await context.close();
  }
});

// The Integrations console end to end, in headless Chromium against `deno task start` on Postgres,
// as a person uses it: sign in with a token of `deno task token`, create a key and read it from
// "Your new API key", send three sync_activities requests with it, see them in the key's request log
// and chart, rotate it, revoke the old key, and see the next request with the old key refused. Every
// screen passes axe-core and is photographed for docs/console.md.
import assert from "node:assert/strict";
import { freshDatabase } from "../support/database.ts";
import { postJson } from "../support/properties.ts";
import { serverEnv, startServer } from "../support/server.ts";
import { assertAccessible, launch, openConsole, screenshot, signIn, tokenFor } from "./browser.ts";

const syncActivities = async (baseUrl: string, key: string) =>
  (await postJson(baseUrl, "default-integration", key, { action: "sync_activities", activities: [] })).status;

Deno.test("console: create, use, watch, rotate and revoke a key through the page", async (t) => {
  await using test = await freshDatabase();
  const env = serverEnv(test.url, { LOG_REQUESTS: "false" });
  await using server = await startServer(env);
  const owner = await tokenFor(env, "acme");
  const context = await launch();
  try {
    const { page, problems } = await openConsole(context, `${server.baseUrl}/console/`);
    let firstKey = "";
    let rotatedKey = "";

    await t.step("sign in with an access token", async () => {
      await assertAccessible(page, "sign in");
      await screenshot(page, "sign_in");
      await signIn(page, owner.token);
      await page.getByRole("heading", { name: "API keys" }).waitFor();
      await page.getByText("No live keys yet").waitFor();
      await assertAccessible(page, "keys, empty");
    });

    await t.step("the API's field errors appear beside their fields", async () => {
      await page.getByRole("button", { name: "Create API key" }).click();
      const dialog = page.getByRole("dialog", { name: "Create API key" });
      assert.equal(await dialog.getByLabel("Rate limit per hour").inputValue(), "1000");
      assert.ok(await dialog.getByRole("checkbox", { name: "default:sync" }).isChecked());
      assert.equal(await dialog.getByLabel("Environment").inputValue(), "live");
      await dialog.getByLabel("Name").fill("CRM sync");
      await dialog.getByLabel("IP allowlist").fill("203.0.113.7\nnot-an-address");
      await dialog.getByRole("button", { name: "Create", exact: true }).click();
      const allowlistError = dialog.locator("#key-ip-allowlist-error");
      await allowlistError.waitFor();
      assert.match(await allowlistError.textContent() ?? "", /not-an-address/);
      assert.equal(await dialog.getByLabel("IP allowlist").getAttribute("aria-invalid"), "true");
      await assertAccessible(page, "create dialog with errors");
      await screenshot(page, "create_errors");
      await dialog.getByLabel("IP allowlist").fill("");
    });

    await t.step("create a key and read it once from Your new API key", async () => {
      const dialog = page.getByRole("dialog");
      await dialog.getByRole("button", { name: "Create", exact: true }).click();
      const shown = dialog.getByLabel("Your new API key");
      await shown.waitFor();
      firstKey = await shown.inputValue();
      assert.match(firstKey, /^sk_live_[a-z0-9]{32}$/);
      assert.ok(await shown.getAttribute("readonly") !== null);
      await dialog.getByText("will not be shown again").waitFor();
      await dialog.getByRole("button", { name: "Copy" }).click();
      await assertAccessible(page, "new key shown once");
      await screenshot(page, "new_key");
      await dialog.getByRole("button", { name: "Done" }).click();
      await page.getByRole("dialog").waitFor({ state: "detached" });
      assert.ok(!(await page.content()).includes(firstKey), "closing the dialog forgets the key");
      const row = page.getByRole("row", { name: /CRM sync/ });
      await row.waitFor();
      assert.match(await row.textContent() ?? "", new RegExp(firstKey.slice(0, 16)));
      assert.match(await row.textContent() ?? "", /active/);
      assert.match(await row.textContent() ?? "", /default:sync/);
    });

    await t.step("three sync_activities requests show in the request log and the chart", async () => {
      for (let i = 0; i < 3; i++) assert.equal(await syncActivities(server.baseUrl, firstKey), 200);
      await page.getByRole("button", { name: "Create API key" }).focus();
      await page.reload();
      // A reload signs out (the token is kept in memory only): sign in again.
      await signIn(page, owner.token);
      await page.getByRole("link", { name: "CRM sync" }).click();
      await page.getByRole("heading", { name: "CRM sync" }).waitFor();
      const log = page.getByRole("table", { name: "Request log" });
      await log.waitFor();
      const rows = log.locator("tbody tr");
      assert.equal(await rows.count(), 3);
      for (const text of await rows.allTextContents()) assert.match(text, /200sync_activities/);
      const chart = page.getByRole("img", { name: "Requests per hour" });
      await chart.locator("canvas").waitFor();
      const summary = await page.locator("#usage-summary").textContent();
      assert.match(summary ?? "", /^3 requests .*: 3 2xx, 0 4xx \(0 of them 429\), 0 5xx\.$/);
      await page.getByText("Requests per hour as a table").click();
      const hourRows = await page.getByRole("table", { name: "Requests per hour" }).locator("tbody tr")
        .allTextContents();
      assert.equal(hourRows.length, 24);
      // Cells: total, 2xx, 4xx, 429, 5xx.
      assert.match(hourRows.at(-1)!, /UTC33000$/, "the current hour: 3 in all, 3 2xx");
      await assertAccessible(page, "key page");
      await screenshot(page, "key_page");
    });

    await t.step("rotate with a grace period, then revoke the old key", async () => {
      await page.getByRole("link", { name: "← API keys" }).click();
      const row = page.getByRole("row", { name: /CRM sync/ });
      await row.getByRole("button", { name: "Rotate CRM sync" }).click();
      const dialog = page.getByRole("dialog", { name: "Rotate CRM sync" });
      await dialog.getByLabel("Grace period").selectOption({ label: "1 hour" });
      await dialog.getByRole("button", { name: "Rotate key" }).click();
      const rotated = page.getByRole("dialog", { name: "API key rotated" });
      const shown = rotated.getByLabel("Your new API key");
      await shown.waitFor();
      rotatedKey = await shown.inputValue();
      assert.match(rotatedKey, /^sk_live_[a-z0-9]{32}$/);
      assert.notEqual(rotatedKey, firstKey);
      await rotated.getByRole("button", { name: "Done" }).click();
      // Both work during the grace period.
      assert.equal(await syncActivities(server.baseUrl, firstKey), 200);
      assert.equal(await syncActivities(server.baseUrl, rotatedKey), 200);

      const oldRow = page.getByRole("row", { name: /CRM sync/ }).filter({ hasText: firstKey.slice(0, 16) });
      await oldRow.getByRole("button", { name: "Revoke CRM sync" }).click();
      const confirm = page.getByRole("dialog", { name: "Revoke CRM sync?" });
      await assertAccessible(page, "revoke confirmation");
      await screenshot(page, "revoke");
      await confirm.getByRole("button", { name: "Revoke key" }).click();
      await confirm.waitFor({ state: "detached" });
      await oldRow.getByText("revoked").waitFor();
      const newRow = page.getByRole("row", { name: /CRM sync/ }).filter({ hasText: rotatedKey.slice(0, 16) });
      assert.match(await newRow.textContent() ?? "", /active/);
      await page.locator(".table-region").evaluate((region) => region.scrollLeft = 0);
      await assertAccessible(page, "keys");
      await screenshot(page, "keys");
    });

    await t.step("the next request with the revoked key is refused; the new key works", async () => {
      assert.equal(await syncActivities(server.baseUrl, firstKey), 401);
      assert.equal(await syncActivities(server.baseUrl, rotatedKey), 200);
    });

    await t.step("the audit log shows what was done", async () => {
      await page.getByRole("link", { name: "Audit log" }).click();
      const audit = page.getByRole("table", { name: "Audit log" });
      await audit.waitFor();
      const actions = await audit.locator("tbody tr td:nth-child(2)").allTextContents();
      // Newest first; a rotation's two entries (key.create of the new key, key.rotate of the old) share a time.
      assert.equal(actions[0], "key.revoke");
      assert.deepEqual(actions.toSorted(), ["key.create", "key.create", "key.revoke", "key.rotate"]);
      await assertAccessible(page, "audit log");
      await screenshot(page, "audit_log");
    });

    await t.step("on a phone-width screen nothing overflows the page", async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.getByRole("link", { name: "API keys" }).click();
      await page.getByRole("row", { name: /CRM sync/ }).first().waitFor();
      const overflow = await page.evaluate("document.documentElement.scrollWidth - innerWidth") as number;
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
      await assertAccessible(page, "keys on a phone");
      await screenshot(page, "keys_phone");
    });

    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

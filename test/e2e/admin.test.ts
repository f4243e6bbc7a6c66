// The admin panel in Chromium: an admin creates a user who logs in elsewhere, disables them (their
// next action is refused), makes and revokes a key for them, and reads usage per day from real
// requests in the chart and its table; a non-admin sees no link and an "admins only" page. Axe
// finds nothing on any tab, light or dark, and a phone-sized screen does not scroll sideways.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { AppClient, postJson } from "../integration/harness.js";
import { appUnderTest, assertAccessible, openPage } from "./e2e-harness.js";

const app = appUnderTest({ accounts: true });
const ADMIN = { name: "ada", password: "correct horse battery" };
const PHONE = { width: 375, height: 740 };

async function logIn(page: Page, name: string, password: string): Promise<void> {
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
}

/** Every tab of the panel passes axe. */
async function assertTabsAccessible(page: Page, screen: string): Promise<void> {
  for (const tab of ["Users", "API keys", "Usage over time"]) {
    await page.getByRole("tab", { name: tab }).click();
    await page.getByRole("tabpanel").waitFor();
    if (tab === "Usage over time") await page.locator(".usage-chart canvas").waitFor();
    await assertAccessible(page, `admin ${tab} (${screen})`);
  }
}

test("an admin manages users and keys and reads usage over time", async () => {
  const setup = await new AppClient(app.server.url).request("POST", "/api/setup", {
    token: app.server.auth.setupToken,
    ...ADMIN,
  });
  assert.equal(setup.status, 200, setup.text);

  const admin = await openPage(app.browser, `${app.server.url}/login`);
  const { page } = admin;
  await logIn(page, ADMIN.name, ADMIN.password);
  await page.getByRole("link", { name: "Admin" }).click();
  await page.getByRole("heading", { name: "Admin", exact: true }).waitFor();
  assert.equal(new URL(page.url()).pathname, "/settings/admin");
  assert.equal(
    await page.getByRole("link", { name: "Models and upstream pools" }).getAttribute("href"),
    "/settings/models",
  );

  // A new user, who logs in in a browser of their own.
  await page.getByLabel("Name", { exact: true }).fill("bea");
  await page.getByLabel("Password", { exact: true }).fill("bea's password");
  await page.getByRole("button", { name: "Create user" }).click();
  const beaRow = page.locator("tr[data-user=bea]");
  await beaRow.getByText("Active").waitFor();
  const bea = await openPage(app.browser, `${app.server.url}/login`);
  await logIn(bea.page, "bea", "bea's password");
  await bea.page.getByLabel("Message", { exact: true }).waitFor();
  // Not an admin: no link to the panel.
  assert.equal(await bea.page.getByRole("link", { name: "Admin" }).count(), 0);

  // A key for bea with limits, shown once; her requests through it land in the ledger.
  await page.getByRole("tab", { name: "API keys" }).click();
  await page.getByRole("combobox", { name: "User" }).selectOption({ label: "bea" });
  await page.getByLabel("Key name").fill("bea's laptop");
  await page.getByLabel("Requests per minute").fill("60");
  await page.getByLabel("Token quota").fill("100000");
  await page.getByRole("button", { name: "Create key" }).click();
  const plaintext = (await page.locator(".plaintext-key").textContent()) ?? "";
  assert.match(plaintext, /^sk-[0-9a-f]{64}$/);
  const keyRow = page.locator("tr", { hasText: "bea's laptop" });
  await keyRow.getByText("Requests per minute: 60").waitFor();
  const chat = () =>
    postJson(
      `${app.server.url}/v1/chat/completions`,
      { model: "deepseek-chat", messages: [{ role: "user", content: "hi" }] },
      { authorization: `Bearer ${plaintext}` },
    );
  for (let request = 0; request < 2; request++) assert.equal((await chat()).status, 200);
  // And one chat in the app.
  await bea.page.getByLabel("Message", { exact: true }).fill("hello");
  await bea.page.keyboard.press("Enter");
  await bea.page.locator(".message.assistant[data-status=complete]").waitFor();

  // Disabled: her next action is refused, her key stops working, and logging in says why.
  await page.getByRole("tab", { name: "Users" }).click();
  await beaRow.getByRole("button", { name: "Disable: bea" }).click();
  await beaRow.getByText("Disabled").waitFor();
  assert.equal(admin.dialogs.length, 1, "disabling asks first");
  await bea.page.getByLabel("Message", { exact: true }).fill("are you there?");
  await bea.page.keyboard.press("Enter");
  await bea.page.getByRole("alert").filter({ hasText: "Log in first" }).waitFor();
  const refused = await chat();
  assert.equal(refused.status, 401);
  assert.match(refused.json.error.message, /disabled/);
  await bea.page.goto(`${app.server.url}/login`);
  await logIn(bea.page, "bea", "bea's password");
  await bea.page.getByRole("alert").filter({ hasText: "This account is disabled" }).waitFor();
  await bea.context.close();

  // The key revoked from the panel (after a confirm).
  await page.getByRole("tab", { name: "API keys" }).click();
  await keyRow.getByRole("button", { name: "Revoke: bea's laptop (bea)" }).click();
  await keyRow.getByText("Revoked").waitFor();
  assert.equal(admin.dialogs.length, 2);
  await page.getByRole("tab", { name: "Users" }).click();
  await beaRow.getByRole("button", { name: "Enable: bea" }).click();
  await beaRow.getByText("Active").waitFor();
  assert.equal((await chat()).status, 401, "revoked stays revoked");

  // Usage per day: the chart draws, and its table has the ledger's numbers for today.
  const ledger = await app.server.store.db.selectFrom("usage").selectAll().execute();
  assert.equal(ledger.length, 3);
  const tokens = ledger.reduce(
    (sum, row) => sum + Number(row.prompt_tokens) + Number(row.completion_tokens),
    0,
  );
  await page.getByRole("tab", { name: "Usage over time" }).click();
  await page.locator(".usage-chart canvas").waitFor();
  const today = new Date().toISOString().slice(0, 10);
  const todayRow = page.locator(".admin-usage-table tbody tr", { hasText: today });
  assert.deepEqual(await todayRow.locator("td").allTextContents(), ["3", tokens.toLocaleString("en-US")]);
  await page.getByRole("combobox", { name: "Split by" }).selectOption("user");
  await page.locator(".admin-usage-table tbody tr", { hasText: "bea" }).waitFor();
  assert.deepEqual(
    await page.locator(".admin-usage-table tbody tr", { hasText: "bea" }).locator("td").allTextContents(),
    ["bea", "3", tokens.toLocaleString("en-US")],
  );
  await page.getByRole("combobox", { name: "Split by" }).selectOption("none");
  await assertTabsAccessible(page, "light");

  // Dark, by the theme switch: every tab still passes, and the chart is redrawn.
  await page.getByRole("button", { name: "Switch light / dark" }).click();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
  await assertTabsAccessible(page, "dark");

  assert.deepEqual(admin.errors, []);
  assert.deepEqual(admin.cspViolations, []);
  await admin.context.close();

  // A phone: the page does not scroll sideways (wide tables scroll in their own box).
  const phone = await openPage(app.browser, `${app.server.url}/login`, {
    viewport: PHONE,
    colorScheme: "dark",
  });
  await logIn(phone.page, ADMIN.name, ADMIN.password);
  await phone.page.getByLabel("Message", { exact: true }).waitFor();
  await phone.page.goto(`${app.server.url}/settings/admin`);
  await phone.page.getByRole("heading", { name: "Admin", exact: true }).waitFor();
  await assertTabsAccessible(phone.page, "phone, dark");
  const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls ${overflow}px sideways`);
  assert.deepEqual(phone.errors, []);
  await phone.context.close();
});

test("a non-admin sees no admin link, and the panel says it is for admins only", async () => {
  await app.server.store.users.create({ name: "cy", password: "cy's password" });
  for (const colorScheme of ["light", "dark"] as const) {
    const watched = await openPage(app.browser, `${app.server.url}/login`, { colorScheme });
    const { page } = watched;
    await logIn(page, "cy", "cy's password");
    await page.getByLabel("Message", { exact: true }).waitFor();
    assert.equal(await page.getByRole("link", { name: "Admin" }).count(), 0);
    await page.goto(`${app.server.url}/settings/admin`);
    await page.getByRole("heading", { name: "Admins only" }).waitFor();
    assert.equal(await page.getByRole("tab").count(), 0);
    await assertAccessible(page, `admins only (${colorScheme})`);
    assert.deepEqual(watched.errors, []);
    await watched.context.close();
  }
});

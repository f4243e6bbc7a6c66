// Accessibility: axe-core (injected through the DevTools protocol, so the strict CSP stays on)
// finds no violations on the main screens in light and dark and at phone width; and a 375 px
// phone has no horizontal scroll and reaches the sidebar.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { AppClient, startTestServer, type TestServer } from "../integration/harness.js";
import { launchBrowser, openPage, assertAccessible } from "./e2e-harness.js";
import { importConversations, richConversation } from "./sample-conversations.js";

const PHONE = { width: 375, height: 740 };

let local: TestServer;
let accounts: TestServer;
let browser: Browser;
let richChatPath: string;

before(async () => {
  [local, accounts, browser] = await Promise.all([
    startTestServer(),
    startTestServer({ accounts: true }),
    launchBrowser(),
  ]);
  const ids = await importConversations(new AppClient(local.url), [richConversation()]);
  richChatPath = `/c/${ids.get("Binary search in TypeScript")}`;
  const admin = new AppClient(accounts.url);
  const setup = await admin.request("POST", "/api/setup", {
    token: accounts.auth.setupToken,
    name: "ada",
    password: "correct horse battery",
  });
  assert.equal(setup.status, 200, setup.text);
});
after(async () => {
  await browser?.close();
  await Promise.all([local?.close(), accounts?.close()]);
});

/** The rich chat, with its math and code rendered. */
async function openRichChat(options: Parameters<typeof openPage>[2] = {}) {
  const watched = await openPage(browser, local.url + richChatPath, options);
  await watched.page.locator(".message.assistant .katex").first().waitFor();
  await watched.page.locator(".message.assistant pre code.hljs").waitFor();
  return watched;
}

for (const colorScheme of ["light", "dark"] as const) {
  test(`chat with a conversation, ${colorScheme}: no axe violations`, async () => {
    const watched = await openRichChat({ colorScheme });
    await assertAccessible(watched.page, `chat (${colorScheme})`);
    // The empty new-chat screen too.
    await watched.page.getByRole("button", { name: "New chat" }).click();
    await watched.page.getByRole("heading", { name: "How can I help you today?" }).waitFor();
    await assertAccessible(watched.page, `new chat (${colorScheme})`);
    assert.deepEqual(watched.errors, []);
    await watched.context.close();
  });
}

test("chat made dark by the theme switch on a light system: no axe violations", async () => {
  const watched = await openRichChat({ colorScheme: "light" });
  await watched.page.getByRole("button", { name: "Switch light / dark" }).click();
  assert.equal(await watched.page.evaluate(() => document.documentElement.dataset.theme), "dark");
  await assertAccessible(watched.page, "chat (dark by the switch)");
  await watched.context.close();
});

test("models page, light and dark: no axe violations", async () => {
  for (const colorScheme of ["light", "dark"] as const) {
    const watched = await openPage(browser, `${local.url}/settings/models`, { colorScheme });
    await watched.page.locator("tr[data-model-id]").first().waitFor();
    await assertAccessible(watched.page, `models (${colorScheme})`);
    await watched.context.close();
  }
});

test("login and API keys pages, light and dark: no axe violations", async () => {
  for (const colorScheme of ["light", "dark"] as const) {
    const watched = await openPage(browser, `${accounts.url}/login`, { colorScheme });
    const { page } = watched;
    await page.getByRole("heading", { name: "Log in to qiusuo" }).waitFor();
    await assertAccessible(page, `login (${colorScheme})`);
    // With the refusal message shown.
    await page.getByLabel("Name").fill("ada");
    await page.getByLabel("Password").fill("wrong password");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("alert").waitFor();
    await assertAccessible(page, `login with an error (${colorScheme})`);

    await page.getByLabel("Password").fill("correct horse battery");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByLabel("Key name").fill(`key-${colorScheme}`);
    await page.getByRole("button", { name: "Create key" }).click();
    await page.locator(".plaintext-key").waitFor();
    await page.locator("tr", { hasText: `key-${colorScheme}` }).waitFor();
    await assertAccessible(page, `keys (${colorScheme})`);
    await page.getByRole("link", { name: "Usage" }).click();
    await page.getByRole("heading", { name: "Usage" }).waitFor();
    await assertAccessible(page, `usage (${colorScheme})`);
    await watched.context.close();
  }
});

test("phone width (375 px): no axe violations, with the sidebar closed and open", async () => {
  const watched = await openRichChat({ viewport: PHONE });
  const { page } = watched;
  await assertAccessible(page, "phone chat");
  await page.getByRole("button", { name: "Menu" }).click();
  await page.locator(".sidebar .conversation a").first().waitFor();
  await assertAccessible(page, "phone chat, sidebar open");
  await watched.context.close();
});

test("phone width (375 px): no horizontal scroll; the sidebar opens, navigates and closes", async () => {
  const watched = await openRichChat({ viewport: PHONE });
  const { page } = watched;
  const overflow = () =>
    page.evaluate(() => {
      const wide = [...document.querySelectorAll<HTMLElement>("body *")].filter((element) => {
        // Code blocks and tables scroll inside their own box, the closed sidebar and the skip link
        // wait off screen on purpose; nothing else may stick out.
        if (element.closest("pre, table, .table-wrap, .math-block, .sidebar, .skip-link, .visually-hidden"))
          return false;
        const box = element.getBoundingClientRect();
        return box.width > 0 && (box.right > innerWidth + 1 || box.left < -1);
      });
      return {
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth,
        wide: wide.slice(0, 5).map((element) => element.className || element.tagName),
      };
    });
  const chat = await overflow();
  assert.ok(chat.scrollWidth <= chat.innerWidth, JSON.stringify(chat));
  assert.deepEqual(chat.wide, []);

  // The sidebar is off screen until the menu opens it.
  const sidebar = page.locator(".sidebar");
  assert.ok(((await sidebar.boundingBox())?.x ?? 0) < 0, "the sidebar starts hidden");
  const menu = page.getByRole("button", { name: "Menu" });
  assert.equal(await menu.getAttribute("aria-expanded"), "false");
  await menu.click();
  assert.equal(await menu.getAttribute("aria-expanded"), "true");
  await page.waitForFunction(() => document.querySelector(".sidebar")!.getBoundingClientRect().x >= 0);
  await page.getByRole("button", { name: "New chat" }).click();
  await page.getByRole("heading", { name: "How can I help you today?" }).waitFor();
  await page.waitForFunction(() => document.querySelector(".sidebar")!.getBoundingClientRect().right <= 0);

  // Back to the chat through the sidebar's list.
  await menu.click();
  await page.locator(".sidebar .conversation a", { hasText: "Binary search" }).click();
  await page.locator(".message.assistant .katex").first().waitFor();
  await page.waitForFunction(() => document.querySelector(".sidebar")!.getBoundingClientRect().right <= 0);

  // The settings pages fit too.
  for (const path of ["/settings/models"]) {
    await page.goto(local.url + path);
    await page.locator("tr[data-model-id]").first().waitFor();
    const settings = await overflow();
    assert.ok(settings.scrollWidth <= settings.innerWidth, `${path}: ${JSON.stringify(settings)}`);
    assert.deepEqual(settings.wide, [], path);
  }
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});

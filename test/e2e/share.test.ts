// Share links in the browser, in accounts mode: the owner makes a link from the chat's Share
// dialog and copies it; a fresh browser context with no session opens it and sees the chat
// rendered as the app renders it (Markdown, code, math), reasoning collapsed, without the sidebar
// or the composer, and not later messages; once revoked, the link shows the not-found page.
// axe finds nothing on the shared page, the not-found page or the dialog, light and dark.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { AppClient } from "../integration/harness.js";
import { appUnderTest, assertAccessible, openPage, type WatchedPage } from "./e2e-harness.js";
import { importConversations, richConversation } from "./sample-conversations.js";

const PASSWORD = "correct horse battery";
let chatPath = "";

// The rich chat and a question after it fit in the context.
const app = appUnderTest({ accounts: true, engine: { contextSize: 4096 } });

/** The admin, logged in through the API, with the rich chat imported. */
async function prepare(): Promise<void> {
  if (chatPath) return;
  const admin = new AppClient(app.server.url);
  const setup = await admin.request("POST", "/api/setup", {
    token: app.server.auth.setupToken,
    name: "ada",
    password: PASSWORD,
  });
  assert.equal(setup.status, 200, setup.text);
  const ids = await importConversations(admin, [richConversation()]);
  chatPath = `/c/${ids.get("Binary search in TypeScript")}`;
}

/** Logs in on the login page and opens the rich chat, with its math typeset. */
async function openChatLoggedIn(page: Page): Promise<void> {
  await page.getByLabel("Name").fill("ada");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByLabel("Message", { exact: true }).waitFor();
  await page.goto(app.server.url + chatPath);
  await page.locator(".message.assistant .katex").first().waitFor();
}

/** The page's errors, less the 404 a revoked link's page fetches on purpose. */
function unexpectedErrors(watched: WatchedPage): string[] {
  return watched.errors.filter((error) => !/^404 GET .*\/api\/shared\//.test(error));
}

test("a link made in the dialog opens without login, as a snapshot, until revoked", async () => {
  await prepare();
  const owner = await openPage(app.browser, app.server.url);
  const { page } = owner;
  await openChatLoggedIn(page);

  // The dialog: up to the last message by default, with the sharer's name if asked.
  await page.getByRole("button", { name: "Share" }).click();
  const dialog = page.getByRole("dialog", { name: "Share this chat" });
  await dialog.waitFor();
  const upTo = dialog.getByLabel("Share up to");
  assert.equal(await upTo.locator("option").count(), 2);
  assert.match((await upTo.locator("option:checked").textContent()) ?? "", /^2\. qiusuo: Binary search/);
  await dialog.getByText("No links yet.").waitFor();
  await assertAccessible(page, "share dialog");
  await dialog.getByLabel("Show my name").check();
  await dialog.getByRole("button", { name: "Create link" }).click();
  const linkBox = dialog.getByLabel("Link", { exact: true });
  await linkBox.waitFor();
  const url = await linkBox.inputValue();
  assert.match(url, new RegExp(`^${app.server.url}/s/[A-Za-z0-9_-]{32}$`));
  await dialog.getByRole("button", { name: "Copy" }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), url);
  await dialog.locator(".share-links li", { hasText: url }).waitFor();
  await dialog.getByRole("button", { name: "Close" }).click();

  // The chat goes on after the link was made: the link does not show it.
  await page.getByLabel("Message", { exact: true }).fill("A later question");
  await page.keyboard.press("Enter");
  await page.locator(".message.assistant[data-status=complete] >> nth=1").waitFor();

  for (const colorScheme of ["light", "dark"] as const) {
    const visitor = await openPage(app.browser, url, { colorScheme });
    const shared = visitor.page;
    await shared.getByRole("heading", { name: "Binary search in TypeScript" }).waitFor();
    await shared.locator(".message.assistant .math-block .katex-display").waitFor();
    await shared.locator(".message.assistant pre code.hljs .hljs-keyword").first().waitFor();
    assert.equal(new URL(shared.url()).pathname, new URL(url).pathname, "no redirect to login");
    assert.equal(await shared.locator(".message.assistant table").count(), 1);
    assert.match((await shared.locator(".share-intro .meta").textContent()) ?? "", /^Shared by ada · /);
    // Reasoning is there, collapsed; it opens on a click.
    const reasoning = shared.locator(".message.assistant details.reasoning");
    assert.equal(await reasoning.getAttribute("open"), null);
    assert.equal(await reasoning.locator("summary").textContent(), "Thought for 2 s");
    assert.equal(await shared.locator(".reasoning-text").isVisible(), false);
    // Only the conversation: no sidebar, composer, chat list or later message.
    assert.equal(await shared.locator(".message").count(), 2);
    assert.equal(await shared.locator(".sidebar, .composer-wrap, .conversation").count(), 0);
    assert.doesNotMatch(
      (await shared.locator("body").textContent()) ?? "",
      /A later question|The answer is 42/,
    );
    await assertAccessible(shared, `shared page (${colorScheme})`);
    await reasoning.locator("summary").click();
    await shared.locator(".reasoning-text", { hasText: "The range halves" }).waitFor();
    assert.deepEqual(visitor.errors, []);
    assert.deepEqual(visitor.cspViolations, []);
    await visitor.context.close();
  }

  // Revoked from the dialog: the link's page says so.
  await page.getByRole("button", { name: "Share" }).click();
  await dialog.locator(".share-links li", { hasText: url }).getByRole("button", { name: "Revoke" }).click();
  await dialog.getByText("No links yet.").waitFor();
  for (const colorScheme of ["light", "dark"] as const) {
    const visitor = await openPage(app.browser, url, { colorScheme });
    await visitor.page.getByRole("heading", { name: "This link does not exist or was revoked." }).waitFor();
    assert.equal(await visitor.page.locator(".message").count(), 0);
    await assertAccessible(visitor.page, `revoked link (${colorScheme})`);
    assert.deepEqual(unexpectedErrors(visitor), []);
    await visitor.context.close();
  }
  assert.deepEqual(owner.errors, []);
  assert.deepEqual(owner.cspViolations, []);
  await owner.context.close();
});

test("an earlier message can be chosen, and the shared page follows the language switch", async () => {
  await prepare();
  const owner = await openPage(app.browser, app.server.url, { colorScheme: "dark" });
  await openChatLoggedIn(owner.page);
  await owner.page.getByRole("button", { name: "Share" }).click();
  const dialog = owner.page.getByRole("dialog", { name: "Share this chat" });
  const upTo = dialog.getByLabel("Share up to");
  await upTo.selectOption({ index: 0 });
  await dialog.getByRole("button", { name: "Create link" }).click();
  const url = await dialog.getByLabel("Link", { exact: true }).inputValue();
  await dialog.locator(".share-links li").first().waitFor();
  await assertAccessible(owner.page, "share dialog with links (dark)");
  await owner.context.close();

  const visitor = await openPage(app.browser, url);
  const { page } = visitor;
  await page.locator(".message.user .bubble", { hasText: "How many steps" }).waitFor();
  assert.equal(await page.locator(".message").count(), 1);
  assert.match((await page.locator(".share-intro .meta").textContent()) ?? "", /^Shared · /);
  assert.doesNotMatch((await page.locator("body").textContent()) ?? "", /ada/);
  await page.getByLabel("Language").selectOption("zh-Hans");
  await page.locator(".share-intro .meta", { hasText: "分享于" }).waitFor();
  await assertAccessible(page, "shared page in Chinese");
  assert.deepEqual(visitor.errors, []);
  await visitor.context.close();

  // On a phone: no horizontal scroll, and still nothing for axe.
  const phone = await openPage(app.browser, url, { viewport: { width: 375, height: 740 } });
  await phone.page.locator(".message.user .bubble").waitFor();
  assert.equal(
    await phone.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
    true,
    "the shared page scrolls sideways on a phone",
  );
  await assertAccessible(phone.page, "shared page on a phone");
  await phone.context.close();
});

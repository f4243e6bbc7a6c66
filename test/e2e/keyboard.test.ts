// Stopping a reply for real, and the composer's keys. The server runs a scripted fixture whose
// reply is 1,500 tokens long (long-reply-model.ts): it takes seconds to write, so Esc lands while
// it streams and the partial reply can be checked in the UI, after a reload and on the server.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { AppClient } from "../integration/harness.js";
import { appUnderTest, openPage } from "./e2e-harness.js";
import { ensureLongReplyModel, LONG_REPLY_TEXT } from "./long-reply-model.js";

const app = appUnderTest({
  models: [{ file: ensureLongReplyModel() }],
  engine: { contextSize: 4096 },
});

/** Waits until the reply being streamed shows some of its words. */
async function waitForFirstWords(page: Page): Promise<void> {
  await page
    .locator(".message.assistant[data-status=streaming] .markdown", { hasText: "word0" })
    .waitFor({ timeout: 30_000 });
}

async function savedReply(conversationId: string) {
  const answer = await new AppClient(app.server.url).request("GET", `/api/conversations/${conversationId}`);
  const replies = (answer.json.messages as Array<{ role: string; content: string; status: string }>).filter(
    (message) => message.role === "assistant",
  );
  assert.equal(replies.length, 1);
  return replies[0]!;
}

test("Esc stops a reply mid-way: the partial reply is kept and marked interrupted, also after reload", async () => {
  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  await page.getByLabel("Message", { exact: true }).fill("Write a lot.");
  await page.keyboard.press("Enter");
  await waitForFirstWords(page);
  await page.keyboard.press("Escape");

  // The UI ends the reply at once, keeps what arrived and marks it.
  const reply = page.locator(".message.assistant[data-status=interrupted]");
  await reply.waitFor();
  await reply.getByText("Stopped", { exact: true }).waitFor();
  await page.getByRole("button", { name: "Send" }).waitFor();
  const shown = (await reply.locator(".markdown").textContent()) ?? "";
  assert.match(shown, /^word0 word1/);
  assert.doesNotMatch(shown, /word1499/);

  // The server stopped writing too: the saved reply is a strict prefix of the script and stays so.
  const conversationId = /\/c\/([^/]+)$/.exec(page.url())![1]!;
  const saved = await savedReply(conversationId);
  assert.equal(saved.status, "interrupted");
  assert.ok(saved.content.length > 0 && saved.content.length < LONG_REPLY_TEXT.length / 2, saved.content);
  assert.ok(LONG_REPLY_TEXT.startsWith(saved.content));
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal((await savedReply(conversationId)).content, saved.content);

  // After a reload the reply is still there, still marked.
  await page.reload();
  const reloaded = page.locator(".message.assistant[data-status=interrupted]");
  await reloaded.getByText("Stopped", { exact: true }).waitFor();
  assert.equal(
    ((await reloaded.locator(".markdown").textContent()) ?? "").replace(/\s+/g, " ").trim(),
    saved.content.replace(/\s+/g, " ").trim(),
  );
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});

test("keyboard: the skip link reaches the composer, Shift+Enter breaks the line, Enter sends, Esc stops", async () => {
  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  await page.getByLabel("Message", { exact: true }).waitFor();
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Skip to message box");
  assert.equal(
    await page.evaluate(() => getComputedStyle(document.activeElement!).left),
    "8px",
    "the focused skip link is on screen",
  );
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "composer-input");

  await page.keyboard.type("first line");
  await page.keyboard.press("Shift+Enter");
  await page.keyboard.type("second line");
  const input = page.getByLabel("Message", { exact: true });
  assert.equal(await input.inputValue(), "first line\nsecond line");
  assert.equal(await page.locator(".message").count(), 0, "Shift+Enter does not send");

  await page.keyboard.press("Enter");
  await page.locator(".message.user .bubble", { hasText: "first line" }).waitFor();
  assert.equal(await page.locator(".message.user .bubble").textContent(), "first line\nsecond line");
  assert.equal(await input.inputValue(), "");
  await waitForFirstWords(page);
  // Esc works wherever the focus is.
  await page.locator(".brand").click();
  await page.keyboard.press("Escape");
  await page.locator(".message.assistant[data-status=interrupted]").waitFor();
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});

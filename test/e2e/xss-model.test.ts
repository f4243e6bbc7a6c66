// The XSS corpus written by the real engine: a scripted fixture model whose reasoning and reply
// are the payloads of xss-corpus.ts, served by the real server and rendered by the real app in
// Chromium. Nothing may run when the reply streams in, when the conversation is reloaded from the
// server, when OpenCC rewrites it to Traditional Chinese, nor in search snippets.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { AppClient, startTestServer, type TestServer } from "../integration/harness.js";
import { dangerousNodes, launchBrowser, openPage, type WatchedPage } from "./e2e-harness.js";
import { ensureScriptedFixture } from "./long-reply-model.js";
import { XSS_MODEL_REPLY, XSS_REASONING, xssModelScript } from "./xss-corpus.js";

let server: TestServer;
let browser: Browser;

before(async () => {
  server = await startTestServer({
    models: [{ file: ensureScriptedFixture("scripted-xss.gguf", xssModelScript(), "qiusuo-fixture-xss") }],
    engine: { contextSize: 4096 },
  });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** Checks that nothing ran: as rendered, then once typeset and after clicking whatever can be clicked. */
async function assertNothingRan(watched: WatchedPage, when: string): Promise<void> {
  const { page } = watched;
  const reply = page.locator(".message.assistant[data-status=complete]");
  await reply.waitFor({ timeout: 30_000 });
  const check = async (stage: string) => {
    assert.deepEqual(watched.xss, [], `a payload ran (${stage})`);
    assert.deepEqual(watched.dialogs, [], `a dialog opened (${stage})`);
    assert.deepEqual(await dangerousNodes(page), [], `the thread holds something dangerous (${stage})`);
    assert.deepEqual(watched.cspViolations, [], `CSP had to block something (${stage})`);
    assert.deepEqual(watched.errors, [], stage);
  };
  await check(when);
  // KaTeX loads lazily; the corpus's math payloads only matter once typeset.
  await reply.locator(".katex").first().waitFor({ timeout: 10_000 });
  // Links open popups, which the harness closes.
  for (const clickable of await page.locator(".message a, .message button.copy-code").all())
    await clickable.click({ force: true });
  await page.waitForTimeout(300);
  await check(`${when}, typeset and clicked`);
}

/** dangerousNodes() in the search results, less the hits' own links to the conversation. */
async function dangerousSearchResults(page: Page, conversationId: string): Promise<string[]> {
  const ownLink = `a[href=/c/${conversationId}]`;
  return (await dangerousNodes(page, ".search-results")).filter((found) => found !== ownLink);
}

/** The visible text of the reply and its reasoning, whitespace as written. */
async function shownText(page: Page): Promise<{ reply: string; reasoning: string }> {
  const message = page.locator(".message.assistant[data-status=complete]");
  return {
    reply: (await message.locator(".markdown").textContent()) ?? "",
    reasoning: (await message.locator(".reasoning-text").textContent()) ?? "",
  };
}

test("XSS payloads written by the model never run: live, reloaded, in Traditional Chinese, in search", async () => {
  const watched = await openPage(browser, server.url);
  const { page } = watched;
  await page.getByRole("button", { name: "DeepThink" }).click();
  await page.getByLabel("Message", { exact: true }).fill(`Show me <img src=x onerror="xssFired('user')">`);
  await page.keyboard.press("Enter");
  await assertNothingRan(watched, "streamed");

  // The engine really wrote the corpus: the server saved it as the reply and its reasoning.
  const conversationId = /\/c\/([^/]+)$/.exec(page.url())![1]!;
  const saved = await new AppClient(server.url).request("GET", `/api/conversations/${conversationId}`);
  const messages = saved.json.messages as Array<{ role: string; content: string; reasoning: string | null }>;
  const assistant = messages.find((message) => message.role === "assistant")!;
  assert.equal(assistant.content, XSS_MODEL_REPLY);
  assert.equal(assistant.reasoning, XSS_REASONING);

  // Payloads are shown as text: the reasoning verbatim, raw HTML in the reply as written.
  const streamed = await shownText(page);
  assert.equal(streamed.reasoning, XSS_REASONING);
  assert.ok(streamed.reply.includes(`<script>xssFired("script")</script>`), streamed.reply);
  assert.ok(streamed.reply.includes(`<img src=x onerror="xssFired('img-onerror')">`), streamed.reply);
  assert.ok(streamed.reply.includes("简体说明"), streamed.reply);
  assert.match((await page.locator(".message.user .bubble").textContent()) ?? "", /onerror="xssFired/);

  // Reloaded: the conversation now comes from the server and renders in one pass.
  await page.reload();
  await assertNothingRan(watched, "reloaded");
  assert.deepEqual(await shownText(page), streamed);

  // Search snippets hold payload text; they are shown as text.
  await page.locator("input.search").fill("onerror");
  const hit = page.locator(".search-results a").first();
  await hit.waitFor();
  assert.match((await page.locator(".search-results").textContent()) ?? "", /onerror/);
  assert.deepEqual(await dangerousSearchResults(page, conversationId), []);

  // 简 -> 正: OpenCC rewrites the text nodes of the reply, its reasoning and the snippets.
  await page.locator("button.script-switch").click();
  await page.locator(".message.assistant .markdown", { hasText: "簡體說明" }).waitFor();
  await page.locator(".message.assistant .reasoning-text", { hasText: "推理中的說明" }).waitFor();
  await assertNothingRan(watched, "in Traditional Chinese");
  const converted = await shownText(page);
  assert.ok(converted.reply.includes(`<img src=x onerror="xssFired('zh-img')">`), converted.reply);
  await page.locator("input.search").fill("说明");
  await page.locator(".search-results .snippet", { hasText: "說明" }).first().waitFor();
  assert.match((await page.locator(".search-results").textContent()) ?? "", /onerror="xssFired\('zh-img'\)"/);
  assert.deepEqual(await dangerousSearchResults(page, conversationId), []);
  // Opening the chat from a search hit renders it again.
  await page.locator(".search-results a").first().click();
  await assertNothingRan(watched, "opened from search");
  await watched.context.close();
});

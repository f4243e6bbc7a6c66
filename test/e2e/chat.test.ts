// The chat app against the real server and the scripted fixture model (whose reply is always
// "<think> let me think</think>The answer is 42"): send, stream, thinking, stop, regenerate and
// branches, edit, search, attach, language.
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { appUnderTest, openPage } from "./e2e-harness.js";

const app = appUnderTest();

test("send, stream with DeepThink, regenerate, switch branches, edit, search", async () => {
  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  const input = page.getByLabel("Message", { exact: true });
  await page.getByRole("button", { name: "DeepThink" }).click();
  await input.fill("What is six times seven?");
  await input.press("Enter");
  const reply = page.locator(".message.assistant[data-status=complete]").last();
  await reply.waitFor();
  assert.match((await reply.locator(".markdown").textContent()) ?? "", /The answer is 42/);
  assert.match((await reply.locator(".reasoning").textContent()) ?? "", /let me think/);
  assert.match(page.url(), /\/c\/[^/]+$/);
  // Usage and cache hits are shown per reply.
  assert.match((await reply.locator(".usage").textContent()) ?? "", /prompt tokens/);

  await reply.getByRole("button", { name: "Regenerate" }).click();
  await page.locator(".message.assistant[data-status=complete] .branch-position").waitFor();
  assert.equal(
    (await page.locator(".message.assistant .branch-position").textContent())?.replace(/\s/g, ""),
    "2/2",
  );
  await page.getByRole("button", { name: "Previous version" }).click();
  assert.equal(
    (await page.locator(".message.assistant .branch-position").textContent())?.replace(/\s/g, ""),
    "1/2",
  );

  await page.locator(".message.user").getByRole("button", { name: "Edit" }).click();
  await page.locator(".edit-box textarea").fill("And eight times nine?");
  await page.locator(".edit-box textarea").press("Enter");
  await page.locator(".message.user .branch-position").waitFor();
  assert.equal((await page.locator(".message.user .bubble").textContent()) ?? "", "And eight times nine?");
  await page.locator(".message.assistant[data-status=complete]").waitFor();

  // The chat was titled from its first message and can be found by search.
  await page.locator(".conversation a", { hasText: "What is six times seven?" }).waitFor();
  await page.getByLabel("Search chats").fill("eight");
  await page.locator(".search-results a").first().waitFor();
  assert.deepEqual(watched.errors, []);
  assert.deepEqual(watched.cspViolations, []);
  await watched.context.close();
});

// The scripted model answers in a few milliseconds, so this checks that Esc and the stop button
// end the request and leave the app usable; keyboard.test.ts stops a long reply mid-way.
test("Esc stops a reply and the app stays usable", async () => {
  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  await page.getByLabel("Message", { exact: true }).fill("hello");
  await page.keyboard.press("Enter");
  await page.keyboard.press("Escape");
  await page.getByRole("button", { name: "Send" }).waitFor();
  await page.getByLabel("Message", { exact: true }).fill("again");
  await page.keyboard.press("Enter");
  await page.locator(".message.assistant[data-status=complete]").last().waitFor();
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});

test("attach a file; switch language and script", async () => {
  const watched = await openPage(app.browser, app.server.url, { locale: "zh-CN" });
  const { page } = watched;
  // The browser's language picks the UI language.
  await page.getByRole("button", { name: "深度思考" }).waitFor();
  const file = join(mkdtempSync(join(tmpdir(), "qiusuo-e2e-")), "notes.md");
  writeFileSync(file, "# 笔记\n发送这个文件");
  await page.locator("input[type=file]").setInputFiles(file);
  await page.locator(".composer .file-chip", { hasText: "notes.md" }).waitFor();
  await page.getByLabel("消息", { exact: true }).fill("总结这个文件");
  await page.keyboard.press("Enter");
  await page.locator(".message.user .file-chip", { hasText: "notes.md" }).waitFor();
  await page.locator(".message.assistant[data-status=complete]").waitFor();
  // 简 -> 正: the UI switches to Traditional, and displayed Chinese is converted by OpenCC.
  await page.getByRole("button", { name: "在简体和繁体中文之间切换" }).click();
  await page.getByRole("button", { name: "深度思考" }).waitFor();
  await page.locator(".message.user .bubble", { hasText: "總結這個" }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), "zh-Hant");
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});

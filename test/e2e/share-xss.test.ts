// The XSS corpus on shared pages, in real Chromium: a conversation the real engine wrote (the
// scripted fixture model whose reasoning and reply are the payloads of xss-corpus.ts) and one
// imported with payloads in its title, messages and attachments (file names, image URLs and
// names), each shared and opened at /s/<token> by a visitor without a session. Nothing may run,
// no dangerous markup may survive, in English and once OpenCC rewrites it to Traditional Chinese.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AppClient } from "../integration/harness.js";
import { appUnderTest, dangerousNodes, openPage, type WatchedPage } from "./e2e-harness.js";
import { ensureScriptedFixture } from "./long-reply-model.js";
import {
  XSS_CHINESE_PAYLOADS,
  XSS_MODEL_REPLY,
  XSS_PAYLOADS,
  XSS_REASONING,
  xssModelScript,
} from "./xss-corpus.js";

let client: AppClient;
const app = appUnderTest(
  {
    models: [{ file: ensureScriptedFixture("scripted-xss.gguf", xssModelScript(), "qiusuo-fixture-xss") }],
    engine: { contextSize: 4096 },
  },
  ({ server }) => (client = new AppClient(server.url)),
);

/** A link to the conversation, made through the API as the dialog makes it. */
async function share(conversationId: string): Promise<string> {
  const made = await client.request("POST", `/api/conversations/${conversationId}/shares`, {});
  assert.equal(made.status, 201, made.text);
  return `${app.server.url}${made.json.path}`;
}

/** Checks that nothing ran: as rendered, then typeset, then with everything clickable clicked. */
async function assertNothingRan(watched: WatchedPage, when: string): Promise<void> {
  const { page } = watched;
  const check = async (stage: string) => {
    assert.deepEqual(watched.xss, [], `a payload ran (${stage})`);
    assert.deepEqual(watched.dialogs, [], `a dialog opened (${stage})`);
    assert.deepEqual(
      await dangerousNodes(page, ".thread"),
      [],
      `the page holds something dangerous (${stage})`,
    );
    assert.deepEqual(watched.cspViolations, [], `CSP had to block something (${stage})`);
    assert.deepEqual(watched.errors, [], stage);
  };
  await page.locator(".message.assistant .markdown").first().waitFor();
  await check(when);
  await page.locator(".message.assistant .katex").first().waitFor({ timeout: 10_000 });
  for (const clickable of await page.locator(".message a, .message button.copy-code, .message summary").all())
    await clickable.click({ force: true });
  await page.waitForTimeout(300);
  await check(`${when}, typeset and clicked`);
}

test("a shared reply the engine wrote from the XSS corpus never runs, in English or Traditional Chinese", async () => {
  const conversation = await client.request("POST", "/api/conversations", {});
  const sent = await client.send(conversation.json.id, {
    parentId: null,
    content: `Show me <img src=x onerror="xssFired('user')">`,
    thinking: true,
  });
  const done = sent.events.find((event) => event.event === "done");
  assert.equal(done?.data.content, XSS_MODEL_REPLY, "the engine wrote the corpus");
  assert.equal(done?.data.reasoning, XSS_REASONING);
  const url = await share(conversation.json.id);

  const visitor = await openPage(app.browser, url);
  await assertNothingRan(visitor, "shared");
  const reply = (await visitor.page.locator(".message.assistant .markdown").textContent()) ?? "";
  assert.ok(reply.includes(`<script>xssFired("script")</script>`), reply);
  assert.equal(await visitor.page.locator(".reasoning-text").textContent(), XSS_REASONING);
  assert.match(
    (await visitor.page.locator(".message.user .bubble").textContent()) ?? "",
    /onerror="xssFired/,
  );
  // Safe Markdown still renders: the table and the code block.
  assert.equal(await visitor.page.locator(".message.assistant table").count(), 1);
  assert.equal(await visitor.page.locator(".message.assistant .code-block").count(), 1);
  await visitor.context.close();

  // zh-TW: OpenCC rewrites the text nodes of the reply and its reasoning.
  const traditional = await openPage(app.browser, url, { locale: "zh-TW" });
  await traditional.page.locator(".message.assistant .markdown", { hasText: "簡體說明" }).waitFor();
  await assertNothingRan(traditional, "in Traditional Chinese");
  await traditional.page.locator(".reasoning-text", { hasText: "推理中的說明" }).waitFor();
  const converted = (await traditional.page.locator(".message.assistant .markdown").textContent()) ?? "";
  assert.ok(converted.includes(`<img src=x onerror="xssFired('zh-img')">`), converted);
  await traditional.context.close();
});

test("payloads in an imported chat's title, messages, file names and images never run when shared", async () => {
  const svg = "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9Inhzc0ZpcmVkKCdzdmctaW1hZ2UnKSIvPg==";
  const now = Date.now();
  const imported = await client.request("POST", "/api/import", {
    format: "qiusuo",
    version: 1,
    exportedAt: now,
    conversations: [
      {
        title: `<img src=x onerror="xssFired('title')">`,
        settings: {},
        createdAt: now - 2000,
        updatedAt: now - 1000,
        currentLeafId: "x-2",
        messages: [
          {
            id: "x-1",
            parentId: null,
            role: "user",
            content: [...XSS_PAYLOADS, ...XSS_CHINESE_PAYLOADS].join("\n"),
            settings: {
              files: [{ name: `<img src=x onerror="xssFired('file-name')">`, text: "file text" }],
              images: [
                { url: "javascript:xssFired('image-url')", name: "script" },
                { url: svg, name: "svg" },
                { url: "https://example.com/tracker.png", name: "remote" },
              ],
            },
            createdAt: now - 2000,
          },
          {
            id: "x-2",
            parentId: "x-1",
            role: "assistant",
            content: XSS_MODEL_REPLY,
            reasoning: XSS_REASONING,
            usage: { reasoningMs: 1500 },
            createdAt: now - 1000,
          },
        ],
      },
    ],
  });
  assert.equal(imported.status, 200, imported.text);
  const list = await client.request("GET", "/api/conversations?limit=100");
  const id = (list.json.data as Array<{ id: string; title: string }>).find((item) =>
    item.title.includes("xssFired('title')"),
  )!.id;
  const url = await share(id);

  const visitor = await openPage(app.browser, url);
  const { page } = visitor;
  await assertNothingRan(visitor, "shared import");
  assert.equal(
    await page.locator(".share-intro h1").textContent(),
    `<img src=x onerror="xssFired('title')">`,
  );
  assert.match(await page.title(), /xssFired\('title'\)/);
  assert.equal(await page.locator(".file-chip").textContent(), `<img src=x onerror="xssFired('file-name')">`);
  // None of the images is a safe inline image: none is shown, none is fetched.
  assert.equal(await page.locator(".message img").count(), 0);
  assert.match((await page.locator(".message.user .bubble").textContent()) ?? "", /<script>xssFired/);
  await visitor.context.close();
});

// The renderer against the XSS corpus, in real Chromium, with the app served by the real server
// and the reply scripted at the API boundary. xss-model.test.ts has the real engine write the
// corpus through a scripted fixture model.
import assert from "node:assert/strict";
import { test } from "node:test";
import { appUnderTest, dangerousNodes, openPage } from "./e2e-harness.js";
import { scriptApi } from "./scripted-api.js";
import { XSS_PAYLOADS, XSS_REPLY } from "./xss-corpus.js";

const app = appUnderTest();

test("the XSS corpus, streamed as a reply and typed as a message, never runs", async () => {
  const reply = { reasoning: `<img src=x onerror="xssFired('reasoning')">`, content: XSS_REPLY, chunk: 7 };
  const watched = await openPage(app.browser, app.server.url, { setup: (page) => scriptApi(page, reply) });
  const { page } = watched;
  await page.getByLabel("Message", { exact: true }).fill(XSS_PAYLOADS.slice(0, 6).join("\n"));
  await page.keyboard.press("Enter");
  await page.locator(".message.assistant[data-status=complete]").waitFor();
  // KaTeX and highlight.js load lazily; give them time to typeset.
  await page.locator(".message.assistant .katex").first().waitFor({ timeout: 10_000 });
  // Click everything clickable in the reply (links open popups, which the harness closes).
  for (const link of await page.locator(".message a, .message button.copy-code").all())
    await link.click({ force: true });
  await page.waitForTimeout(300);

  assert.deepEqual(watched.xss, [], "a payload ran");
  assert.deepEqual(watched.dialogs, []);
  assert.deepEqual(await dangerousNodes(page), []);
  assert.deepEqual(watched.cspViolations, [], "the sanitizer let something through that CSP then blocked");
  assert.deepEqual(watched.errors, []);
  // The user's text is shown as text.
  assert.match((await page.locator(".message.user .bubble").textContent()) ?? "", /<script>xssFired/);
  // Safe Markdown still renders: the table, the code block and the math.
  assert.equal(await page.locator(".message.assistant table").count(), 1);
  assert.equal(await page.locator(".message.assistant .code-block").count(), 1);
  await watched.context.close();
});

test("Markdown, code with a copy button, math and tables render; links are safe", async () => {
  const content = [
    "# Title",
    "Inline $a^2+b^2=c^2$ and \\(x\\) math.",
    "$$\\int_0^1 x\\,dx = \\frac12$$",
    "```python\ndef f(x):\n    return 42\n```",
    "| left | right |\n|:--|--:|\n| 1 | 2 |",
    "[site](https://example.com) and ![pic](https://example.com/a.png)",
  ].join("\n\n");
  const watched = await openPage(app.browser, app.server.url, {
    setup: (page) => scriptApi(page, { content, chunk: 5 }),
  });
  const { page } = watched;
  await page.getByLabel("Message", { exact: true }).fill("show me");
  await page.keyboard.press("Enter");
  const reply = page.locator(".message.assistant[data-status=complete]");
  await reply.waitFor();
  await reply.locator(".math-block .katex-display").waitFor();
  await reply.locator("code.hljs .hljs-keyword").first().waitFor();
  assert.equal(await reply.locator("h1").textContent(), "Title");
  assert.equal(await reply.locator(".math-inline .katex").count(), 2);
  assert.equal(await reply.locator("td.align-right").count(), 1);
  const link = reply.locator("a", { hasText: "site" });
  assert.equal(await link.getAttribute("rel"), "noopener noreferrer");
  assert.equal(await link.getAttribute("target"), "_blank");
  // The remote image became a link: nothing is fetched from elsewhere.
  assert.equal(await reply.locator("img").count(), 0);
  assert.equal(
    await reply.locator("a", { hasText: "pic" }).getAttribute("href"),
    "https://example.com/a.png",
  );
  await reply.locator("button.copy-code").click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "def f(x):\n    return 42");
  assert.deepEqual(watched.cspViolations, []);
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});

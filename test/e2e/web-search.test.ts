// 联网搜索 in Chromium against the real server: switch Search on, ask, and see the search as a
// tool block, the answer's [citation:1] as a link to the article, and the sources under it; after
// a reload all of it is still there. Axe finds nothing, light and dark.
//
// The server runs in this process (appUnderTest), so its engine can be the router wrapped: a
// scripted model says the same thing whatever it is asked, so the call that ends in a tool result
// goes to a second scripted model ("answer"), as the integration tests do.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { Engine } from "../../src/core/engine.js";
import type { McpHub } from "../../src/tools/mcp/mcp-hub.js";
import type { Tool } from "../../src/tools/tool.js";
import { SearxngProvider } from "../../src/tools/web/searxng-provider.js";
import type { WebSearchSetup } from "../../src/tools/web/web-tools.js";
import { makeScriptedModel } from "../fixtures/models.js";
import { startWebStandIn, type WebStandIn } from "../support/web-stand-in.js";
import { appUnderTest, assertAccessible, openPage, type WatchedPage } from "./e2e-harness.js";

const dir = mkdtempSync(join(tmpdir(), "qiusuo-e2e-search-"));
makeScriptedModel(join(dir, "searcher.gguf"), {
  script: ["<tool_call>", '\n{"name": "web_search", "arguments": {"query": "Chang\'e 6"}}', "\n</tool_call>"],
});
makeScriptedModel(join(dir, "asker.gguf"), {
  script: ["<tool_call>", '\n{"name": "delete_everything", "arguments": {"what": "all"}}', "\n</tool_call>"],
});
makeScriptedModel(join(dir, "answer.gguf"), {
  script: ["The probe brought back far-side samples", " [citation:1]."],
});

const setup: WebSearchSetup = { allowPrivate: ["127.0.0.1/32"], budgetChars: 1_500 };
const engine: Engine = {
  listModels: () => app.server.router.listModels(),
  modelDetails: () => app.server.router.modelDetails!(),
  chat: (request, signal) =>
    app.server.router.chat(
      request.messages.at(-1)?.role === "tool" ? { ...request, model: "answer" } : request,
      signal,
    ),
  provenance: (model, options) => app.server.router.provenance!(model, options),
  dispose: async () => {},
};
/** An "ask me first" tool, offered as an MCP server's would be. */
const runs: unknown[] = [];
const dangerous: Tool = {
  definition: {
    name: "delete_everything",
    description: "Deletes things",
    parameters: { type: "object", properties: { what: { type: "string" } } },
    strict: false,
  },
  askFirst: true,
  run: async (args) => {
    runs.push(args);
    return { content: "Deleted.", isError: false };
  },
};
const mcp = { toolsFor: async () => [dangerous] } as Pick<McpHub, "toolsFor"> as McpHub;
const app = appUnderTest({
  models: ["searcher", "asker", "answer"].map((name) => ({ file: join(dir, `${name}.gguf`) })),
  engine: { contextSize: 8192 },
  app: { engine, webSearch: setup, mcp },
});
let web: WebStandIn | undefined;
after(() => web?.close());

async function bothThemes(watched: WatchedPage, screen: string): Promise<void> {
  for (const scheme of ["light", "dark"] as const) {
    await watched.page.emulateMedia({ colorScheme: scheme });
    await assertAccessible(watched.page, `${screen} (${scheme})`);
  }
  await watched.page.emulateMedia({ colorScheme: "light" });
}

/** The reply as the thread shows it: tool block, citation link, sources. */
async function assertSearchedReply(watched: WatchedPage, base: string): Promise<void> {
  const { page } = watched;
  const reply = page.locator('.message.assistant[data-status="complete"]');
  await reply.waitFor({ timeout: 60_000 });
  const block = reply.locator(".tool-call");
  assert.equal(await block.count(), 1);
  assert.equal((await block.locator("summary").textContent())?.trim(), "Searched the web: Chang'e 6");
  await block.locator("summary").click();
  assert.match((await block.locator("pre").first().textContent()) ?? "", /"query": "Chang'e 6"/);
  assert.match((await block.locator("pre").nth(1).textContent()) ?? "", /\[webpage 1 begin\]/);
  const citation = reply.locator(".markdown a.citation");
  assert.equal(await citation.count(), 1);
  assert.equal(await citation.textContent(), "1");
  assert.equal(await citation.getAttribute("href"), `${base}/article`);
  assert.equal(await citation.getAttribute("target"), "_blank");
  assert.match((await reply.locator(".markdown").textContent()) ?? "", /far-side samples 1\.\s*$/);
  const sources = reply.locator(".sources li");
  assert.equal(await sources.count(), 3);
  assert.equal(await sources.first().locator("a").textContent(), "Chang'e 6 returns | Space News");
  assert.equal(await sources.first().locator(".source-origin").textContent(), new URL(base).host);
  await sources.first().locator(".source-passage summary").click();
  assert.match((await sources.first().locator(".source-passage p").textContent()) ?? "", /Chang'e 6 probe/);
}

test("Search on: the search, the cited answer and its sources, again after a reload", async () => {
  web = await startWebStandIn();
  setup.provider = new SearxngProvider({ baseUrl: web.url });
  const watched = await openPage(app.browser, app.server.url, {
    setup: async (page) => {
      await page.addInitScript(() => localStorage.setItem("qiusuo.model", "searcher"));
    },
  });
  const { page } = watched;
  const toggle = page.getByRole("button", { name: "Search", exact: true });
  await toggle.waitFor();
  assert.equal(await toggle.getAttribute("aria-pressed"), "false");
  await toggle.click();
  assert.equal(await toggle.getAttribute("aria-pressed"), "true");
  await page.getByLabel("Message", { exact: true }).fill("What did Chang'e 6 bring back?");
  await page.keyboard.press("Enter");
  await assertSearchedReply(watched, web.url);
  assert.equal(web.searches.at(-1)?.get("q"), "Chang'e 6");
  await bothThemes(watched, "a searched reply");

  // The choice is the conversation's, kept on the server, and survives the reload with the reply.
  await page.waitForURL(/\/c\//);
  await page.reload();
  await assertSearchedReply(watched, web.url);
  assert.equal(await toggle.getAttribute("aria-pressed"), "true");
  await bothThemes(watched, "a searched reply after a reload");
  assert.deepEqual(watched.errors, []);
  assert.deepEqual(watched.cspViolations, []);
  await watched.context.close();
});

test("an ask-first call waits for Approve; approving runs it and the answer follows", async () => {
  const created = await fetch(`${app.server.url}/api/conversations`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ settings: { model: "asker", mcpServerIds: ["fake"] } }),
  });
  const { id } = (await created.json()) as { id: string };
  const watched = await openPage(app.browser, `${app.server.url}/c/${id}`);
  const { page } = watched;
  // The chat is loaded (its MCP server shows as a chip) before the message goes to it.
  await page.locator(".tool-chip", { hasText: "fake" }).waitFor();
  await page.getByLabel("Message", { exact: true }).fill("Clean up");
  await page.keyboard.press("Enter");
  const approve = page.getByRole("button", { name: "Approve" });
  await approve.waitFor({ timeout: 60_000 });
  assert.equal(await page.getByRole("button", { name: "Deny" }).count(), 1);
  assert.match(
    (await page.locator(".approval p").textContent()) ?? "",
    /delete_everything runs only with your approval/,
  );
  assert.equal(runs.length, 0);
  await bothThemes(watched, "a call waiting for approval");
  await approve.click();
  const answer = page.locator('.message.assistant[data-status="complete"]').nth(1);
  await answer.waitFor({ timeout: 60_000 });
  assert.deepEqual(runs, [{ what: "all" }]);
  assert.match(
    (await answer.locator(".tool-call summary").textContent()) ?? "",
    /delete_everything.*Approved/,
  );
  assert.match((await answer.locator(".markdown").textContent()) ?? "", /far-side samples/);
  assert.equal(await page.getByRole("button", { name: "Approve" }).count(), 0, "decided: no buttons left");
  await page.reload();
  await page.locator('.message.assistant[data-status="complete"]').nth(1).waitFor();
  assert.equal(await page.getByRole("button", { name: "Approve" }).count(), 0);
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});

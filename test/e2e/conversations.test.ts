// The chat app's conversations against the real server, two fixture models ("scripted", the
// default, and "tiny"): the sidebar's date groups, new chats titled from their first message at
// their own URL, rename and delete, per-chat system prompt and temperature, the model picker,
// usage per reply, copy, and the theme switch. Every test also checks that the page logged no
// errors and broke no CSP rule.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { AppClient, waitFor } from "../integration/harness.js";
import { appUnderTest, openPage, type WatchedPage } from "./e2e-harness.js";
import { importConversations } from "./sample-conversations.js";

let client: AppClient;
const app = appUnderTest({ models: ["scripted", "tiny"] }, ({ server }) => {
  client = new AppClient(server.url);
});

interface StoredMessage {
  id: string;
  role: "user" | "assistant";
  content: string;
  model: string | null;
  settings: { temperature?: number } | null;
  usage: { prompt_tokens: number; prompt_cache_hit_tokens?: number; completion_tokens?: number } | null;
  status: string;
}

async function stored(id: string) {
  const answer = await client.request("GET", `/api/conversations/${encodeURIComponent(id)}`);
  assert.equal(answer.status, 200, answer.text);
  return answer.json as {
    conversation: {
      title: string;
      settings: { systemPrompt?: string; temperature?: number; model?: string };
    };
    messages: StoredMessage[];
  };
}

/** The open chat's id, from its /c/<id> URL. */
function chatId(page: Page): string {
  const match = /^\/c\/([^/]+)$/.exec(new URL(page.url()).pathname);
  assert.ok(match, `a chat URL: ${page.url()}`);
  return decodeURIComponent(match[1]!);
}

/** Sends `text` from the composer and waits for the reply to it (the `nth` reply of the thread). */
async function send(page: Page, text: string, nth: number) {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.keyboard.press("Enter");
  const reply = page.locator(".message.assistant").nth(nth);
  await page.locator(`.message.assistant[data-status=complete] >> nth=${nth}`).waitFor();
  return reply;
}

function assertClean(watched: WatchedPage, expectedErrors: string[] = []) {
  assert.deepEqual(watched.errors, expectedErrors);
  assert.deepEqual(watched.cspViolations, []);
}

test("the sidebar groups chats by date: today, yesterday, 7 days, 30 days, older", async () => {
  const now = new Date();
  // Noon of a day `days` back, local time, as the app buckets by local midnight.
  const daysAgo = (days: number) =>
    new Date(now.getFullYear(), now.getMonth(), now.getDate() - days, 12).getTime();
  const placed = [
    { title: "Dated today", updatedAt: now.getTime(), group: "Today" },
    { title: "Dated yesterday", updatedAt: daysAgo(1), group: "Yesterday" },
    { title: "Dated three days ago", updatedAt: daysAgo(3), group: "Previous 7 days" },
    { title: "Dated twenty days ago", updatedAt: daysAgo(20), group: "Previous 30 days" },
    { title: "Dated ninety days ago", updatedAt: daysAgo(90), group: "Older" },
  ];
  const imported = await client.request("POST", "/api/import", {
    format: "qiusuo",
    version: 1,
    conversations: placed.map(({ title, updatedAt }, index) => ({
      id: `dated-${index}`,
      title,
      settings: {},
      currentLeafId: `dated-${index}-1`,
      createdAt: updatedAt,
      updatedAt,
      messages: [
        {
          id: `dated-${index}-1`,
          parentId: null,
          role: "user",
          content: `${title}: hello`,
          createdAt: updatedAt,
        },
      ],
    })),
  });
  assert.equal(imported.status, 200, imported.text);
  assert.equal(imported.json.imported, placed.length);

  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  await page.locator(".conversation a", { hasText: "Dated ninety days ago" }).waitFor();
  const headings = await page.locator(".conversation-groups h2").allTextContents();
  assert.deepEqual(headings, ["Today", "Yesterday", "Previous 7 days", "Previous 30 days", "Older"]);
  for (const { title, group } of placed) {
    const section = page.getByRole("region", { name: group, exact: true });
    assert.equal(
      await section.locator(".conversation a", { hasText: title }).count(),
      1,
      `${title} in ${group}`,
    );
    assert.equal(await page.locator(".conversation a", { hasText: title }).count(), 1, `${title} once`);
  }
  assertClean(watched);
  await watched.context.close();
});

test("a new chat is titled from its first message, has its own URL, and opens from it", async () => {
  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  await page.getByRole("heading", { name: "How can I help you today?" }).waitFor();
  await send(page, "Plan a picnic by the river\nwith a second line", 0);
  const id = chatId(page);

  // The server titles the chat from the first line; the sidebar and header pick it up.
  const link = page.locator(".conversation a", { hasText: "Plan a picnic by the river" });
  await link.waitFor();
  assert.equal(await link.getAttribute("href"), `/c/${id}`);
  assert.equal(await link.getAttribute("aria-current"), "page");
  await page.locator("h1.title", { hasText: "Plan a picnic by the river" }).waitFor();
  assert.equal((await stored(id)).conversation.title, "Plan a picnic by the river");

  // "New chat" leaves it for an empty screen at /; a second chat gets a URL of its own.
  await page.getByRole("button", { name: "New chat" }).click();
  await page.getByRole("heading", { name: "How can I help you today?" }).waitFor();
  assert.equal(new URL(page.url()).pathname, "/");
  assert.equal(await page.locator(".message").count(), 0);
  await send(page, "Name three rivers", 0);
  const secondId = chatId(page);
  assert.notEqual(secondId, id);
  await page.locator(".conversation a", { hasText: "Name three rivers" }).waitFor();
  assert.equal(await link.getAttribute("aria-current"), null);

  // The first chat's URL, opened in a new browser, shows that chat.
  const other = await openPage(app.browser, `${app.server.url}/c/${encodeURIComponent(id)}`);
  await other.page.locator(".message.user .bubble", { hasText: "Plan a picnic by the river" }).waitFor();
  await other.page.locator(".message.assistant[data-status=complete]").waitFor();
  assert.match((await other.page.locator(".message.assistant .markdown").textContent()) ?? "", /42/);
  assert.equal(await other.page.title(), "Plan a picnic by the river · qiusuo");
  assert.equal(
    await other.page.locator(".conversation a[aria-current=page]").textContent(),
    "Plan a picnic by the river",
  );
  // Back and forward move between the chats' URLs.
  await page.goBack();
  await page.goBack();
  await page.locator(".message.user .bubble", { hasText: "Plan a picnic by the river" }).waitFor();
  assert.equal(chatId(page), id);
  assertClean(watched);
  assertClean(other);
  await other.context.close();
  await watched.context.close();
});

test("rename and delete from the sidebar; a deleted chat's URL says it is gone", async () => {
  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  await send(page, "Draft a packing list", 0);
  const id = chatId(page);
  await page.locator(".conversation a", { hasText: "Draft a packing list" }).waitFor();

  const patches: string[] = [];
  page.on("request", (request) => {
    if (request.method() === "PATCH") patches.push(request.postData() ?? "");
  });
  await page.getByRole("button", { name: "Rename: Draft a packing list" }).click();
  const box = page.getByRole("textbox", { name: "Rename", exact: true });
  assert.equal(await box.inputValue(), "Draft a packing list");
  await box.fill("Packing for the mountains");
  await box.press("Enter");
  await page.locator(".conversation a", { hasText: "Packing for the mountains" }).waitFor();
  await page.locator("h1.title", { hasText: "Packing for the mountains" }).waitFor();
  await waitFor(
    async () => (await stored(id)).conversation.title === "Packing for the mountains",
    "the server has the new title",
  );
  // Escape leaves the title as it was.
  await page.getByRole("button", { name: "Rename: Packing for the mountains" }).click();
  await box.fill("Not this one");
  await box.press("Escape");
  await page.locator(".conversation a", { hasText: "Packing for the mountains" }).waitFor();
  assert.equal((await stored(id)).conversation.title, "Packing for the mountains");
  // One rename, one request: the input's blur as Enter or Escape removes it saves nothing more.
  assert.deepEqual(patches, [JSON.stringify({ title: "Packing for the mountains" })]);

  // Delete asks first; then the chat is gone here and on the server, and the app goes to /.
  await page.getByRole("button", { name: "Delete: Packing for the mountains" }).click();
  await page
    .locator(".conversation a", { hasText: "Packing for the mountains" })
    .waitFor({ state: "detached" });
  assert.deepEqual(watched.dialogs, ["confirm: Delete this chat? This cannot be undone."]);
  assert.equal(new URL(page.url()).pathname, "/");
  await page.getByRole("heading", { name: "How can I help you today?" }).waitFor();
  const gone = await client.request("GET", `/api/conversations/${encodeURIComponent(id)}`);
  assert.equal(gone.status, 404);

  // Its old URL shows a clear message and a working, empty chat screen.
  await page.goto(`${app.server.url}/c/${encodeURIComponent(id)}`);
  await page.getByRole("alert").filter({ hasText: "This chat does not exist or was deleted." }).waitFor();
  await page.getByRole("heading", { name: "How can I help you today?" }).waitFor();
  assert.equal(await page.locator(".message").count(), 0);
  assert.equal(await page.locator(".conversation a[aria-current=page]").count(), 0);
  await send(page, "Start over", 0);
  assert.notEqual(chatId(page), id);
  // The only failed request is the page asking for the deleted chat.
  assertClean(watched, [`404 GET ${app.server.url}/api/conversations/${id}`]);
  await watched.context.close();
});

test("chat settings: system prompt and temperature are saved and used for the next reply", async () => {
  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  await send(page, "Write a haiku about tea", 0);
  const id = chatId(page);

  await page.getByRole("button", { name: "Chat settings" }).click();
  const dialog = page.getByRole("dialog", { name: "Chat settings" });
  await dialog.waitFor();
  await dialog.getByLabel("System prompt").fill("Answer like a pirate.");
  await dialog.getByLabel("Temperature").fill("0.3");
  await dialog.getByRole("button", { name: "Save" }).click();
  await dialog.waitFor({ state: "hidden" });
  await waitFor(async () => (await stored(id)).conversation.settings.temperature === 0.3, "settings saved");
  const { settings } = (await stored(id)).conversation;
  assert.equal(settings.systemPrompt, "Answer like a pirate.");

  await send(page, "Another one, about coffee", 1);
  const replies = (await stored(id)).messages.filter((message) => message.role === "assistant");
  assert.equal(replies.length, 2);
  assert.notEqual(replies[0]!.settings?.temperature, 0.3, "the first reply used the default");
  assert.equal(replies[1]!.settings?.temperature, 0.3);

  // After a reload the dialog shows the saved values; Cancel changes nothing.
  await page.reload();
  await page.locator(".message.assistant[data-status=complete] >> nth=1").waitFor();
  await page.getByRole("button", { name: "Chat settings" }).click();
  await dialog.waitFor();
  assert.equal(await dialog.getByLabel("System prompt").inputValue(), "Answer like a pirate.");
  assert.equal(await dialog.getByLabel("Temperature").inputValue(), "0.3");
  await dialog.getByLabel("Temperature").fill("1.5");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await dialog.waitFor({ state: "hidden" });
  assert.equal((await stored(id)).conversation.settings.temperature, 0.3);
  assertClean(watched);
  await watched.context.close();
});

test("the model picker sends the chat to the model picked", async () => {
  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  const picker = page.getByLabel("Model", { exact: true });
  const options = () =>
    picker.locator("option").evaluateAll((list) => list.map((option) => (option as HTMLOptionElement).value));
  await waitFor(async () => (await options()).length === 3, "the models are listed");
  assert.deepEqual(await options(), ["", "scripted", "tiny"]);
  await picker.selectOption("tiny");
  const reply = await send(page, "Say anything", 0);
  const id = chatId(page);
  const [answer] = (await stored(id)).messages.filter((message) => message.role === "assistant");
  assert.equal(answer!.model, "tiny");
  assert.equal(answer!.status, "complete");
  assert.equal((await stored(id)).conversation.settings.model, "tiny");
  // The random-weight model writes noise (which once held TeX KaTeX could not parse: see the
  // test below); the reply is shown, under the model's name, with whatever it wrote.
  assert.equal(await reply.locator(".meta", { hasText: /^tiny$/ }).count(), 1);
  if (answer!.content.trim())
    assert.ok(((await reply.locator(".markdown").textContent()) ?? "").trim().length > 0);

  // The chat keeps its model after a reload. A new chat starts on the model last picked; picking
  // another sends there. (Not in the same chat: the tiny model's noise can fill the 512-token
  // context, leaving no room for a second prompt.)
  await page.reload();
  await page.locator(".message.assistant[data-status=complete]").waitFor();
  assert.equal(await picker.inputValue(), "tiny");
  await page.getByRole("button", { name: "New chat" }).click();
  assert.equal(await picker.inputValue(), "tiny");
  await picker.selectOption("scripted");
  await send(page, "Now the other model", 0);
  const [other] = (await stored(chatId(page))).messages.filter((message) => message.role === "assistant");
  assert.equal(other!.model, "scripted");
  assert.equal((await stored(id)).conversation.settings.model, "tiny");
  assertClean(watched);
  await watched.context.close();
});

test("TeX that KaTeX cannot parse shows as its source, without breaking the CSP", async () => {
  const now = Date.now();
  const ids = await importConversations(client, [
    {
      title: "Broken TeX",
      createdAt: now,
      updatedAt: now,
      currentLeafId: "tex-2",
      messages: [
        { id: "tex-1", parentId: null, role: "user", content: "Some math?", createdAt: now },
        {
          id: "tex-2",
          parentId: "tex-1",
          role: "assistant",
          content: "Fine: $x^2$. Broken: $\\left( x$ and\n\n$$\\frac{1}{$$",
          createdAt: now,
        },
      ],
    },
  ]);
  const watched = await openPage(
    app.browser,
    `${app.server.url}/c/${encodeURIComponent(ids.get("Broken TeX")!)}`,
  );
  const { page } = watched;
  const reply = page.locator(".message.assistant");
  await reply.locator(".math-inline .katex").waitFor();
  await reply.locator(".math-block.math-error").waitFor();
  const broken = reply.locator(".math-inline.math-error");
  assert.equal(await broken.textContent(), "\\left( x");
  assert.match((await broken.getAttribute("title")) ?? "", /KaTeX parse error/);
  assert.equal(await reply.locator(".katex-error, [style]:not(.katex *)").count(), 0);
  assertClean(watched);
  await watched.context.close();
});

test("each reply shows its own token usage and cache hits", async () => {
  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  await send(page, "Tell me about the moon", 0);
  await send(page, "And about the sun", 1);
  const id = chatId(page);
  const replies = (await stored(id)).messages.filter((message) => message.role === "assistant");
  assert.equal(replies.length, 2);
  for (const [index, message] of replies.entries()) {
    const usage = message.usage!;
    assert.ok(usage.prompt_tokens > 0);
    const shown = await page
      .locator(`.message.assistant[data-message-id="${message.id}"] .usage`)
      .textContent();
    assert.equal(
      shown,
      `${usage.prompt_tokens} prompt tokens (${usage.prompt_cache_hit_tokens ?? 0} from cache) · ${usage.completion_tokens ?? 0} completion tokens`,
      `reply ${index + 1}`,
    );
  }
  // The second prompt holds the first exchange, so it is longer.
  assert.ok(replies[1]!.usage!.prompt_tokens > replies[0]!.usage!.prompt_tokens);
  assertClean(watched);
  await watched.context.close();
});

test("copy puts a message's text on the clipboard", async () => {
  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  const reply = await send(page, "What is the answer?", 0);
  const [answer] = (await stored(chatId(page))).messages.filter((message) => message.role === "assistant");

  await reply.getByRole("button", { name: "Copy", exact: true }).click();
  await reply.getByRole("button", { name: "Copied", exact: true }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), answer!.content);
  // The label goes back after a moment.
  await reply.getByRole("button", { name: "Copy", exact: true }).waitFor();

  const question = page.locator(".message.user");
  await question.getByRole("button", { name: "Copy", exact: true }).click();
  await question.getByRole("button", { name: "Copied", exact: true }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "What is the answer?");
  assertClean(watched);
  await watched.context.close();
});

test("the theme switch goes dark and light, and the choice survives a reload", async () => {
  const watched = await openPage(app.browser, app.server.url, { colorScheme: "light" });
  const { page } = watched;
  const toggle = page.getByRole("button", { name: "Switch light / dark" });
  const theme = () => page.evaluate(() => document.documentElement.dataset.theme ?? null);
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await toggle.waitFor();
  assert.equal(await theme(), null, "the system's theme until one is picked");
  const light = await background();

  await toggle.click();
  assert.equal(await theme(), "dark");
  const dark = await background();
  assert.notEqual(dark, light);
  await page.reload();
  await toggle.waitFor();
  assert.equal(await theme(), "dark");
  assert.equal(await background(), dark);
  // The button shows the theme it switches to: a sun in dark mode.
  assert.equal(await toggle.locator("svg.icon-sun").count(), 1);

  await toggle.click();
  assert.equal(await theme(), "light");
  await page.reload();
  await toggle.waitFor();
  assert.equal(await theme(), "light");
  assert.equal(await background(), light);
  assert.equal(await toggle.locator("svg.icon-moon").count(), 1);
  assertClean(watched);
  await watched.context.close();
});

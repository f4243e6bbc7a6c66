// Projects and custom instructions in Chromium against the real server and scripted model: set
// custom instructions, create a project with instructions and a file, start a chat in it and
// see it under the project, filter search by the project, move another chat in and pin it from
// the keyboard, and see the custom instructions in the chat settings. What the replies were
// given is checked on the server; axe finds nothing, light and dark, and a phone-sized screen
// shows the project page without sideways scrolling.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { AppClient } from "../integration/harness.js";
import { appUnderTest, assertAccessible, openPage, type WatchedPage } from "./e2e-harness.js";

let client: AppClient;
const app = appUnderTest({}, ({ server }) => {
  client = new AppClient(server.url);
});

/** Sends `text` from the composer and waits for the reply (the `nth` of the thread). */
async function send(page: Page, text: string, nth = 0) {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.keyboard.press("Enter");
  await page.locator(`.message.assistant[data-status=complete] >> nth=${nth}`).waitFor();
  await page.waitForURL(/\/c\/[^/]+$/);
}

function chatId(page: Page): string {
  return decodeURIComponent(new URL(page.url()).pathname.slice("/c/".length));
}

async function conversation(id: string) {
  const answer = await client.request("GET", `/api/conversations/${encodeURIComponent(id)}`);
  assert.equal(answer.status, 200, answer.text);
  return answer.json as {
    conversation: { projectId: string | null; pinnedAt: number | null };
    messages: Array<{ role: string; provenance?: { context?: Record<string, unknown> } }>;
  };
}

async function bothThemes(watched: WatchedPage, screen: string) {
  for (const scheme of ["light", "dark"] as const) {
    await watched.page.emulateMedia({ colorScheme: scheme });
    await assertAccessible(watched.page, `${screen} (${scheme})`);
  }
  await watched.page.emulateMedia({ colorScheme: "light" });
}

function assertClean(watched: WatchedPage) {
  assert.deepEqual(watched.errors, []);
  assert.deepEqual(watched.cspViolations, []);
}

test("projects, pins, search by project and custom instructions, from the sidebar to the reply", async () => {
  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  await page.getByRole("heading", { name: "How can I help you today?" }).waitFor();

  // Custom instructions, from the sidebar.
  await page.getByRole("button", { name: "Custom instructions" }).click();
  const instructions = page.getByRole("dialog", { name: "Custom instructions" });
  await instructions.getByLabel("What should qiusuo know about you?").fill("I grow roses.");
  await instructions.getByLabel("How should qiusuo answer?").fill("Briefly.");
  assert.equal(await instructions.getByLabel("Use in new replies").isChecked(), true);
  await bothThemes(watched, "custom instructions dialog");
  await instructions.getByRole("button", { name: "Save" }).click();
  await instructions.waitFor({ state: "hidden" });
  assert.deepEqual((await client.request("GET", "/api/instructions")).json, {
    aboutUser: "I grow roses.",
    responseStyle: "Briefly.",
    enabled: true,
  });

  // A project with instructions and a file.
  await page.getByRole("button", { name: "New project" }).click();
  await page.getByRole("textbox", { name: "Project name" }).fill("Garden");
  await page.keyboard.press("Enter");
  await page.waitForURL(/\/p\/[^/]+$/);
  const projectId = decodeURIComponent(new URL(page.url()).pathname.slice("/p/".length));
  await page.locator("h1.title", { hasText: "Garden" }).waitFor();
  await page.getByLabel("Project instructions").fill("Plants are outdoors.");
  await page.locator(".project-form").nth(1).getByRole("button", { name: "Save" }).click();
  await page.getByRole("status").filter({ hasText: "Instructions saved." }).waitFor();
  await page.locator(".file-picker input[type=file]").setInputFiles({
    name: "soil.md",
    mimeType: "text/markdown",
    buffer: Buffer.from("clay soil"),
  });
  await page.locator(".project-files li", { hasText: "soil.md" }).waitFor();
  await bothThemes(watched, "project page");

  // A chat started in the project is listed under it, and its reply was given the context.
  await page.getByRole("button", { name: "New chat in this project" }).click();
  await page.locator("h1.title", { hasText: "New chat in Garden" }).waitFor();
  await send(page, "Roses by the river");
  const inProject = chatId(page);
  const stored = await conversation(inProject);
  assert.equal(stored.conversation.projectId, projectId);
  const reply = stored.messages.find((message) => message.role === "assistant")!;
  assert.deepEqual(reply.provenance?.context, {
    customInstructions: "About the user:\nI grow roses.\n\nHow to respond:\nBriefly.",
    projectId,
    projectInstructions: "Plants are outdoors.",
    projectFiles: [{ name: "soil.md", sha256: createHash("sha256").update("clay soil").digest("hex") }],
  });
  const folder = page.getByRole("button", { name: "Chats in this project: Garden" });
  await folder.click();
  assert.equal(await folder.getAttribute("aria-expanded"), "true");
  const underProject = page.getByRole("list", { name: "Garden" });
  await underProject.locator(".conversation a", { hasText: "Roses by the river" }).waitFor();

  // A chat outside it, then search: all chats, then the project's only.
  await page.locator(".new-chat").click();
  await page.locator("h1.title", { hasText: "New chat" }).waitFor();
  await send(page, "Boats on the river");
  const loose = chatId(page);
  assert.equal((await conversation(loose)).conversation.projectId, null);
  await page.getByRole("searchbox", { name: "Search chats" }).fill("river");
  // Hits are titles and messages: the chats they lead to are what counts.
  const hitChats = () =>
    page.evaluate(() =>
      [
        ...new Set(
          [...document.querySelectorAll(".search-results li a strong")].map((hit) => hit.textContent),
        ),
      ]
        .sort()
        .join(" | "),
    );
  const waitForHits = (expected: string) =>
    page.waitForFunction(
      (expected) =>
        [
          ...new Set(
            [...document.querySelectorAll(".search-results li a strong")].map((hit) => hit.textContent),
          ),
        ]
          .sort()
          .join(" | ") === expected,
      expected,
    );
  await waitForHits("Boats on the river | Roses by the river");
  await page.getByLabel("Search in").selectOption({ label: "Garden" });
  await waitForHits("Roses by the river");
  assert.equal(await hitChats(), "Roses by the river");
  await bothThemes(watched, "search filtered by project");
  await page.getByRole("searchbox", { name: "Search chats" }).fill("");

  // Move the other chat in and pin it, from the keyboard.
  const looseItem = page.locator(".conversation", { hasText: "Boats on the river" });
  const menuButton = looseItem.getByRole("button", { name: "Pin or move: Boats on the river" });
  await menuButton.focus();
  await page.keyboard.press("Enter");
  const moveTo = page.getByRole("button", { name: "Move to Garden" });
  await moveTo.waitFor();
  assert.equal(await menuButton.getAttribute("aria-expanded"), "true");
  await bothThemes(watched, "chat menu");
  await page.keyboard.press("Escape");
  await moveTo.waitFor({ state: "hidden" });
  assert.equal(
    await page.evaluate(() => document.activeElement?.getAttribute("aria-label")),
    "Pin or move: Boats on the river",
  );
  await page.keyboard.press("Enter");
  // The menu opens with its first action focused: Pin, then Move to Garden.
  await page.waitForFunction(() => document.activeElement?.textContent?.trim() === "Pin");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), "Move to Garden");
  await page.keyboard.press("Enter");
  await underProject.locator(".conversation a", { hasText: "Boats on the river" }).waitFor();
  assert.equal((await conversation(loose)).conversation.projectId, projectId);
  await underProject.getByRole("button", { name: "Pin or move: Boats on the river" }).click();
  await page.getByRole("button", { name: "Pin", exact: true }).click();
  const pinned = page.getByRole("region", { name: "Pinned" });
  await pinned.locator(".conversation a", { hasText: "Boats on the river" }).waitFor();
  assert.equal(typeof (await conversation(loose)).conversation.pinnedAt, "number");
  const sections = await page.locator(".sidebar-scroll h2").allTextContents();
  assert.equal(sections[0], "Pinned", JSON.stringify(sections));

  // The chat settings show the custom instructions that apply, read-only, with a way to edit them.
  await underProject.locator(".conversation a", { hasText: "Roses by the river" }).click();
  await page.locator("h1.title", { hasText: "Roses by the river" }).waitFor();
  await page.getByRole("button", { name: "Chat settings" }).click();
  const settings = page.getByRole("dialog", { name: "Chat settings" });
  const applied = settings.getByRole("region", { name: "Custom instructions" });
  await applied.getByText("I grow roses.").waitFor();
  await applied.getByText("Briefly.").waitFor();
  await applied.getByRole("link", { name: "Garden" }).waitFor();
  await bothThemes(watched, "chat settings with custom instructions");
  await applied.getByRole("button", { name: "Edit custom instructions" }).click();
  await page.getByRole("dialog", { name: "Custom instructions" }).waitFor();
  await page.keyboard.press("Escape");
  assertClean(watched);
  await watched.context.close();
});

test("the project page fits a phone-sized screen and is axe clean there", async () => {
  const project = await client.request("POST", "/api/projects", {
    name: "A project with a rather long name for a small screen",
    instructions: "Short.",
  });
  assert.equal(project.status, 201, project.text);
  const watched = await openPage(app.browser, `${app.server.url}/p/${project.json.id}`, {
    viewport: { width: 375, height: 740 },
  });
  const { page } = watched;
  await page.getByRole("button", { name: "New chat in this project" }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `scrolls sideways by ${overflow}px`);
  await bothThemes(watched, "project page on a phone");
  // More files than a project holds: refused in the page, in the user's language, before a request.
  await page.locator(".file-picker input[type=file]").setInputFiles(
    Array.from({ length: 21 }, (_, index) => ({
      name: `${index}.txt`,
      mimeType: "text/plain",
      buffer: Buffer.from("x"),
    })),
  );
  await page.getByRole("alert").filter({ hasText: "A project holds at most 20 files." }).waitFor();
  assert.equal((await client.request("GET", `/api/projects/${project.json.id}`)).json.files.length, 0);
  assertClean(watched);
  await watched.context.close();
});
